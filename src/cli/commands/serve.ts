/**
 * `diskpick serve IMAGE…`: the images read-only over HTTP, as WebDAV (Windows Explorer's "Map
 * network drive", macOS Finder's "Connect to Server", rclone, davfs2) and as a web page, from
 * one process, until Ctrl-C or SIGTERM.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { DiskpickError, ExitCode, fromSystemError, warningLine } from '../../errors.js';
import { Vfs } from '../../vfs/vfs.js';
import { DiskpickServer, isLoopback } from '../../serve/server.js';
import { ServedTree } from '../../serve/tree.js';
import { runCommand, vfsOptions, warnLine, writeStdout, type GlobalOptions } from '../run.js';
import { escapeText } from '../../escape.js';

interface ServeCliOptions {
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  tokenFile?: string;
  log?: string;
  json?: boolean;
}

export const DEFAULT_LISTEN = '127.0.0.1:8022';

/** "HOST:PORT", "[v6]:PORT", ":PORT" or "PORT". */
export function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(v) ?? /^()()(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError('--listen takes HOST:PORT, e.g. 127.0.0.1:8022 or 0.0.0.0:8022');
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

function readSecretFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw fromSystemError(err, path, 'usage');
  }
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve images read-only over HTTP: WebDAV for Explorer/Finder/rclone and a web page for browsers')
    .argument('<images...>', 'disk images; each is a top-level folder named after its file')
    .option('--listen <host:port>', 'address to listen on; anything but loopback needs the token', DEFAULT_LISTEN)
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (with --tls-key)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option('--token-file <file>', 'the token clients must give (default beyond loopback: a new random one, printed)')
    .option('--log <file>', 'one line per request to this file (- for stderr)')
    .option('--json', 'print the start line as JSON (url, token, images)')
    .addHelpText('after', `
Clients give the token as the password (any user name), as "Authorization: Bearer TOKEN", or by
opening the printed URL once in a browser. Examples:
  diskpick serve nightly/fileserver.vmdk nightly/db01.qcow2
  diskpick serve fileserver.vmdk --listen 0.0.0.0:8022 --tls-cert c.pem --tls-key k.pem
  rclone copy :webdav:fileserver.vmdk/p2/Users/anna ./anna --webdav-url http://127.0.0.1:8022/`)
    .action((images: string[], opts: ServeCliOptions, cmd: Command) =>
      runCommand(async () => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const { host, port } = parseListen(opts.listen);
        if (!!opts.tlsCert !== !!opts.tlsKey) throw new DiskpickError('usage', '--tls-cert and --tls-key go together');
        const tls = opts.tlsCert && opts.tlsKey ? { cert: readSecretFile(opts.tlsCert), key: readSecretFile(opts.tlsKey) } : undefined;
        let token = opts.tokenFile ? readSecretFile(opts.tokenFile).toString('utf8').trim() : undefined;
        if (opts.tokenFile && !token) throw new DiskpickError('usage', 'the token file is empty', opts.tokenFile);
        const local = isLoopback(host);
        if (!local && !token) token = randomBytes(16).toString('hex');
        const log = opts.log === '-' ? (l: string) => process.stderr.write(`${l}\n`) : opts.log ? (l: string) => appendFileSync(opts.log!, `${l}\n`) : undefined;

        const opened: { path: string; vfs: Vfs }[] = [];
        try {
          for (const path of images) {
            const vfs = await Vfs.open(path, vfsOptions(g));
            opened.push({ path, vfs });
            for (const w of vfs.container.warnings) process.stderr.write(warningLine(w));
            vfs.onWarning = (w) => log?.(`warning: ${escapeText(path)}: ${escapeText(w)}`);
          }
        } catch (err) {
          for (const o of opened) await o.vfs.close().catch(() => undefined);
          throw err;
        }
        const tree = new ServedTree(opened);
        const server = new DiskpickServer(tree, { host, port, token, tls, log });
        let addr;
        try {
          addr = await server.listen();
        } catch (err) {
          await tree.close();
          const e = err as NodeJS.ErrnoException;
          throw new DiskpickError('usage', `cannot listen on ${opts.listen}: ${e.code === 'EADDRINUSE' ? 'the address is in use' : e.code === 'EACCES' ? 'permission denied' : e.message}`);
        }
        const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
        const url = `${tls ? 'https' : 'http'}://${shownHost}:${addr.port}/`;
        if (opts.json) {
          void writeStdout(`${JSON.stringify({ url, token: token ?? null, images: tree.images.map((i) => ({ name: i.name, path: i.path })) })}\n`);
        } else {
          const what = `${tree.images.length} image${tree.images.length === 1 ? '' : 's'}`;
          void writeStdout(token
            ? `serving ${what} read-only at ${url}  token: ${token}  (give it to whoever may restore; browser: ${url}?token=${token})\n`
            : `serving ${what} read-only at ${url}  (WebDAV and web page; Ctrl-C stops)\n`);
        }
        if (!local && !tls) process.stderr.write('diskpick: warning: serving beyond this machine without TLS: the token and every file cross the network in clear text (use --tls-cert/--tls-key)\n');
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          process.once('SIGHUP', stop);
        });
        await server.close();
        await tree.close();
        return ExitCode.ok;
      }),
    );
}

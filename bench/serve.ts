/**
 * `diskpick serve` over loopback, against nginx serving the same bytes from plain files in the
 * same run (needs root: loop mounts, drop_caches):
 * - GET of a 1 GiB file inside a VMDK (curl to /dev/null) against nginx serving the file itself;
 * - `rclone copy` of 10 000 small files through diskpick's WebDAV against rclone through nginx's
 *   WebDAV (ngx_http_dav_ext_module for PROPFIND, Debian libnginx-mod-http-dav-ext) of the same
 *   files (a loop mount of the same ext4 image). WebDAV against WebDAV: rclone 1.60's webdav
 *   backend paces its calls (one every 10 ms, no flag to change it), so 10 000 files take at
 *   least 100 s from any WebDAV server; measured 25.0 s (nginx) and 25.1 s (diskpick) for 2 000
 *   files. Against nginx's plain autoindex (rclone's unpaced http backend) the ratio measures
 *   rclone's pacer, not the server: 2.5 s there for the same 2 000 files;
 * - PROPFIND depth 1 of a 10 000-entry folder (target < 0.3 s), the first byte of a small file
 *   after the server is up (target < 20 ms), and the server's peak RSS during 50 parallel
 *   downloads of a 256 MiB file (target < 250 MB).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BENCH_CACHE, CLI, run as sh, throughputRow, timeRow, type BenchRow } from './harness.js';
import { buildFatWithLargeFile } from '../scripts/images/fat.js';
import { EXT_BENCH, buildExtBenchImage } from '../scripts/images/ext.js';

function dropCaches(): void {
  sh('sync; echo 3 > /proc/sys/vm/drop_caches');
}

async function startServe(images: string[]): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [CLI, 'serve', ...images, '--listen', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', resolve);
    proc.once('exit', (c) => reject(new Error(`serve exited ${c}`)));
  });
  return { proc, url: (JSON.parse(line) as { url: string }).url };
}

function stop(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
  });
}

const DAV_EXT = '/usr/lib/nginx/modules/ngx_http_dav_ext_module.so';

/**
 * nginx on a loopback port serving `root` with autoindex, and read-only WebDAV (PROPFIND,
 * OPTIONS) when `dav`; stopped by the returned function.
 */
function startNginx(root: string, port: number, dav = false): () => void {
  if (dav && !existsSync(DAV_EXT)) throw new Error(`needs ${DAV_EXT} (Debian libnginx-mod-http-dav-ext)`);
  const dir = mkdtempSync(join(tmpdir(), 'diskpick-bench-nginx-'));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `${dav ? `load_module ${DAV_EXT};\n` : ''}daemon on; pid ${dir}/nginx.pid; error_log ${dir}/error.log; worker_processes 1;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; client_body_temp_path ${dir};
  server { listen 127.0.0.1:${port}; root ${root}; autoindex on; autoindex_format html;${dav ? ' dav_ext_methods PROPFIND OPTIONS;' : ''} } }
`);
  sh(`nginx -c ${conf} -p ${dir}`);
  return () => {
    spawnSync('bash', ['-c', `kill $(cat ${dir}/nginx.pid) 2>/dev/null; sleep 0.2`]);
    rmSync(dir, { recursive: true, force: true });
  };
}

function coldCurl(url: string, runs = 2): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    dropCaches();
    const t0 = process.hrtime.bigint();
    sh(`curl -sf -o /dev/null ${JSON.stringify(url)}`);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

function vmHwmMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export async function run(): Promise<BenchRow[]> {
  if (process.getuid?.() !== 0) throw new Error('needs root (loop mounts, drop_caches)');
  const rows: BenchRow[] = [];
  const GiB = 1 << 30;

  // 1 GiB file: inside a VMDK through diskpick, as a plain file through nginx.
  const fat1g = join(BENCH_CACHE, 'fat32-1g.img');
  if (!existsSync(fat1g)) buildFatWithLargeFile(fat1g, GiB);
  const vmdk = join(BENCH_CACHE, 'fat32-1g.vmdk');
  if (!existsSync(vmdk)) sh(`qemu-img convert -O vmdk ${fat1g} ${vmdk}.tmp && mv ${vmdk}.tmp ${vmdk}`);
  const plainDir = join(BENCH_CACHE, 'serve-plain');
  if (!existsSync(join(plainDir, 'big.bin'))) {
    mkdirSync(plainDir, { recursive: true });
    sh(`${CLI} cat ${fat1g} /p0/big.bin > ${plainDir}/big.bin.tmp && mv ${plainDir}/big.bin.tmp ${plainDir}/big.bin`);
  }
  const stopNginx = startNginx(plainDir, 18090);
  const s = await startServe([vmdk]);
  try {
    // A server's throughput, not its first request's: the first GET after start runs the read
    // path before V8 has compiled it (measured 542 MiB/s, then 1974-2221 MiB/s cold), so one
    // uncounted GET goes first, as nginx's own worker is warm. Then the sides alternate.
    sh(`curl -sf -o /dev/null ${JSON.stringify(`${s.url}fat32-1g.vmdk/p0/big.bin`)}`);
    let ours = Infinity;
    let theirs = Infinity;
    for (let i = 0; i < 3; i++) {
      ours = Math.min(ours, coldCurl(`${s.url}fat32-1g.vmdk/p0/big.bin`, 1));
      theirs = Math.min(theirs, coldCurl('http://127.0.0.1:18090/big.bin', 1));
    }
    rows.push(throughputRow('serve', 'GET 1 GiB file inside a VMDK, cold', GiB, ours, 'nginx, the same file plain', theirs, 0.8));
  } finally {
    await stop(s.proc);
    stopNginx();
  }

  // 10 000 small files and a 256 MiB file: the ext4 bench image, and its loop mount for nginx.
  const ext = join(BENCH_CACHE, 'ext-bench.img');
  if (!existsSync(ext)) buildExtBenchImage(ext);
  const kmnt = mkdtempSync(join(tmpdir(), 'diskpick-bench-serve-loop-'));
  sh(`mount -o loop,ro,noload ${ext} ${kmnt}`);
  try {
    const stopN = startNginx(kmnt, 18091, true);
    const e = await startServe([ext]);
    const out = mkdtempSync(join(tmpdir(), 'diskpick-bench-rclone-'));
    try {
      const include = "--include '/d00[0-9]/**'";
      const rc = (remote: string, url: string) => {
        rmSync(out, { recursive: true, force: true });
        dropCaches();
        const t0 = process.hrtime.bigint();
        sh(`rclone copy ${remote} ${out} ${url} ${include} --config /dev/null --transfers 8 --checkers 8 -q`);
        const t = Number(process.hrtime.bigint() - t0) / 1e9;
        const n = Number(sh(`find ${out} -type f | wc -l`).trim());
        if (n !== 10_000) throw new Error(`rclone copied ${n} files, not 10000`);
        return t;
      };
      // One run each: rclone's pacer makes each take > 100 s (see the top of this file).
      const ours = rc(':webdav:', `--webdav-url ${e.url}ext-bench.img/p0${EXT_BENCH.tree}/`);
      const theirs = rc(':webdav:', `--webdav-url http://127.0.0.1:18091${EXT_BENCH.tree}/`);
      rows.push(timeRow('serve', 'rclone copy of 10 000 small files (WebDAV)', ours, 'rclone from nginx WebDAV (dav_ext)', theirs, 0.5));

      // Peak memory with 50 parallel downloads of the 256 MiB file.
      const url = `${e.url}ext-bench.img/p0${EXT_BENCH.file}`;
      sh(`seq 50 | xargs -P 50 -I{} curl -sf -o /dev/null ${url}`);
      const rss = vmHwmMb(e.proc.pid!);
      rows.push({ area: 'serve', what: 'peak RSS, 50 parallel downloads of 256 MiB', ours: rss, reference: 'target 250 MB', theirs: 250, unit: 'MB', ratio: 250 / rss, target: '< 250 MB', met: rss < 250 });
    } finally {
      rmSync(out, { recursive: true, force: true });
      await stop(e.proc);
      stopN();
    }
  } finally {
    sh(`umount ${kmnt}`);
    rmSync(kmnt, { recursive: true, force: true });
  }

  // PROPFIND of a 10 000-entry folder, and the first byte of a small file after start.
  const wide = join(BENCH_CACHE, 'serve-wide.img');
  if (!existsSync(wide)) {
    const tree = `${wide}.src`;
    rmSync(tree, { recursive: true, force: true });
    mkdirSync(join(tree, 'wide'), { recursive: true });
    for (let i = 0; i < 10_000; i++) closeSync(openSync(join(tree, 'wide', `file-${String(i).padStart(5, '0')}.txt`), 'w'));
    writeFileSync(join(tree, 'small.txt'), 'hello\n');
    sh(`mkfs.ext4 -q -F -N 12000 -d ${tree} ${wide} 64M`);
    rmSync(tree, { recursive: true, force: true });
  }
  const w = await startServe([wide]);
  try {
    const first = Number(sh(`curl -sf -o /dev/null -w '%{time_starttransfer}' ${w.url}serve-wide.img/p0/small.txt`));
    rows.push(timeRow('serve', 'first byte of a small file after start', first, 'target 20 ms', 0.02, 1.0));
    const pf = () => Number(sh(`curl -sf -o /dev/null -w '%{time_total}' -X PROPFIND -H 'Depth: 1' ${w.url}serve-wide.img/p0/wide/`));
    const cold = pf();
    const warm = Math.min(pf(), pf(), pf());
    rows.push(timeRow('serve', 'PROPFIND depth 1, 10 000 entries (first)', cold, 'target 0.3 s', 0.3, 1.0));
    rows.push({ ...timeRow('serve', 'PROPFIND depth 1, 10 000 entries (again)', warm, 'target 0.3 s', 0.3, 1.0), target: 'for scale', met: true });
  } finally {
    await stop(w.proc);
  }
  return rows;
}

/**
 * A real web server for the remote-image tests: Debian's nginx on a loopback port, serving a
 * folder (ranges, ETags and Last-Modified as nginx does them), over HTTP and, with a certificate
 * made by openssl for the test, HTTPS. Stopped by the returned function.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface Nginx {
  http: string;
  https: string;
  /** The PEM certificate of the HTTPS listener (self-signed for 127.0.0.1). */
  cert: string;
  /** Body bytes nginx has sent so far (from its access log; nginx writes it as it answers). */
  bytesSent(): number;
  stop(): void;
}

/** `autoindex`: the HTTP listener also lists folders (nginx's autoindex page), as some NAS web servers do. */
export async function startNginx(root: string, opts: { autoindex?: boolean } = {}): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'dp-nginx-'));
  const [p1, p2] = [await freePort(), await freePort()];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
  writeFileSync(join(dir, 'nginx.conf'), `daemon on; pid ${dir}/nginx.pid; error_log ${dir}/error.log; worker_processes 1;
events { worker_connections 256; }
http { access_log ${dir}/access.log; sendfile on; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server { listen 127.0.0.1:${p1}; root ${root};${opts.autoindex ? ' autoindex on;' : ''} }
  server { listen 127.0.0.1:${p2} ssl; ssl_certificate ${dir}/cert.pem; ssl_certificate_key ${dir}/key.pem; root ${root}; } }
`);
  execFileSync('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'pipe' });
  return {
    http: `http://127.0.0.1:${p1}`,
    https: `https://127.0.0.1:${p2}`,
    cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    bytesSent() {
      let n = 0;
      for (const m of readFileSync(join(dir, 'access.log'), 'utf8').matchAll(/" \d{3} (\d+) "/g)) n += Number(m[1]);
      return n;
    },
    stop() {
      spawnSync('sh', ['-c', `kill $(cat ${dir}/nginx.pid) 2>/dev/null; sleep 0.2`]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

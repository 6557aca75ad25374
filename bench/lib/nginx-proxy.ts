// Debian's nginx as a reverse proxy in front of the same origin: what a tuned C gateway gives on
// this machine (one worker process, keep-alive to the upstream, no buffering, no log), as a
// reference for the proxy benchmark. Its config, pid and logs live in a temp dir.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, request } from '../../test/helpers/apache.js';
import { tiedToParent, waitForExit } from '../../test/helpers/davtap-process.js';

export const NGINX_BIN = '/usr/sbin/nginx';

export function nginxInstalled(): boolean {
  return existsSync(NGINX_BIN);
}

export interface NginxProxy {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startNginxProxy(upstream: string): Promise<NginxProxy> {
  const dir = await mkdtemp(path.join(tmpdir(), 'davtap-nginx-ref-'));
  const port = await freePort();
  const up = new URL(upstream);
  const conf = `
worker_processes 1;
daemon off;
master_process off;
error_log ${dir}/error.log;
pid ${dir}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream origin { server ${up.hostname}:${up.port}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`;
  await writeFile(path.join(dir, 'nginx.conf'), conf);
  const child = spawn(...tiedToParent(NGINX_BIN, ['-c', path.join(dir, 'nginx.conf'), '-p', dir, '-e', path.join(dir, 'error.log')]), { stdio: 'ignore' });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 5_000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 5_000);
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    const ok = await request(`${url}/`, 'OPTIONS').then(() => true, () => false);
    if (ok) return { url, pid: child.pid!, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error('nginx reference proxy did not start');
}

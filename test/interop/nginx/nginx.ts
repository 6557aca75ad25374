// Debian's nginx as a reverse proxy on 127.0.0.1, one server block (own port) per scenario, from
// a self-contained config in a fresh temp dir (gateway.conf.tmpl). nginx missing is an error, not
// a skip: CI installs it on purpose.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../helpers/apache.js';
import { waitForExit } from '../../helpers/davtap-process.js';

export const NGINX_BIN = '/usr/sbin/nginx';
const TEMPLATE = fileURLToPath(new URL('./gateway.conf.tmpl', import.meta.url));
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const PORT_ATTEMPTS = 3;

export interface NginxScenario {
  name: string;
  /** The body of the server block after `listen`: locations and directives. */
  config: string;
  /** Listen with TLS (`listen … ssl`; the config gives ssl_certificate and the rest); its URL is https. */
  tls?: boolean;
}

export interface NginxGateway {
  /** Base URL per scenario name, e.g. `http://127.0.0.1:40123/`. */
  readonly urls: Record<string, string>;
  readonly root: string;
  errorLog(): Promise<string>;
  /** Stops nginx (SIGQUIT, then SIGKILL after a bound) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}


function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts nginx with one server block per scenario, each on a free loopback port. */
export async function startNginx(scenarios: NginxScenario[]): Promise<NginxGateway> {
  if (!existsSync(NGINX_BIN)) throw new Error(`nginx is not installed (${NGINX_BIN}): apt-get install -y nginx`);
  let lastError: unknown;
  // A free port can be taken between the probe and nginx's bind: try a few times.
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    try {
      return await startOnce(scenarios);
    } catch (err) {
      lastError = err;
      if (!/Address already in use/i.test((err as Error).message)) throw err;
    }
  }
  throw lastError;
}

async function startOnce(scenarios: NginxScenario[]): Promise<NginxGateway> {
  const root = await mkdtemp(path.join(tmpdir(), 'davtap-nginx-'));
  const ports: number[] = [];
  for (let i = 0; i < scenarios.length; i++) ports.push(await freePort());
  const servers = scenarios
    .map((s, i) => `    # ${s.name}\n    server {\n        listen 127.0.0.1:${ports[i]}${s.tls ? ' ssl' : ''};\n${s.config.replace(/^/gm, '        ')}\n    }`)
    .join('\n\n');
  const conf = (await readFile(TEMPLATE, 'utf8'))
    .replaceAll('@ROOT@', root)
    .replaceAll('@USER@', process.getuid?.() === 0 ? 'user root;' : '')
    .replace('@SERVERS@', servers);
  await mkdir(path.join(root, 'tmp'));
  const confFile = path.join(root, 'nginx.conf');
  await writeFile(confFile, conf);
  const errorLog = path.join(root, 'error.log');
  const child = spawn(NGINX_BIN, ['-p', root, '-e', errorLog, '-c', confFile, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGQUIT');
        if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
          child.kill('SIGKILL');
          await waitForExit(child, STOP_TIMEOUT_MS);
        }
      }
      await rm(root, { recursive: true, force: true });
    })());
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = existsSync(errorLog) ? await readFile(errorLog, 'utf8') : '';
      await stop();
      throw new Error(`nginx exited (code ${child.exitCode}) before it was ready: ${output}\n${log}`);
    }
    const up = await Promise.all(ports.map(canConnect));
    if (up.every(Boolean)) break;
    if (Date.now() > deadline || attempt > 400) {
      await stop();
      throw new Error(`nginx not listening after ${READY_TIMEOUT_MS} ms: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const urls: Record<string, string> = {};
  scenarios.forEach((s, i) => (urls[s.name] = `${s.tls ? 'https' : 'http'}://127.0.0.1:${ports[i]}/`));
  return { urls, root, errorLog: async () => (existsSync(errorLog) ? readFile(errorLog, 'utf8') : ''), stop };
}

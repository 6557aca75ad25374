// Debian's Apache mod_dav on 127.0.0.1, started from a self-contained config in a fresh temp dir
// (test/interop/apache2.conf.tmpl) and removed again on stop. Used by the interop suite and the
// proxy benchmarks. Apache missing is an error, not a skip: CI installs it on purpose.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tiedToParent, waitForExit } from './davtap-process.js';

export const APACHE_BIN = '/usr/sbin/apache2';
const MOD_DAV = '/usr/lib/apache2/modules/mod_dav.so';
const TEMPLATE = fileURLToPath(new URL('../interop/apache2.conf.tmpl', import.meta.url));
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const PORT_ATTEMPTS = 3;

export interface ApacheOptions {
  /** Per-request access log (default on; benchmarks turn it off so that logging is not measured). */
  accessLog?: boolean;
}

export interface ApacheServer {
  /** Base URL with a trailing slash, e.g. `http://127.0.0.1:40123/`. */
  readonly url: string;
  readonly port: number;
  /** The temp dir holding conf/, data/ (the DocumentRoot), logs/ and run/. */
  readonly root: string;
  readonly dataDir: string;
  readonly pid: number;
  /** Creates a collection over HTTP (so that it is owned by Apache's user); `p` like `/a/b/`. */
  mkcol(p: string): Promise<void>;
  /** Stores a file over HTTP. */
  put(p: string, body: Buffer | string): Promise<void>;
  errorLog(): Promise<string>;
  /** Stops Apache (SIGTERM, then SIGKILL after a bound) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** The uid/gid of a local user, from /etc/passwd (no package needed for one lookup). */
async function lookupUser(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/** A port that was free a moment ago; Apache cannot report a port it picked itself. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** One bodyless-or-not request to Apache; resolves with the status. */
export function request(
  url: string,
  method: string,
  opts: { headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const headers = { ...opts.headers, ...(body ? { 'Content-Length': String(body.length) } : {}) };
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${url}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}


async function waitReady(url: string, child: ChildProcess, errorLog: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  for (let attempt = 0; Date.now() < deadline && attempt < 400; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = existsSync(errorLog) ? await readFile(errorLog, 'utf8') : '';
      throw new Error(`apache2 exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready:\n${log}`);
    }
    try {
      const res = await request(url, 'OPTIONS');
      if (res.status === 200) return;
      lastError = `OPTIONS answered ${res.status}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`apache2 not ready at ${url} after ${READY_TIMEOUT_MS} ms: ${lastError}`);
}

async function startOnce(port: number, opts: ApacheOptions): Promise<ApacheServer> {
  const root = await mkdtemp(path.join(tmpdir(), 'davtap-apache-'));
  try {
    // Apache's workers (www-data when started as root) must be able to traverse into the temp dir.
    await chmod(root, 0o755);
    const dataDir = path.join(root, 'data');
    for (const d of ['conf', 'logs', 'run', 'data']) await mkdir(path.join(root, d));
    let userLines = '';
    if (process.getuid?.() === 0) {
      const www = await lookupUser('www-data');
      if (!www) throw new Error('running as root but user www-data does not exist (it comes with Debian\'s apache2)');
      // The workers write the resources and the lock database.
      await chown(dataDir, www.uid, www.gid);
      await chown(path.join(root, 'run'), www.uid, www.gid);
      userLines = 'User www-data\nGroup www-data';
    }
    const accessLog = opts.accessLog === false ? '' : `CustomLog ${root}/logs/access.log interop`;
    const conf = (await readFile(TEMPLATE, 'utf8'))
      .replaceAll('@ROOT@', root)
      .replaceAll('@PORT@', String(port))
      .replaceAll('@USER@', userLines)
      .replaceAll('@ACCESS_LOG@', accessLog);
    const confFile = path.join(root, 'conf', 'apache2.conf');
    await writeFile(confFile, conf);
    const errorLog = path.join(root, 'logs', 'error.log');
    const child = spawn(...tiedToParent(APACHE_BIN, ['-f', confFile, '-DFOREGROUND']), { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
    let output = '';
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    await spawned;
    const url = `http://127.0.0.1:${port}/`;
    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopped ??= (async () => {
        if (!(await waitForExitAfter(child, 'SIGTERM'))) {
          child.kill('SIGKILL');
          await waitForExit(child, STOP_TIMEOUT_MS);
        }
        await rm(root, { recursive: true, force: true });
      })());
    try {
      await waitReady(url, child, errorLog);
    } catch (err) {
      await stop();
      throw new Error(`${(err as Error).message}${output ? `\napache2 said: ${output.trim()}` : ''}`);
    }
    return {
      url,
      port,
      root,
      dataDir,
      pid: child.pid!,
      async mkcol(p) {
        const res = await request(new URL(p, url).href, 'MKCOL');
        if (res.status !== 201) throw new Error(`MKCOL ${p} answered ${res.status}`);
      },
      async put(p, body) {
        const res = await request(new URL(p, url).href, 'PUT', { body });
        if (res.status !== 201 && res.status !== 204) throw new Error(`PUT ${p} answered ${res.status}`);
      },
      errorLog: async () => (existsSync(errorLog) ? readFile(errorLog, 'utf8') : ''),
      stop,
    };
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

async function waitForExitAfter(child: ChildProcess, signal: NodeJS.Signals): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  child.kill(signal);
  return waitForExit(child, STOP_TIMEOUT_MS);
}

/** Starts Apache mod_dav on a free loopback port and waits until it answers OPTIONS. */
export async function startApache(opts: ApacheOptions = {}): Promise<ApacheServer> {
  if (!existsSync(APACHE_BIN) || !existsSync(MOD_DAV)) {
    throw new Error(`Apache with mod_dav is not installed (${APACHE_BIN}, ${MOD_DAV}): apt-get install -y apache2`);
  }
  let lastError: unknown;
  // The free port can be taken between the probe and Apache's bind: try a few.
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    try {
      return await startOnce(await freePort(), opts);
    } catch (err) {
      lastError = err;
      if (!/Address already in use|could not bind/i.test((err as Error).message)) throw err;
    }
  }
  throw lastError;
}

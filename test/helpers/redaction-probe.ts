// A real recording full of credentials, for the redaction checks: an origin that answers a 207 with
// a pre-signed `Location` (so the analyzer's MS210 quotes it) and sets a cookie; davtap's CLI as a
// child process (`--no-ui`, reverse mode) that relays requests carrying an Authorization, an API
// key, a `?token=` and a `;jsessionid=`; then `davtap export` in every format. Used by
// test/cli/redaction.test.ts and bench/hostile/redaction.ts.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withoutProxyEnv } from './davtap-process.js';
import { response, startOrigin, type Origin } from './origin.js';

const mainTs = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');

/** Each secret once, so that a leak names the place it came from. */
export const SECRETS = {
  authorization: 'AUTH-SECRET-1',
  apiKey: 'APIKEY-SECRET-2',
  query: 'QUERY-SECRET-3',
  session: 'SESSION-SECRET-4',
  location: 'LOCATION-SECRET-5',
  cookie: 'COOKIE-SECRET-6',
} as const;
export const secretValues: readonly string[] = Object.values(SECRETS);

const multistatus = `<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:">
  <D:response><D:href>/dav/</D:href><D:propstat><D:prop><D:displayname>dav</D:displayname></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
</D:multistatus>
`;

/** The origin: a 207 with a Location that carries a token (MS210), and a 200 with a session cookie. */
export function startSecretOrigin(): Promise<Origin> {
  return startOrigin((req, socket) => {
    if (req.method === 'PROPFIND') {
      socket.write(
        response(207, { 'Content-Type': 'application/xml; charset=utf-8', Location: `http://files.example/dav/?token=${SECRETS.location}`, 'Content-Length': Buffer.byteLength(multistatus) }, multistatus),
      );
    } else {
      socket.write(response(200, { 'Set-Cookie': `JSESSIONID=${SECRETS.cookie}; Path=/; HttpOnly`, 'Content-Length': 2 }, 'ok'));
    }
  });
}

function send(port: number, method: string, target: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`${method} ${target}: no answer`)));
    req.end();
  });
}

export interface Recording {
  /** The database the proxy wrote. */
  db: string;
  /** The proxy's standard output: one line per flow. */
  lines: string;
  stderr: string;
}

/**
 * Runs `davtap proxy --no-ui` in front of `origin`, sends the secret-laden requests through it,
 * stops it (SIGTERM: every flow committed) and returns its flow lines.
 */
export async function recordThroughProxy(origin: Origin, dir: string, extraArgs: string[] = []): Promise<Recording> {
  const db = path.join(dir, 'flows.db');
  const child = spawn(process.execPath, ['--import', tsxLoader, mainTs, 'proxy', '--no-ui', '--listen', '127.0.0.1:0', '--upstream', origin.url, '--db', db, ...extraArgs], {
    cwd: dir,
    env: withoutProxyEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`davtap did not start: ${stderr}`)), 30_000);
      const check = () => {
        const m = /davtap listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child.stderr.on('data', check);
      child.on('exit', () => reject(new Error(`davtap exited before listening: ${stderr}`)));
    });
    await send(port, 'PROPFIND', `/dav/?token=${SECRETS.query}`, { Depth: '0', Authorization: `Basic ${SECRETS.authorization}`, 'X-Api-Key': SECRETS.apiKey });
    await send(port, 'GET', `/dav/file.txt;jsessionid=${SECRETS.session}`, { Cookie: `JSESSIONID=${SECRETS.cookie}` });
    // Flow lines come from the recording worker: wait for both before stopping.
    for (let i = 0; i < 200 && stdout.split('\n').filter(Boolean).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  } finally {
    child.kill('SIGTERM');
  }
  const code = await exited;
  if (code !== 0) throw new Error(`davtap proxy exited ${code}: ${stderr}`);
  return { db, lines: stdout, stderr };
}

function davtap(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', tsxLoader, mainTs, ...args], { cwd, env: withoutProxyEnv(), timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * `davtap export` of `db` as HAR, report bundle and JSON lines, into a new directory under `dir`;
 * every file it wrote, by name, as text.
 */
export async function exportEveryFormat(db: string, dir: string, extraArgs: string[] = []): Promise<Map<string, string>> {
  const out = fs.mkdtempSync(path.join(dir, 'export-'));
  const files = new Map<string, string>();
  for (const args of [['--har', 'trace.har'], ['--report', 'bundle'], ['--jsonl', 'flows.jsonl']]) {
    const r = await davtap(['export', '--db', db, ...args, ...extraArgs], out);
    if (r.code !== 0) throw new Error(`davtap export ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  }
  files.set('trace.har', fs.readFileSync(path.join(out, 'trace.har'), 'latin1'));
  files.set('flows.jsonl', fs.readFileSync(path.join(out, 'flows.jsonl'), 'latin1'));
  for (const f of fs.readdirSync(path.join(out, 'bundle'))) files.set(`bundle/${f}`, fs.readFileSync(path.join(out, 'bundle', f), 'latin1'));
  return files;
}

/** `where: secret` for each secret found in each text. */
export function leaks(texts: Iterable<[string, string]>): string[] {
  const found: string[] = [];
  for (const [where, text] of texts) for (const s of secretValues) if (text.includes(s)) found.push(`${where}: ${s}`);
  return found;
}

// Load generation with wrk: a Lua script sets the method, headers and body (PROPFIND with Depth),
// and for a forward proxy the absolute-form request target; `--latency` gives the percentiles.
// Every run is bounded by its duration plus a margin.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const WRK_BIN = '/usr/bin/wrk';

export interface WrkRequest {
  /** Where wrk connects; its path is the request target unless `target` is given. */
  url: string;
  /**
   * The request target sent instead of the URL's path: an absolute URL for a forward proxy
   * (`PROPFIND http://origin/path HTTP/1.1`). wrk sets Host from `url` unless the headers name one.
   */
  target?: string;
  method: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface WrkOptions {
  connections: number;
  threads: number;
  durationSeconds: number;
}

export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses outside 2xx/3xx, and socket errors (connect, read, write, timeout). */
  non2xx: number;
  socketErrors: number;
}

/** A Lua string literal: wrk's Lua has no raw strings we can trust with arbitrary XML. */
function luaString(s: string): string {
  return `"${[...Buffer.from(s, 'utf8')].map((b) => `\\${b}`).join('')}"`;
}

export function wrkScript(req: WrkRequest): string {
  const lines = [`wrk.method = ${luaString(req.method)}`];
  // wrk.path is set from the URL before the script runs, and read when each thread builds its request.
  if (req.target !== undefined) lines.push(`wrk.path = ${luaString(req.target)}`);
  for (const [k, v] of Object.entries(req.headers ?? {})) lines.push(`wrk.headers[${luaString(k)}] = ${luaString(v)}`);
  if (req.body !== undefined) lines.push(`wrk.body = ${luaString(req.body)}`);
  return `${lines.join('\n')}\n`;
}

/** `1.23ms`, `456.00us`, `1.02s` -> milliseconds. */
export function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) throw new Error(`wrk: unreadable duration '${text}'`);
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

export function parseWrk(output: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const total = /(\d+) requests in/.exec(output);
  const p50 = /^\s+50%\s+(\S+)/m.exec(output);
  const p99 = /^\s+99%\s+(\S+)/m.exec(output);
  if (!rps || !total || !p50 || !p99) throw new Error(`wrk: unexpected output:\n${output}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requestsPerSecond: Number(rps[1]),
    requests: Number(total[1]),
    p50Ms: durationMs(p50[1]!),
    p99Ms: durationMs(p99[1]!),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

export async function runWrk(req: WrkRequest, opts: WrkOptions): Promise<WrkResult> {
  if (!existsSync(WRK_BIN)) throw new Error(`wrk is not installed (${WRK_BIN}): apt-get install -y wrk`);
  const dir = await mkdtemp(path.join(tmpdir(), 'davtap-wrk-'));
  try {
    const script = path.join(dir, 'request.lua');
    await writeFile(script, wrkScript(req));
    const args = ['-t', String(opts.threads), '-c', String(opts.connections), '-d', `${opts.durationSeconds}s`, '--timeout', '10s', '--latency', '-s', script, req.url];
    const child = spawn(WRK_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    const boundMs = (opts.durationSeconds + 25) * 1000; // wrk waits up to --timeout for the last responses
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`wrk still running after ${boundMs} ms`));
      }, boundMs);
      child.once('error', reject);
      child.once('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    if (code !== 0) throw new Error(`wrk exited with ${code}:\n${out}`);
    return parseWrk(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

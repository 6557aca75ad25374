// Drives real WebDAV clients (cadaver, rclone) as child processes, bounded in time, without proxy
// variables in their environment.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { withoutProxyEnv } from '../helpers/davtap-process.js';

export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bin args`, feeding `input` on stdin; kills it and rejects after `timeoutMs`. */
export async function runTool(
  bin: string,
  args: string[],
  opts: { cwd: string; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<ToolRun> {
  if (!existsSync(bin)) throw new Error(`${bin} is not installed (Debian package ${path.basename(bin)})`);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const child = spawn(bin, args, { cwd: opts.cwd, env: { ...withoutProxyEnv(), ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin.on('error', () => {}); // a client that exits early closes its stdin; its exit code says why
  child.stdin.end(opts.input ?? '');
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${bin} ${args.join(' ')} still running after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  return { code, stdout, stderr };
}

export const CADAVER_BIN = '/usr/bin/cadaver';

/** The cadaver session both interop suites run (plain http, and https through davtap's listener). */
export const CADAVER_SCRIPT = [
  'ls',
  'put hello.txt a.txt',
  'put blob.bin blob.bin',
  'get a.txt got-a.txt',
  'get blob.bin got-blob.bin',
  'mkcol sub',
  'copy a.txt sub/b.txt',
  'move sub/b.txt sub/c.txt',
  'lock sub/c.txt',
  'unlock sub/c.txt',
  'propset sub/c.txt color blue',
  'propget sub/c.txt color',
  'ls sub',
  'delete a.txt',
  'ls',
];

export const RCLONE_BIN = '/usr/bin/rclone';

/**
 * Runs a cadaver script (one command a line) against `url`, optionally through a forward proxy
 * (`host:port`). HOME points at `cwd` so that no ~/.cadaverrc or ~/.netrc of the machine applies.
 */
export function runCadaver(url: string, script: string[], opts: { cwd: string; proxy?: string }): Promise<ToolRun> {
  const args = [...(opts.proxy ? [`--proxy=${opts.proxy}`] : []), url];
  return runTool(CADAVER_BIN, args, { cwd: opts.cwd, input: `${script.join('\n')}\nquit\n`, env: { HOME: opts.cwd }, timeoutMs: 30_000 });
}

/**
 * A cadaver transcript without what legitimately differs between two runs: modification times in
 * listings, the server's address, the collection the run used, and the length of progress bars
 * (one dot per network read, so it depends on how the bytes were segmented on the way).
 */
export function normaliseCadaver(transcript: string, base: string): string {
  const u = new URL(base);
  return transcript
    .replaceAll(/\[\.+/g, '[...')
    .replaceAll(u.host, 'HOST')
    .replaceAll(u.pathname, '/BASE/')
    .replaceAll(/\s+[A-Z][a-z]{2}\s+\d{1,2}\s+(\d\d:\d\d|\d{4})$/gm, '');
}

/**
 * Runs rclone against the WebDAV server at `url` (an on-the-fly `:webdav:` remote). No config file,
 * and no retries: a retried failure would hide a broken relay.
 */
export function runRclone(args: string[], url: string, opts: { cwd: string }): Promise<ToolRun> {
  return runTool(
    RCLONE_BIN,
    [...args, '--webdav-url', url, '--retries', '1', '--low-level-retries', '1', '--contimeout', '5s', '--timeout', '20s'],
    { cwd: opts.cwd, env: { RCLONE_CONFIG: '/dev/null', HOME: opts.cwd }, timeoutMs: 60_000 },
  );
}

/**
 * Every file under `dir` as `relative path -> bytes`, sorted, for comparing trees. mod_dav_fs keeps
 * dead properties and lock state in `.DAV/` databases: those are skipped (litmus and the clients'
 * own output already say whether properties survived).
 */
export async function readTree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (rel: string, depth: number): Promise<void> => {
    if (depth > 16) throw new Error(`${dir}: deeper than 16 levels`);
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name === '.DAV') continue;
      const p = path.join(rel, e.name);
      if (e.isDirectory()) {
        out.set(`${p}/`, Buffer.alloc(0));
        await walk(p, depth + 1);
      } else if ((await stat(path.join(dir, p))).isFile()) {
        out.set(p, await readFile(path.join(dir, p)));
      }
    }
  };
  await walk('', 0);
  return out;
}

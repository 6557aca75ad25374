// The real `davtap` binary as a child process: spawned with arguments, ready once it announces its
// address on stderr, its output collected, stopped with SIGTERM (then SIGKILL after a bound).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DAVTAP_BIN = fileURLToPath(new URL('../../bin/davtap', import.meta.url));
const COMPILED_MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const READY = /davtap listening on (http:\/\/\S+?)\/?(?:\s|$)/;

export interface DavtapStartOptions {
  /** Bound on the wait for the "listening" line (default 15 s). */
  readyTimeoutMs?: number;
  /** Bound on the wait after SIGTERM before SIGKILL (default 5 s). */
  stopTimeoutMs?: number;
  /** Extra arguments for node itself, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /** Another build's `bin/davtap` (a benchmark comparing two trees); default this tree's. */
  bin?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * 'collect' (default) keeps stdout for `stdout()`; 'ignore' sends it to /dev/null, for runs with
   * millions of flow lines (benchmarks) whose collection would grow without bound.
   */
  stdout?: 'collect' | 'ignore';
}

export interface DavtapProcess {
  /** Where davtap listens, e.g. `http://127.0.0.1:40123` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Stops davtap (SIGTERM, then SIGKILL after the bound); resolves with how it ended. Idempotent. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }>;
}

/** The environment without proxy variables, so that children talk to exactly what they are told. */
export function withoutProxyEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (!/^(https?|ftp|all|no)_proxy$/i.test(k)) out[k] = v;
  }
  return out;
}

let configHome: string | undefined;

/**
 * A config directory of the test process's own (removed when it exits): davtap started without
 * --ca-dir keeps its CA there, never in the user's ~/.config/davtap.
 */
export function testConfigHome(): string {
  if (configHome === undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'davtap-test-config-'));
    configHome = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return configHome;
}

const SETPRIV = '/usr/bin/setpriv';

/**
 * The command line that runs `bin args` so that it gets SIGTERM when the process that spawned it
 * dies (prctl PR_SET_PDEATHSIG, through util-linux's setpriv, which then execs in place: same pid).
 * A test runner killed by a timeout must not leave Apache, davtap or mitmdump running.
 */
export function tiedToParent(bin: string, args: string[]): [string, string[]] {
  return existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'SIGTERM', '--', bin, ...args]] : [bin, args];
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true once the child has exited, false if it is still running after `ms`. */
export function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Spawns `bin/davtap ARGS` and resolves once it listens. Rejects (after killing it) if it exits or stays silent. */
export async function startDavtap(args: string[], opts: DavtapStartOptions = {}): Promise<DavtapProcess> {
  if (opts.bin === undefined && !existsSync(COMPILED_MAIN)) throw new Error(`davtap is not built (${COMPILED_MAIN} missing): run npm run build first`);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 5_000;
  const child = spawn(...tiedToParent(process.execPath, [...(opts.nodeArgs ?? []), opts.bin ?? DAVTAP_BIN, ...args]), {
    cwd: opts.cwd,
    env: opts.env ?? { ...withoutProxyEnv(), XDG_CONFIG_HOME: testConfigHome() },
    stdio: ['ignore', opts.stdout === 'ignore' ? 'ignore' : 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));

  let stopping: ReturnType<DavtapProcess['stop']> | undefined;
  const stop: DavtapProcess['stop'] = () =>
    (stopping ??= (async () => {
      let killed = false;
      if (!exited(child)) {
        child.kill('SIGTERM');
        if (!(await waitForExit(child, stopTimeoutMs))) {
          killed = true;
          child.kill('SIGKILL');
          await waitForExit(child, stopTimeoutMs);
        }
      }
      return { code: child.exitCode, signal: child.signalCode, killed };
    })());

  const url = await new Promise<string>((resolve, reject) => {
    const fail = (why: string) => {
      cleanup();
      void stop().then(() => reject(new Error(`davtap ${args.join(' ')}: ${why}\nstderr: ${err.trim()}\nstdout: ${out.trim()}`)));
    };
    const onData = () => {
      const m = READY.exec(err);
      if (m) {
        cleanup();
        resolve(m[1]!);
      }
    };
    const onExit = (code: number | null, signal: string | null) => fail(`exited (code ${code}, signal ${signal}) before listening`);
    const onError = (e: Error) => fail(`could not start: ${e.message}`);
    const timer = setTimeout(() => fail(`not listening after ${readyTimeoutMs} ms`), readyTimeoutMs);
    function cleanup() {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    }
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid!,
    child,
    stdout: () => out,
    stderr: () => err,
    stop,
  };
}

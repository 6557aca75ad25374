// mitmproxy's mitmdump (Debian package `mitmproxy`) as the reference intercepting proxy, in reverse
// mode in front of the same origin. Its state (CA) goes to a temp dir, never to ~/.mitmproxy.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, request } from '../../test/helpers/apache.js';
import { tiedToParent, withoutProxyEnv, waitForExit } from '../../test/helpers/davtap-process.js';

export const MITMDUMP_BIN = '/usr/bin/mitmdump';

export interface Mitmdump {
  url: string;
  pid: number;
  stop(): Promise<void>;
}


export function mitmdumpInstalled(): boolean {
  return existsSync(MITMDUMP_BIN);
}

/** Starts `mitmdump --mode reverse:UPSTREAM` on a free loopback port; ready once it relays an OPTIONS. */
export async function startMitmdump(upstream: string): Promise<Mitmdump> {
  if (!mitmdumpInstalled()) throw new Error(`mitmdump is not installed (${MITMDUMP_BIN}): apt-get install -y mitmproxy`);
  const confdir = await mkdtemp(path.join(tmpdir(), 'davtap-mitmdump-'));
  const port = await freePort();
  const child = spawn(
    ...tiedToParent(MITMDUMP_BIN, ['--mode', `reverse:${upstream}`, '--listen-host', '127.0.0.1', '-p', String(port), '-q', '--set', `confdir=${confdir}`]),
    { stdio: ['ignore', 'pipe', 'pipe'], env: withoutProxyEnv() },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
  const stop = async () => {
    if (!(child.exitCode !== null || child.signalCode !== null)) {
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 5_000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 5_000);
      }
    }
    await rm(confdir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 20_000;
  for (let attempt = 0; attempt < 400; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`mitmdump exited (code ${child.exitCode}) before it was ready:\n${output}`);
    }
    try {
      if ((await request(url, 'OPTIONS')).status === 200) return { url, pid: child.pid!, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`mitmdump not ready at ${url} after 20 s:\n${output}`);
}

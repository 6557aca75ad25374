// --public-url on the command line: reverse mode only, an http(s) URL without query or fragment,
// a one-line error (exit 2) otherwise; the start-up line says which address clients use.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DAVTAP_BIN, startDavtap, withoutProxyEnv } from '../helpers/davtap-process.js';

function davtap(args: string[]) {
  const r = spawnSync(process.execPath, [DAVTAP_BIN, ...args], { env: withoutProxyEnv(), encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const [args, pattern] of [
  [['--public-url', 'https://dav.example.org/'], /^davtap: --public-url is for reverse mode \(--upstream URL\)/],
  [['--upstream', 'http://127.0.0.1:1/', '--public-url', 'dav.example.org'], /^davtap: --public-url: 'dav\.example\.org' is not a URL/],
  [['--upstream', 'http://127.0.0.1:1/', '--public-url', 'ftp://dav.example.org/'], /^davtap: --public-url: .* must be an http:\/\/ or https:\/\/ URL/],
  [['--upstream', 'http://127.0.0.1:1/', '--public-url', 'https://dav.example.org/?x=1'], /must not have a query or fragment/],
  [['--upstream', 'http://127.0.0.1:1/', '--public-url', 'https://dav.example.org/#top'], /must not have a query or fragment/],
  [['--upstream', 'http://127.0.0.1:1/', '--public-url', 'https://dav.example.org/?'], /must not have a query or fragment/],
  [['--upstream', 'http://127.0.0.1:1/', '--public-url', 'https://u:p@dav.example.org/'], /must not carry credentials/],
] as const) {
  test(`--public-url refused, one line and exit 2: ${args.join(' ')}`, (t) => {
    const r = davtap([...args]);
    t.is(r.code, 2);
    t.regex(r.stderr, pattern);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.is(r.stdout, '');
  });
}

test('the start-up line names the public URL', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-public-url-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const proc = await startDavtap(['--upstream', 'http://127.0.0.1:1/dav/', '--public-url', 'https://dav.example.org:8443/debug/', '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(dir, 'flows.db')]);
  t.teardown(() => proc.stop().then(() => undefined));
  t.regex(proc.stderr(), /^davtap listening on http:\/\/127\.0\.0\.1:\d+\/ \(reverse → http:\/\/127\.0\.0\.1:1\/dav\/; clients use https:\/\/dav\.example\.org:8443\/debug\/; https with CA \S+(?: \([^)]*\))? and http on this port\); recording to /);
});

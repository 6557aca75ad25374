// The interop harness itself: Apache comes up from its own config and leaves nothing behind, and a
// davtap that cannot start is reported with its own words instead of a timeout.
import test from 'ava';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request, startApache } from '../helpers/apache.js';
import { startDavtap } from '../helpers/davtap-process.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('Apache serves WebDAV on loopback as the right user, and stop() ends it and removes its temp dir', async (t) => {
  const apache = await startApache();
  try {
    t.regex(apache.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const options = await request(apache.url, 'OPTIONS');
    t.regex(String(options.headers.dav), /\b1\b.*\b2\b/);
    await apache.mkcol('/c/');
    await apache.put('/c/f.txt', 'x');
    // As root the workers run as www-data and own what they write; otherwise, whoever runs the tests.
    const owner = (await stat(`${apache.dataDir}/c/f.txt`)).uid;
    t.is(owner, (await stat(apache.dataDir)).uid);
    if (process.getuid!() === 0) t.not(owner, 0, 'not written as root');
    else t.is(owner, process.getuid!());
  } finally {
    await apache.stop();
  }
  t.false(existsSync(apache.root));
  t.false(alive(apache.pid));
  await apache.stop(); // idempotent
});

test('a davtap that exits before listening is reported with its exit code and its own message', async (t) => {
  const err = await t.throwsAsync(startDavtap(['--listen', 'not-an-address', '--no-ui', '--db', '/nonexistent/x.db']));
  t.regex(err!.message, /exited \(code 2/);
  t.regex(err!.message, /--listen/);
});

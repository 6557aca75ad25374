import test from 'ava';
import { Writable } from 'node:stream';
import { stopOnce } from '../../src/cli/stop-once.js';
import type { CliIO } from '../../src/cli/io.js';

const sink = new Writable({ write: (_c, _e, cb) => cb() });
const io: CliIO = { stdout: sink, stderr: sink, env: {}, cwd: '.' };

test('the shutdown runs once however often stop is called; the signal aborts first; the signal listeners go once it is done', async (t) => {
  const before = { int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
  let runs = 0;
  let abortedWhenRun = false;
  const life = stopOnce(io, async () => {
    runs++;
    abortedWhenRun = life.signal.aborted;
    await new Promise((r) => setTimeout(r, 20));
    return 3;
  });
  t.is(process.listenerCount('SIGINT'), before.int + 1);
  t.is(process.listenerCount('SIGTERM'), before.term + 1);
  t.false(life.signal.aborted);
  life.stop();
  life.stop();
  t.is(await life.done, 3);
  t.is(runs, 1);
  t.true(abortedWhenRun);
  t.is(process.listenerCount('SIGINT'), before.int);
  t.is(process.listenerCount('SIGTERM'), before.term);
});

import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createFlowWriter, openStore } from '../../src/store/index.js';
import { failureFinding, makeFlow } from './make-flow.js';
import { tempDb } from './temp.js';

const children = path.join(path.dirname(fileURLToPath(import.meta.url)), 'children');

function start(t: ExecutionContext, script: string, args: string[]): { child: ChildProcess; lines: AsyncIterableIterator<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(children, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return { child, lines };
}

/** The next line, or null if none comes within `ms`. */
async function nextLine(lines: AsyncIterableIterator<string>, ms = 15_000): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  const line = lines.next().then((r) => (r.done ? null : r.value));
  const got = await Promise.race([line, timeout]);
  clearTimeout(timer);
  return got;
}

test('a writer killed with SIGKILL mid-run leaves a sound database that lost at most its last tick', async (t) => {
  const file = tempDb(t);
  const { child, lines } = start(t, 'crash-writer.ts', [file]);
  let last = { written: 0, enqueued: 0 };
  // Let it commit a dozen ticks while it keeps producing.
  for (let reports = 0; reports < 12; reports++) {
    const line = await nextLine(lines);
    if (line === null) break;
    const [written, enqueued] = line.split(' ').map(Number) as [number, number];
    last = { written, enqueued };
  }
  t.true(last.written > 0, 'the child committed flows before the kill');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  t.is(child.signalCode, 'SIGKILL');

  // Opening runs recovery from the WAL; the file must be consistent and hold every reported flow.
  const store = openStore(file);
  t.teardown(() => store.close());
  t.is(store.db.pragma('integrity_check', { simple: true }), 'ok');
  t.deepEqual(store.db.pragma('foreign_key_check'), []);
  const count = store.countFlows();
  t.true(count >= last.written, `${count} stored, ${last.written} reported committed`);
  // Only flows still queued (the tick not yet committed) may be missing, and they are the newest:
  // the stored flows are exactly the first `count` produced, with no gap.
  const lastSeq = store.latestSeq();
  t.is(lastSeq, count);
  const ids = store.listFlows({ order: 'asc', limit: 10_000 }).map((r) => r.id);
  t.deepEqual(ids, Array.from({ length: count }, (_, i) => `flow-${i}`));
  // Each stored flow is whole: its ledger rows are all there (batches commit atomically).
  const partial = store.db
    .prepare('SELECT count(*) AS n FROM flows f WHERE f.resources_count <> (SELECT count(*) FROM resources r WHERE r.flow_seq = f.seq)')
    .get() as { n: number };
  t.is(partial.n, 0);
  // The database accepts writes again after the crash.
  const writer = createFlowWriter(store);
  // Closed before the store and the directory go: its checkpointer thread would write the WAL
  // again while the directory is being removed.
  t.teardown(() => writer.close());
  writer.enqueue(makeFlow(1_000_000));
  writer.flush();
  t.is(store.countFlows(), count + 1);
});

test('a read-only reader in another process sees new flows while the writer runs', async (t) => {
  const file = tempDb(t);
  const store = openStore(file);
  t.teardown(() => store.close());
  const writer = createFlowWriter(store, { tickMs: 10 });
  writer.enqueue(makeFlow(0));
  writer.flush();
  const { child, lines } = start(t, 'watch-reader.ts', [file, '31']);
  t.is(await nextLine(lines), '1 flow-0 0');
  for (let batch = 0; batch < 3; batch++) {
    for (let i = 1; i <= 10; i++) writer.enqueue(makeFlow(batch * 10 + i, { findings: [failureFinding] }));
    // The writer's own tick commits; the other process must notice it.
    const expected = (batch + 1) * 10 + 1;
    let line: string | null = null;
    for (let tries = 0; tries < 20; tries++) {
      line = await nextLine(lines);
      if (line === null || Number(line.split(' ')[0]) === expected) break;
    }
    t.is(line, `${expected} flow-${expected - 1} 1`);
  }
  const exited = await new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)));
  t.is(exited, 0);
  // A reader connection never blocks the writer (WAL): the writer committed all the while.
  t.like(writer.stats(), { written: 31, failed: 0 });
});

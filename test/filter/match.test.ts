import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { matchFlow, parseFilter } from '../../src/filter/index.js';
import { createFlowWriter, openStore } from '../../src/store/index.js';
import type { Flow } from '../../src/types.js';
import { failureFinding, makeFlow, truncationFinding } from '../store/make-flow.js';

// A varied set of flows: methods, status classes, no response at all, transport errors, injections,
// findings of several rules and categories, and distinctive headers.
function flows(): Flow[] {
  const out: Flow[] = [];
  out.push(makeFlow(0));
  out.push(makeFlow(1, { failing: [3], findings: [failureFinding] }));
  out.push(makeFlow(2, { findings: [truncationFinding], outcome: { kind: 'upstream-aborted', code: 'ECONNRESET' } }));
  out.push(makeFlow(3, { method: 'GET', status: 200, path: '/dav/files/report.pdf' }));
  out.push(makeFlow(4, { method: 'PUT', status: 201, path: '/dav/files/new.txt' }));
  out.push(makeFlow(5, { method: 'DELETE', status: 423, path: '/dav/files/locked/' }));
  out.push(makeFlow(6, { method: 'MOVE', status: 502, path: '/dav/files/a/', outcome: { kind: 'error', code: 'ECONNREFUSED' } }));
  out.push(makeFlow(7, { method: 'PROPFIND', status: null, outcome: { kind: 'timeout', code: 'ETIMEDOUT' } }));
  out.push(makeFlow(8, { injected: 'truncate:4096', findings: [{ ...truncationFinding, injected: 'truncate:4096' }] }));
  out.push(makeFlow(9, { requestHeaders: ['Host', '127.0.0.1:8080', 'Depth', 'infinity', 'User-Agent', 'Microsoft-WebDAV-MiniRedir/10.0'] }));
  out.push(makeFlow(10, { responseHeaders: ['Content-Type', 'text/html', 'Server', 'nginx/1.22'], method: 'REPORT', path: '/cal/user/' }));
  out.push(makeFlow(11, { method: 'GET', status: 404, path: '/CALENDARS/Upper/' }));
  out.push(makeFlow(12, { findings: [truncationFinding, failureFinding], failing: [1, 2] }));
  out.push(makeFlow(13, { method: 'OPTIONS', status: 200, path: '/', outcome: { kind: 'client-aborted' } }));
  return out;
}

const filters = [
  '~m PROPFIND',
  '~m get',
  '~s 207',
  '~s 4xx',
  '~s 5xx | ~s 2xx',
  '!~s 207',
  '!~s 2xx',
  '~u /dav/files/',
  '~u calendars',
  'files & !~m GET',
  '~h "Depth: infinity"',
  '~h ^server:\\s*nginx',
  '~h "^content-type: text/"',
  '!~h miniredir',
  '~f truncation',
  '~f partial-failure',
  '~f security',
  '~r MS001',
  '~r MS601 & ~r MS001',
  '!~r MS001',
  '~e',
  '!~e',
  '~i',
  '~e | ~i',
  '!(~e | ~i) & ~m PROPFIND',
  '~m PROPFIND ~s 207 !~f truncation',
  '(~m GET | ~m PUT) & ~s 2xx',
  '!(~s 4xx | ~s 5xx) & !~e',
];

test('matchFlow and the store agree on every filter', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-filter-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = openStore(path.join(dir, 'f.db'));
  t.teardown(() => store.close());
  const all = flows();
  const writer = createFlowWriter(store);
  for (const f of all) writer.enqueue(f);
  writer.flush();
  t.is(store.countFlows(), all.length);

  for (const text of filters) {
    const ast = parseFilter(text);
    const inMemory = all.filter((f) => matchFlow(ast, f)).map((f) => f.id).sort();
    const inSql = store
      .listFlows({ filter: text, limit: 1000 })
      .map((r) => r.id)
      .sort();
    t.deepEqual(inSql, inMemory, text);
    t.is(store.countFlows(text), inMemory.length, `count ${text}`);
  }
});

test('the filters used above both match and reject something (the agreement test is not vacuous)', (t) => {
  const all = flows();
  for (const text of filters) {
    const n = all.filter((f) => matchFlow(parseFilter(text), f)).length;
    if (text === '~f security') {
      t.is(n, 0, text);
      continue;
    }
    t.true(n > 0 && n < all.length, `${text} matched ${n} of ${all.length}`);
  }
});

test('matchFlow answers each filter kind as documented', (t) => {
  const all = flows();
  const ids = (text: string) => all.filter((f) => matchFlow(parseFilter(text), f)).map((f) => f.id);
  t.deepEqual(ids('~s 4xx'), ['flow-5', 'flow-11']);
  // No response: matches no status filter, and therefore every negated one.
  t.false(ids('~s 2xx | ~s 3xx | ~s 4xx | ~s 5xx | ~s 1xx').includes('flow-7'));
  t.true(ids('!~s 207').includes('flow-7'));
  t.deepEqual(ids('~e'), ['flow-2', 'flow-6', 'flow-7', 'flow-13']);
  t.deepEqual(ids('~i'), ['flow-8']);
  t.deepEqual(ids('~r MS601'), ['flow-1', 'flow-12']);
  // Case-insensitive URL regex, like mitmproxy.
  t.deepEqual(ids('~u /calendars/upper'), ['flow-11']);
  t.deepEqual(ids('~h "Server: nginx"'), ['flow-10']);
});

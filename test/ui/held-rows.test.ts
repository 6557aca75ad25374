// Held exchanges in the flow list: a real relay holds a PUT request and a PROPFIND response, and
// the list over a real store shows them after the recorded flows, as rows of their own (H, HOLD or
// the status, the state in front of the path), matched by the list's filter, openable (the held
// flow with what is held), masked like every row; once decided they leave the held rows.
import test from 'ava';
import path from 'node:path';
import { interceptForUi } from '../../src/cli/intercept.js';
import { parseFilter } from '../../src/filter/index.js';
import { Interceptor } from '../../src/proxy/intercept.js';
import { masksFor, openStoreSource } from '../../ui/flow-source.js';
import { heldRow, withHeldRows } from '../../ui/held-rows.js';
import { renderTab } from '../../ui/detail-model.js';
import { layoutColumns, rowCells, rowText } from '../../ui/view-model.js';
import { curl } from '../helpers/curl.js';
import { startTestProxy } from '../helpers/proxy.js';
import { startDavServer } from '../helpers/webdav.js';
import { tempDir, writeFlows } from './db.js';
import { sampleFlows } from './flows.js';

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('held exchanges are rows after the recorded flows: marked, filtered, openable, masked, gone once decided', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const db = path.join(dir, 'flows.db');
  const recorded = sampleFlows();
  await writeFlows(db, recorded);
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  const interceptor = new Interceptor({ patienceMs: 60_000 });
  const intercept = interceptForUi(interceptor);
  t.is(intercept.setFilter('~m PUT | (~m PROPFIND & ~s)'), null);
  const proxy = await startTestProxy(t, { upstream: new URL(`${dav.url}/`), hooks: { interceptRequest: interceptor.interceptRequest, interceptResponse: interceptor.interceptResponse } });
  const store = openStoreSource(db);
  t.teardown(() => store.close());
  const source = withHeldRows(store, intercept, masksFor({}));
  const n = recorded.length;
  t.is(source.count(null), n);

  const put = curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '-H', 'Cookie: session=sekret-token', '--data-binary', 'held', `${proxy.url}dav/held.txt?access_token=abc123`], 90_000);
  await until(() => interceptor.size === 1, 'the PUT to be held');
  const propfind = curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PROPFIND', '-H', 'Depth: 0', `${proxy.url}dav/`], 90_000);
  await until(() => interceptor.size === 2, 'the PROPFIND response to be held');

  t.is(source.count(null), n + 2);
  const rows = source.list(null, n - 1, 10);
  t.is(rows.length, 3, 'the last recorded flow, then the two held ones');
  const [, request, response] = rows;
  t.like(request, { method: 'PUT', status: null, held: { what: 'request', clientGone: false, pastPatience: false } });
  t.like(response, { method: 'PROPFIND', status: 207, held: { what: 'response', clientGone: false, pastPatience: false } });
  t.false(request!.path.includes('abc123'), 'the URL is masked as in recorded rows');
  const columns = layoutColumns(160, rows);
  t.regex(rowText(request!, columns), /^H .* PUT +HOLD \[held request\] \/dav\/held\.txt/);
  t.regex(rowText(response!, columns), /^H .* PROPFIND +207 +\[held response\] \/dav\//);
  t.true(rowCells(request!, columns).some((c) => c.style === 'held'), 'drawn in the held colour');

  // The list's filter applies to held rows too.
  t.is(source.count(parseFilter('~m PUT')), 1);
  t.deepEqual(
    source.list(parseFilter('~c 207'), 0, 100).filter((r) => r.held).map((r) => r.method),
    ['PROPFIND'],
  );

  // Opened: the held flow, masked, with what is held.
  const flow = source.getFlow(request!.id)!;
  t.is(flow.held?.what, 'request');
  t.is(flow.response, null);
  t.false(JSON.stringify(flow.request.rawHeaders).includes('sekret-token'));
  const summary = renderTab(flow, 'Summary', { now: Date.now() }).map((l) => l.text).join('\n');
  t.regex(summary, /held +the request waits in davtap: nothing of it was sent to the server/);
  t.regex(summary, /a sends it on, X answers 502/);
  const held207 = source.getFlow(response!.id)!;
  t.regex(held207.response!.body.bytes.toString(), /multistatus/);

  t.is(intercept.resume(), 2);
  // As in mitmproxy, a filter that names a response code is judged again on the response: `~m PUT` matches the PUT's 201 too.
  await until(() => interceptor.list().some((h) => h.what === 'response' && h.method === 'PUT'), "the PUT's response to be held");
  t.like(source.list(null, n, 10)[0], { method: 'PUT', status: 201, held: { what: 'response' } });
  t.is(intercept.resume(), 1);
  t.is((await put).stdout.toString(), '201');
  t.is((await propfind).stdout.toString(), '207');
  t.is(source.count(null), n, 'decided: no held rows left (the flows come back from the store once recorded)');
});

test('a held row says when its client has gone or waited past the patience, and its wait is its duration', (t) => {
  const base = { id: 'h', what: 'request' as const, method: 'PUT', url: 'http://127.0.0.1:1/dav/x', since: 1000, waitingSince: 1000 };
  const columns = layoutColumns(140, []);
  const past = heldRow({ ...base, clientGone: false, pastPatience: true }, null, 41_000);
  t.is(past.durationMs, 40_000);
  t.regex(rowText(past, columns), /\[held request, past patience\] \/dav\/x/);
  const gone = heldRow({ ...base, what: 'response', status: 207, clientGone: true, pastPatience: true }, null, 2000);
  t.regex(rowText(gone, columns), /207 +\[held response, client gone\]/);
});

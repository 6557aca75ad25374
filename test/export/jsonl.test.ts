import test from 'ava';
import { gunzipSync } from 'node:zlib';
import { exportJsonl, type JsonlRecord } from '../../src/export/index.js';
import { payloadOf } from '../helpers/corrupt.js';
import { binaryPutFlow, captureFlow, loadCapture, refusedFlow, storeWith } from './flows.js';

async function lines(t: Parameters<typeof storeWith>[0], options: { bodies?: boolean; filter?: string; ids?: string[] } = {}) {
  const flows = [captureFlow('radicale-report-calendar-multiget', 0), captureFlow('apache-propfind-d1-gzip', 1), refusedFlow(2), binaryPutFlow(3)];
  const { store } = await storeWith(t, flows);
  let out = '';
  const n = exportJsonl(store, { ...(options.filter ? { filter: options.filter } : {}), ...(options.ids ? { ids: options.ids } : {}) }, (l) => (out += l), {}, { bodies: options.bodies === true });
  return { flows, n, out, records: out.trimEnd().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as JsonlRecord) };
}

test('one JSON object per line and flow, oldest first, with summary fields and findings', async (t) => {
  const { flows, n, out, records } = await lines(t);
  t.is(n, 4);
  t.is(out.split('\n').length, 5, 'four lines, each ending in a newline');
  t.deepEqual(records.map((r) => r.id), flows.map((f) => f.id));
  const multiget = records[0]!;
  t.is(multiget.method, 'REPORT');
  t.is(multiget.status, 207);
  t.is(multiget.summary, flows[0]!.analysis!.summary.text);
  t.is(multiget.resources, flows[0]!.analysis!.summary.resources);
  t.deepEqual(multiget.findings, flows[0]!.analysis!.findings);
  t.true(multiget.findings.some((f) => f.rule === 'MS501'));
  t.deepEqual(multiget.findingCounts, flows[0]!.analysis!.summary.findings);
  t.is(multiget.start, new Date(flows[0]!.timings.start).toISOString());
  t.is(records[1]!.contentEncoding, 'gzip');
  t.is(records[2]!.status, null);
  t.deepEqual(records[2]!.outcome, flows[2]!.outcome);
  t.is(records[3]!.requestHeaders.find(([k]) => k === 'Authorization')![1], '[redacted]');
  for (const r of records) t.false('requestBody' in r || 'responseBody' in r, 'no bodies unless asked');
});

test('--bodies adds the request body and the decoded response body', async (t) => {
  const { flows, records } = await lines(t, { bodies: true });
  const decoded = gunzipSync(payloadOf(loadCapture('apache-propfind-d1-gzip').response)).toString('utf8');
  t.deepEqual(records[1]!.responseBody, { text: decoded, decoded: true });
  t.is(records[1]!.requestBody!.text, flows[1]!.request.body.bytes.toString('utf8'));
  t.is(records[2]!.responseBody, null);
  t.is(records[3]!.requestBody!.encoding, 'base64');
  t.deepEqual(Buffer.from(records[3]!.requestBody!.text, 'base64'), flows[3]!.request.body.bytes);
});

test('a filter expression or flow ids select what is exported', async (t) => {
  const byFilter = await lines(t, { filter: '~m REPORT | ~c 201' });
  t.deepEqual(byFilter.records.map((r) => r.method), ['REPORT', 'PUT']);
  const byId = await lines(t, { ids: ['refused', 'radicale-report-calendar-multiget-000'] });
  t.deepEqual(byId.records.map((r) => r.id), ['radicale-report-calendar-multiget-000', 'refused-2']);
  const none = await lines(t, { filter: '~c 599' });
  t.is(none.n, 0);
  t.is(none.out, '');
});

// The detail tabs on flows the real analyzer produced from real server captures, stored and read
// back through the store: what the UI shows is what it would show behind the proxy.
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyze } from '../../src/analysis/analyzer.js';
import type { Flow, TransportEnd } from '../../src/types.js';
import { renderTab, sortResources } from '../../ui/detail-model.js';
import { openStoreSource } from '../../ui/flow-source.js';
import { cutContentLength, decodedBody, getHeader, parseMessage, requestContext, statusOf, withPayload, type RawMessage } from '../helpers/corrupt.js';
import { tempDir, writeFlows } from './db.js';

const captures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/captures');
const load = (name: string) => ({
  request: parseMessage(readFileSync(path.join(captures, `${name}.req`))),
  response: parseMessage(readFileSync(path.join(captures, `${name}.http`))),
});

/** The flow a proxy records for this exchange, analyzed by the real analyzer. */
function flowOf(id: string, request: RawMessage, response: RawMessage, transport: TransportEnd = { outcome: 'complete' }, declared?: number): Flow {
  const body = response.body;
  const { status, reason, httpVersion } = statusOf(response);
  const req = requestContext(request);
  const analysis = analyze(req, { status, reason, httpVersion, rawHeaders: response.rawHeaders, bodyForm: 'payload' }, body, transport);
  const target = req.target;
  return {
    id,
    mode: 'reverse',
    client: { address: '127.0.0.1', port: 40000 },
    timings: { start: Date.UTC(2026, 10, 21, 6), firstByte: Date.UTC(2026, 10, 21, 6) + 3, end: Date.UTC(2026, 10, 21, 6) + 9 },
    request: { method: req.method, url: `http://127.0.0.1:8081${target}`, target, httpVersion: '1.1', rawHeaders: request.rawHeaders, body: { bytes: request.body, bytesSeen: request.body.length, captureComplete: true } },
    response: {
      status, reason, httpVersion, rawHeaders: response.rawHeaders, framing: 'content-length', declaredLength: declared ?? body.length,
      body: { bytes: body, bytesSeen: body.length, captureComplete: true }, decoded: null, informational: [], rawTrailers: [],
    },
    outcome: transport.outcome === 'complete' ? { kind: 'complete' } : { kind: transport.outcome, code: transport.code, message: transport.message },
    analysis,
  };
}

test('a PROPPATCH on protected properties: the ledger shows the failed properties, failures first', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const { request, response } = load('apache-proppatch-protected');
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, [flowOf('pp', request, withPayload(response, decodedBody(response)))]);
  const source = openStoreSource(db);
  t.teardown(() => source.close());
  const flow = source.getFlow('pp')!;
  const ledger = renderTab(flow, 'Resources').map((l) => l.text);
  const href = /<D:href>([^<]+)<\/D:href>/.exec(decodedBody(response).toString('utf8'))![1]!;
  const failedLine = ledger.find((l) => l.includes(href));
  t.truthy(failedLine, ledger.join('\n'));
  t.regex(failedLine!, /\[[^\]]*\b(403|409|424)\b/);
  t.is(renderTab(flow, 'Resources').find((l) => l.text.includes(href))!.style, 'error');
});

test('a lighttpd PROPFIND cut mid-body: findings, the response the body ended inside, and the caret', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const { request, response } = load('lighttpd-propfind-d1-named');
  const full = decodedBody(response);
  const at = Math.floor(full.length * 0.6);
  const cut = cutContentLength(response, at, false);
  t.is(getHeader(cut, 'Content-Length'), String(full.length), 'the header still promises the whole body');
  const db = path.join(dir, 'flows.db');
  await writeFlows(db, [flowOf('cut', request, cut, { outcome: 'upstream-aborted', code: 'ECONNRESET', closeKind: 'fin', message: 'upstream closed early' }, full.length)]);
  const source = openStoreSource(db);
  t.teardown(() => source.close());
  const flow = source.getFlow('cut')!;
  const findings = renderTab(flow, 'Findings');
  t.true(findings.some((l) => l.style === 'error' && /^\[E\] MS00\d {2}truncation/.test(l.text)), findings.map((l) => l.text).join('\n'));
  const incomplete = flow.analysis!.resources.filter((r) => !r.complete);
  t.is(incomplete.length, 1);
  t.is(sortResources(flow.analysis!.resources, 'failures')[0]!.index, incomplete[0]!.index);
  const ledger = renderTab(flow, 'Resources').map((l) => l.text);
  t.regex(ledger[2]!, /\(body ended inside this response\)$/);
  const body = renderTab(flow, 'Response', { width: 160 });
  const caret = body.findIndex((l) => l.style === 'mark');
  t.true(caret > 0, 'the position where the body breaks is marked');
  // A long note does not fit beside the caret: it takes the next line.
  t.regex(`${body[caret]!.text}\n${body[caret + 1]!.text}`, /MS00\d body ended after [\d,]+ of [\d,]+ declared bytes/);
  // The marked line is the body's last line: the cut.
  const lines = cut.body.toString('utf8').split('\n');
  t.regex(body[caret - 1]!.text, new RegExp(`^ *${lines.length} \\| `));
});

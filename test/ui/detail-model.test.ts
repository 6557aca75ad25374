import test from 'ava';
import { bodyMarks, clientSide, failedProperties, renderTab, resourceRank, resourceStatusText, sortResources, tabLabels, upstreamSide, wrapLines } from '../../ui/detail-model.js';
import type { Flow } from '../../src/types.js';
import { deleteLocked, plainGet, propfindWithFailures, refusedUpstream, truncatedPropfind } from './flows.js';

const text = (flow: Flow, tab: Parameters<typeof renderTab>[1], options = {}) => renderTab(flow, tab, options).map((l) => l.text).join('\n');

test('the ledger puts failed resources first, then missing properties, then the rest in body order', (t) => {
  const flow = propfindWithFailures(0, 6);
  const sorted = sortResources(flow.analysis!.resources, 'failures');
  t.deepEqual(sorted.map((r) => r.index), [2, 3, 0, 1, 4, 5]);
  t.deepEqual(sortResources(flow.analysis!.resources, 'index').map((r) => r.index), [0, 1, 2, 3, 4, 5]);
  t.deepEqual(sortResources(flow.analysis!.resources, 'status').map((r) => r.index).slice(0, 2), [3, 2]);
});

test('a resource the body ended inside counts as failed', (t) => {
  const flow = truncatedPropfind(0);
  const last = flow.analysis!.resources.at(-1)!;
  t.false(last.complete);
  t.is(resourceRank(last), 0);
  t.is(sortResources(flow.analysis!.resources, 'failures')[0], last);
});

test('whole-resource statuses and per-property statuses are both shown', (t) => {
  const del = deleteLocked(0);
  t.deepEqual(del.analysis!.resources.map(resourceStatusText), ['423', '424']);
  const pf = propfindWithFailures(0);
  t.is(resourceStatusText(pf.analysis!.resources[3]!), '200 ×1, 404 ×1');
  t.deepEqual(failedProperties(pf.analysis!.resources[2]!), ['getcontentlength 403', 'getlastmodified 403']);
});

test('the Resources tab lists every href with its status and failed properties', (t) => {
  const out = text(propfindWithFailures(0), 'Resources');
  t.regex(out, /1 of 5 resources failed \(403 ×1\)/);
  const lines = out.split('\n');
  t.regex(lines[2]!, /^ {3}2 {2}403 ×2 +\/dav\/projects\/report-2\.txt {2}\[getcontentlength 403, getlastmodified 403\]$/);
  t.regex(lines[3]!, /report-3\.txt {2}\[quota-used-bytes 404\]/);
  t.is(lines.length, 2 + 5);
});

test('the DELETE ledger shows the lock precondition', (t) => {
  t.regex(text(deleteLocked(0), 'Resources'), /423 +\/dav\/shared\/locked\.odt {2}error lock-token-submitted/);
});

test('the Summary tab shows outcome, timings, framing and the gateway fingerprint', (t) => {
  const out = text(truncatedPropfind(Date.UTC(2026, 10, 21, 6, 0, 0)), 'Summary', { utc: true });
  t.regex(out, /outcome +upstream-aborted — ECONNRESET — upstream closed after 32,768/);
  t.regex(out, /started +2026-11-21 06:00:00\.000/);
  t.regex(out, /response framing +content-length/);
  t.regex(out, /declared length +\d{2},\d{3} bytes/);
  t.regex(out, /CF-Ray +8f0c2a1b3c4d5e6f-FRA/);
  t.regex(out, /Via +1\.1 cdn-edge/);
  t.regex(out, /Age +0/);
  t.regex(out, /Server +nginx\/1\.26\.2/);
});

test('the Findings tab lists rule, severity, category, blame, message and evidence, errors first', (t) => {
  const lines = renderTab(truncatedPropfind(0), 'Findings');
  t.regex(lines[0]!.text, /^\[E\] MS001 {2}truncation {2}blame gateway {2}body ended after 32,768 of/);
  t.is(lines[0]!.style, 'error');
  const out = lines.map((l) => l.text).join('\n');
  t.regex(out, /\[E\] MS006 {2}truncation {2}blame unknown {2}XML ended inside/);
  t.regex(out, /consequence of MS001/);
  t.regex(out, /\[W\] MS109 {2}stripped/);
  t.regex(out, /at line \d+:\d+, in multistatus>response>propstat/);
});

test('the Response tab pretty-prints a good 207 and marks where a truncated one ends', (t) => {
  const good = text(propfindWithFailures(0), 'Response');
  t.regex(good, /^HTTP\/1\.1 207 Multi-Status/);
  t.regex(good, /\n {2}<D:response>\n {4}<D:href>\/dav\/projects\/<\/D:href>/);
  const flow = truncatedPropfind(0);
  const cut = renderTab(flow, 'Response', { width: 160 });
  const caret = cut.find((l) => l.style === 'mark');
  t.truthy(caret);
  // The root cause (MS001 at byte 32,768) is marked, on the body's last line, after its last character.
  const bodyLines = flow.response!.body.bytes.toString('utf8').split('\n');
  const lastColumn = bodyLines.at(-1)!.length + 1;
  t.regex(caret!.text, new RegExp(`MS001 body ended after 32,768 of [\\d,]+ declared bytes \\(line ${bodyLines.length}, column ${lastColumn}\\)`));
  // At 160 columns there is no room after a caret this far right: the note sits before it, the caret still under the column.
  const gutter = caret!.text.indexOf('|') + 2;
  t.is(caret!.text.indexOf('^'), gutter + lastColumn - 1);
});

test('only root causes with a position are marked in the body', (t) => {
  const marks = bodyMarks(truncatedPropfind(0));
  t.deepEqual(marks.map((m) => m.message.split(' ')[0]), ['MS001']);
});

test('a flow without a response says why on every tab that needs one', (t) => {
  const flow = refusedUpstream(0);
  t.regex(text(flow, 'Response'), /No response: error — connect ECONNREFUSED/);
  t.regex(text(flow, 'Summary'), /status +no response/);
  t.regex(text(flow, 'Raw'), /\(no response: error\)/);
  t.regex(text(flow, 'Findings'), /not analyzed/);
});

test('binary bodies are shown as hex on the Raw tab', (t) => {
  const flow = plainGet(0);
  flow.response!.body = { bytes: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]), bytesSeen: 8, captureComplete: true };
  t.regex(text(flow, 'Raw'), /00000000 {2}89 50 4e 47 00 01 02 03 +\.PNG\.\.\.\./);
});

test('tab labels carry the finding count and the ledger summary', (t) => {
  const labels = tabLabels(truncatedPropfind(0));
  t.is(labels.Findings, 'Findings (3)');
  t.regex(labels.Resources, /^Resources \(1\/\d+\)$/);
  t.is(tabLabels(plainGet(0)).Findings, 'Findings');
});

test('long detail lines wrap under their own text instead of being cut', (t) => {
  const long = `      examples ${'x'.repeat(70)}`;
  const out = wrapLines([{ text: 'short' }, { text: long, style: 'dim' }], 40);
  t.is(out[0]!.text, 'short');
  t.true(out.slice(1).every((l) => l.text.length <= 40 && l.style === 'dim'));
  t.is(out.slice(1).map((l, i) => (i === 0 ? l.text : l.text.slice(10))).join(''), long);
  t.regex(out[2]!.text, /^ {10}x/);
});

test('the Summary says when the store pruned or cut the bodies', (t) => {
  const flow = Object.assign(propfindWithFailures(0), { storage: { responseStored: 0, pruned: true, prunedBytes: 1234 } });
  t.regex(text(flow, 'Summary'), /stored bodies +pruned by --max-db-size \(1,234 bytes removed\)/);
  const cut = Object.assign(truncatedPropfind(0), { storage: { responseStored: 1000, pruned: false, prunedBytes: 0 } });
  t.regex(text(cut, 'Summary'), /stored bodies +first 1,000 bytes of the response kept by the store/);
  t.notRegex(text(propfindWithFailures(0), 'Summary'), /stored bodies/);
});

test('the Summary tab says how the client reached davtap and how davtap reached the server', (t) => {
  const plain = text(plainGet(0), 'Summary');
  t.regex(plain, /^ {2}client +127\.0\.0\.1:\d+, plain HTTP$/m);
  t.regex(plain, /^ {2}upstream +http:\/\/127\.0\.0\.1:8081, plain HTTP$/m);
  const base = plainGet(0);
  const tls: Flow = { ...base, client: { address: '127.0.0.1', port: 5123, tls: { sni: 'dav.example' } }, request: { ...base.request, url: 'https://dav.example.org/dav/readme.txt' } };
  const out = text(tls, 'Summary');
  t.regex(out, /^ {2}client +127\.0\.0\.1:5123 over TLS \(SNI dav\.example\)$/m);
  t.regex(out, /^ {2}upstream +https:\/\/dav\.example\.org over TLS$/m);
  t.is(clientSide({ address: '::1', port: 1, tls: {} }), '::1:1 over TLS (no SNI)');
  t.is(clientSide({ address: '::1', port: 1, tls: { sni: 'a\u001b[2J' } }), '::1:1 over TLS (SNI a?[2J)');
  // A refused request whose target is no URL names no server: no upstream line.
  t.is(upstreamSide('/dav/'), null);
  t.notThrows(() => text({ ...refusedUpstream(0), request: { ...refusedUpstream(0).request, url: '/dav/' } }, 'Summary'));
  t.notRegex(text({ ...refusedUpstream(0), request: { ...refusedUpstream(0).request, url: '/dav/' } }, 'Summary'), /^ {2}upstream /m);
});

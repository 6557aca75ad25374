import test from 'ava';
import { gunzipSync } from 'node:zlib';
import { bodyModeLabel, bodyModes, effectiveBodyMode, nextBodyMode, renderBodyAs, renderTab, tabLabels } from '../../ui/detail-model.js';
import { gzipPropfind, plainGet, propfindWithFailures } from './flows.js';

const text = (lines: { text: string }[]) => lines.map((l) => l.text).join('\n');

test('the hex view: 16 bytes a line with hex offsets, the bytes and their ASCII', (t) => {
  const bytes = Buffer.from(Array.from({ length: 40 }, (_, i) => i + 0x41));
  const lines = renderBodyAs(bytes, 'hex').map((l) => l.text);
  t.is(lines[0], '40 bytes, hex:');
  t.is(lines.length, 4);
  t.is(lines[1], '00000000  41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50  ABCDEFGHIJKLMNOP');
  t.regex(lines[2]!, /^00000010 {2}51 52 /);
  t.is(lines[3], '00000020  61 62 63 64 65 66 67 68                          abcdefgh');
});

test('the text view shows the characters as they are; pretty indents the XML', (t) => {
  const xml = Buffer.from('<a><b>x</b></a>\r\nline 2');
  t.deepEqual(renderBodyAs(xml, 'text').map((l) => l.text), ['<a><b>x</b></a>␍', 'line 2']);
  const pretty = text(renderBodyAs(Buffer.from('<a><b>x</b></a>'), 'pretty', { contentType: 'application/xml', wellFormed: true }));
  t.regex(pretty, /<a>\n +<b>x<\/b>\n<\/a>/);
  // Binary bytes have no text view: hex instead, said so.
  t.regex(text(renderBodyAs(Buffer.from([0, 1, 2]), 'text')), /no text view.*\n00000000 {2}00 01 02/);
});

test('a gzip response: the decoded copy in pretty, text and hex, the wire bytes in the wire view', (t) => {
  const flow = gzipPropfind(0);
  t.deepEqual(bodyModes(flow, 'Response'), ['pretty', 'text', 'hex', 'wire']);
  t.deepEqual(bodyModes(plainGet(0), 'Response'), ['pretty', 'text', 'hex']);
  t.deepEqual(bodyModes(flow, 'Raw'), ['text', 'hex']);
  t.deepEqual(bodyModes(flow, 'Summary'), []);
  const wire = text(renderTab(flow, 'Response', { bodyMode: 'wire' }));
  // gzip's magic bytes 1f 8b at offset 0, and no decoded XML.
  t.regex(wire, /^00000000 {2}1f 8b 08/m);
  t.notRegex(wire, /<D:href>/);
  t.regex(wire, /the gzip bytes as relayed/);
  const decoded = text(renderTab(flow, 'Response', { bodyMode: 'pretty' }));
  t.regex(decoded, /<D:href>\/dav\/zipped\/<\/D:href>/);
  t.notRegex(decoded, /^00000000 {2}1f 8b/m);
  t.regex(text(renderTab(flow, 'Response', { bodyMode: 'hex' })), /^00000000 {2}3c 3f 78 6d 6c/m, 'hex of the decoded copy: "<?xml"');
  // The wire bytes shown are the ones recorded: they decode back to the decoded copy.
  t.deepEqual(gunzipSync(flow.response!.body.bytes), flow.response!.decoded!.bytes);
  t.is(bodyModeLabel(flow, 'Response', 'wire'), 'wire gzip');
  t.is(bodyModeLabel(flow, 'Response', undefined), 'pretty, decoded gzip');
  t.is(tabLabels(flow, { tab: 'Response', bodyMode: 'hex' }).Response, 'Response [hex, decoded gzip]');
  t.is(tabLabels(flow, { tab: 'Summary', bodyMode: 'hex' }).Response, 'Response');
});

test('m cycles the views a tab offers; a mode a tab lacks falls back to its default', (t) => {
  const flow = gzipPropfind(0);
  t.is(nextBodyMode(flow, 'Response', undefined), 'text');
  t.is(nextBodyMode(flow, 'Response', 'hex'), 'wire');
  t.is(nextBodyMode(flow, 'Response', 'wire'), 'pretty');
  t.is(nextBodyMode(plainGet(0), 'Response', 'hex'), 'pretty');
  t.is(effectiveBodyMode(flow, 'Raw', 'pretty'), 'text');
  t.is(effectiveBodyMode(flow, 'Request', 'wire'), 'pretty');
  t.is(nextBodyMode(flow, 'Findings', undefined), null);
  // The Raw tab in hex shows both bodies as hex.
  const raw = text(renderTab(propfindWithFailures(0), 'Raw', { bodyMode: 'hex' }));
  t.regex(raw, /^00000000 {2}3c 3f 78 6d 6c/m);
  t.notRegex(raw, /^<\?xml/m);
});

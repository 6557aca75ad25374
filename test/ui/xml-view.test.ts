import test from 'ava';
import { indentXml, positionOf, renderXmlBody, validatorLimit } from '../../ui/xml-view.js';

const wellFormed = '<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response></D:multistatus>';

test('a well-formed body is pretty-printed, one element per line, indented', (t) => {
  const view = renderXmlBody(wellFormed);
  t.is(view.mode, 'pretty');
  const lines = view.lines.map((l) => l.text);
  t.true(lines.includes('    <D:href>/a</D:href>'), lines.join('\n'));
  t.true(lines.includes('  <D:response>'));
  t.deepEqual(view.marks, []);
});

test('entities are shown as written, never expanded', (t) => {
  const xml = '<!DOCTYPE m [<!ENTITY x "EXPANDED">]><m><h>&x; &amp;</h></m>';
  const text = renderXmlBody(xml).lines.map((l) => l.text).join('\n');
  t.false(text.includes('EXPANDED</h>'));
  t.true(text.includes('&x;'));
});

test('a mismatched tag is shown raw with line numbers and a caret under the error column', (t) => {
  const xml = '<?xml version="1.0"?>\n<m>\n  <a>text</b>\n</m>\n';
  const view = renderXmlBody(xml);
  t.is(view.mode, 'raw');
  t.is(view.marks.length, 1);
  t.is(view.marks[0]!.line, 3);
  const errorLine = view.lines.findIndex((l) => l.style === 'error');
  t.is(view.lines[errorLine]!.text, '3 |   <a>text</b>');
  const caret = view.lines[errorLine + 1]!;
  t.is(caret.style, 'mark');
  t.regex(caret.text, /^ {2}\| +\^ .*line 3, column \d+/);
  // The caret sits under the column the validator named.
  t.is(caret.text.indexOf('^') - '3 | '.length, view.marks[0]!.column - 1);
});

test('a truncated body is marked at its end with the elements left open', (t) => {
  const cut = wellFormed.slice(0, wellFormed.indexOf('</D:href>') + '</D:href>'.length);
  const view = renderXmlBody(cut);
  t.is(view.mode, 'raw');
  t.is(view.marks[0]!.line, 1);
  t.is(view.marks[0]!.column, cut.length + 1);
  t.regex(view.marks[0]!.message, /body ends inside <D:multistatus> > <D:response>$/);
});

test('a body cut in the middle of a tag is marked at its last character', (t) => {
  const cut = wellFormed.slice(0, wellFormed.indexOf('</D:href>') + 4);
  const view = renderXmlBody(cut);
  t.is(view.mode, 'raw');
  t.deepEqual([view.marks[0]!.line, view.marks[0]!.column], [1, cut.length + 1]);
});

test('a one-line body is wrapped so that the caret stays visible', (t) => {
  const long = '<m>' + '<r>x</r>'.repeat(500) + '<bad></m>';
  const view = renderXmlBody(long, { wrap: 100 });
  t.is(view.mode, 'raw');
  t.true(view.lines.filter((l) => l.style !== 'mark').every((l) => l.text.length <= 100 + 10), 'no line wider than the wrap plus the gutter');
  const caretIndex = view.lines.findIndex((l) => l.style === 'mark');
  t.true(caretIndex > 0);
  const segment = view.lines[caretIndex - 1]!.text;
  const at = view.lines[caretIndex]!.text.indexOf('^');
  t.true(segment.length >= at, 'the caret points into the segment above it');
});

test('analyzer positions win over the validator and force the raw view', (t) => {
  const view = renderXmlBody(wellFormed, { marks: [{ offset: wellFormed.indexOf('<D:href>'), message: 'MS304 href points inward' }] });
  t.is(view.mode, 'raw');
  t.deepEqual(view.marks, [{ line: 1, column: wellFormed.indexOf('<D:href>') + 1, message: 'MS304 href points inward' }]);
});

test('byte offsets become 1-based lines and columns', (t) => {
  t.deepEqual(positionOf('ab\ncd\nef', 0), { line: 1, column: 1 });
  t.deepEqual(positionOf('ab\ncd\nef', 4), { line: 2, column: 2 });
  t.deepEqual(positionOf('ab\ncd\nef', 8), { line: 3, column: 3 });
});

test('huge bodies are capped for display but a mark past the cap is still shown', (t) => {
  const xml = '<m>\n' + '<r>x</r>\n'.repeat(3000) + '<r>&bogus</r>\n</m>';
  const view = renderXmlBody(xml, { maxLines: 100 });
  t.true(view.lines.length < 120);
  t.true(view.lines.some((l) => l.style === 'mark'));
  t.true(view.lines.some((l) => /lines not shown/.test(l.text)));
});

test('an empty body says so', (t) => {
  t.is(renderXmlBody('').mode, 'empty');
});

test('the one-pass indenter lays a 207 out exactly as the fast-xml-parser pretty view does', async (t) => {
  const { propfindWithFailures, deleteLocked } = await import('./flows.js');
  for (const flow of [propfindWithFailures(0, 7), deleteLocked(0)]) {
    const text = flow.response!.body.bytes.toString('utf8');
    const viaParser = renderXmlBody(text);
    t.is(viaParser.mode, 'pretty');
    t.deepEqual(indentXml(text).map((l) => l.text), viaParser.lines.map((l) => l.text));
  }
});

test('the indenter keeps text on its element\'s line, comments and CDATA whole, and ">" inside attribute values', (t) => {
  const xml = '<m a="x>y"><!-- a\ncomment --><h>/a</h><e/><c><![CDATA[<raw>]]></c><p>\n  </p></m>';
  t.deepEqual(indentXml(xml).map((l) => l.text), ['<m a="x>y">', '  <!-- a comment -->', '  <h>/a</h>', '  <e/>', '  <c>', '    <![CDATA[<raw>]]>', '  </c>', '  <p></p>', '</m>']);
});

test('a large body is indented only when the analyzer vouched for it, and only as far as shown', (t) => {
  const big = '<?xml version="1.0"?>\n<m>' + '<r><h>/x</h></r>'.repeat(20_000) + '</m>';
  t.true(big.length > validatorLimit);
  const vouched = renderXmlBody(big, { knownWellFormed: true, maxLines: 500 });
  t.is(vouched.mode, 'pretty');
  t.is(vouched.lines[2]!.text, '  <r>');
  t.is(vouched.lines[3]!.text, '    <h>/x</h>');
  t.true(vouched.lines.length <= 501);
  t.regex(vouched.lines.at(-1)!.text, /the rest of the body is not shown/);
  const unknown = renderXmlBody(big, { maxLines: 500 });
  t.is(unknown.mode, 'raw');
  t.regex(unknown.lines[0]!.text, /not known to be well-formed/);
});

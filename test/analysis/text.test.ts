// Bytes to text: encoding sources (RFC 7303 §3.2), invalid UTF-8 and illegal characters located
// by byte offset, bytes before the XML declaration.
import test from 'ava';
import { TextStage, firstInvalidUtf8 } from '../../src/analysis/text.js';

function decode(bytes: Buffer, charset?: string, step = bytes.length) {
  const parts: { text: string; offset: number; length: number }[] = [];
  const s = new TextStage(charset, (text, offset, length) => parts.push({ text, offset, length }));
  for (let i = 0; i < bytes.length; i += step) s.write(bytes.subarray(i, i + step));
  s.end();
  return { facts: s.facts, text: parts.map((p) => p.text).join(''), parts };
}

test('a UTF-8 body decodes the same whatever the split, with offsets and lengths that add up', (t) => {
  const body = Buffer.from('<?xml version="1.0" encoding="utf-8"?><a>ü € 😀 ' + 'x'.repeat(3000) + '</a>');
  for (const step of [1, 2, 3, 1500]) {
    const r = decode(body, 'utf-8', step);
    t.is(r.text, body.toString());
    let at = 0;
    for (const p of r.parts) {
      t.is(p.offset, at);
      t.is(Buffer.byteLength(p.text), p.length);
      at += p.length;
    }
  }
});

test('invalid UTF-8 is located by byte offset, and each bad byte becomes one "?" so offsets stay exact', (t) => {
  const body = Buffer.concat([Buffer.from('<a>ok '), Buffer.from([0xc3, 0x28]), Buffer.from(' ü '), Buffer.from([0xff]), Buffer.from('</a>')]);
  for (const step of [1, 4, 100]) {
    const r = decode(body, undefined, step);
    t.deepEqual(r.facts.invalidUtf8, { offset: 6, hex: 'c32820c3', count: 2 });
    t.is(Buffer.byteLength(r.text), body.length);
  }
  t.is(firstInvalidUtf8(Buffer.from([0xe2, 0x82]), false), -1);
  t.is(firstInvalidUtf8(Buffer.from([0xe2, 0x82]), true), 0);
  t.is(firstInvalidUtf8(Buffer.from([0xc0, 0x80]), true), 0);
  t.is(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]), true), 0);
});

test('illegal XML characters are found with their code point and byte offset', (t) => {
  const r = decode(Buffer.from('<a>é\uFFFE\u0001</a>'));
  t.deepEqual(r.facts.illegalChar, { offset: 5, codePoint: 'U+FFFE', count: 2 });
  t.is(decode(Buffer.from('<a>\t\n\r 😀</a>')).facts.illegalChar, undefined);
});

test('encoding sources: BOM, charset parameter and declaration compared; the BOM wins', (t) => {
  const decl = (enc: string) => Buffer.from(`<?xml version="1.0" encoding="${enc}"?><a/>`);
  t.false(decode(decl('UTF-8'), '"utf-8"').facts.disagreement);
  t.false(decode(decl('utf-8'), 'us-ascii').facts.disagreement);
  const clash = decode(decl('utf-8'), 'iso-8859-1');
  t.true(clash.facts.disagreement);
  t.is(clash.facts.applied, 'iso-8859-1');
  const bom = decode(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), decl('iso-8859-1')]), 'iso-8859-1');
  t.is(bom.facts.bom, 'utf-8');
  t.is(bom.facts.applied, 'utf-8');
  const utf16 = decode(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<a>x</a>', 'utf16le')]));
  t.is(utf16.facts.applied, 'utf-16le');
  t.is(utf16.text, '<a>x</a>');
});

test('bytes before <?xml are reported and skipped, a second BOM is noticed', (t) => {
  const r = decode(Buffer.from('  PHP Notice: x\n<?xml version="1.0"?><a/>'));
  t.deepEqual(r.facts.leadingJunk, { bytes: 16, hex: Buffer.from('  PHP Notice: x\n').toString('hex'), text: '  PHP Notice: x\n' });
  t.true(r.text.startsWith('<?xml'));
  t.is(r.parts[0]!.offset, 16);
  t.true(decode(Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x3c, 0x61, 0x2f, 0x3e])).facts.doubleBom);
  t.is(decode(Buffer.from('\n<a/>')).facts.leadingJunk, undefined);
});

test('ASCII chunks followed by one that starts with U+FEFF: the character is kept, as in one write', (t) => {
  // ASCII chunks are read without a TextDecoder; the one made later for the non-ASCII chunk must
  // not take that chunk's first character for a byte order mark.
  const prefix = '<?xml version="1.0" encoding="utf-8"?><a>' + 'x'.repeat(2048 - 41);
  const body = Buffer.from(prefix + '\uFEFFü</a>');
  t.is(Buffer.byteLength(prefix), 2048);
  const whole = decode(body, 'utf-8');
  const split = decode(body, 'utf-8', 2048);
  t.is(whole.text, body.toString());
  t.is(split.text, whole.text);
  t.is(split.facts.chars, whole.facts.chars);
  const last = split.parts.at(-1)!;
  t.is(Buffer.byteLength(last.text), last.length);
});

test('a UTF-8 byte order mark at the very start is still consumed when the rest is ASCII or not', (t) => {
  for (const rest of ['<?xml version="1.0"?><a>x</a>', '<?xml version="1.0"?><a>ü</a>']) {
    const r = decode(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(rest)]), undefined, 5);
    t.is(r.facts.bom, 'utf-8');
    t.is(r.text, rest);
    t.is(r.parts[0]!.offset, 3);
  }
});

test('a text is called clean only when it holds no C0 control, surrogate or U+FFFE/U+FFFF, whatever the split', (t) => {
  // eslint-disable-next-line no-control-regex
  const maybeIllegal = /[\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;
  const head = '<?xml version="1.0" encoding="utf-8"?><a>' + 'x'.repeat(1100);
  const cases = ['plain ascii', 'tab\tand\r\nline ends', 'a C0 \u0001 control', 'caf\u00e9 \u20ac', 'an emoji \ud83d\ude00', 'U+FFFE \ufffe', 'U+FFFF \uffff', 'U+FFFD \ufffd and U+F000 \uf000', 'BOM \ufeff inside'];
  for (const tail of cases) {
    const body = Buffer.from(`${head}${tail}</a>`);
    for (const step of [body.length, 1100, 1103, 7, 1]) {
      const parts: { text: string; clean: boolean }[] = [];
      const s = new TextStage('utf-8', (text, _o, _l, clean) => parts.push({ text, clean }));
      for (let i = 0; i < body.length; i += step) s.write(body.subarray(i, i + step));
      s.end();
      for (const p of parts) {
        // Never clean when it is not; clean whenever the characters allow it.
        t.is(p.clean, !maybeIllegal.test(p.text), `${JSON.stringify(tail)} in ${step}-byte writes: ${JSON.stringify(p.text.slice(-20))}`);
      }
    }
  }
});

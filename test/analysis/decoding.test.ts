// Content-Encoding decoded synchronously as bytes arrive: gzip, deflate, br; truncation and CRC
// errors; gzip sniffed where none was declared.
import test from 'ava';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { ContentDecoder } from '../../src/analysis/decoding.js';

// Varied enough that every codec produces many blocks of output.
const text = Buffer.from('<a>' + Array.from({ length: 20_000 }, (_v, i) => (i * 7919).toString(36)).join(' ') + '</a>');

function decode(declared: string[], bytes: Buffer, step = 4096) {
  const out: Buffer[] = [];
  const d = new ContentDecoder(declared, (b) => out.push(Buffer.from(b)));
  for (let i = 0; i < bytes.length; i += step) d.write(bytes.subarray(i, i + step));
  d.end();
  return { facts: d.facts, body: Buffer.concat(out) };
}

test('gzip, x-gzip, deflate and br decode to the original bytes in any write size', (t) => {
  for (const [name, bytes] of [['gzip', gzipSync(text)], ['x-gzip', gzipSync(text)], ['deflate', deflateSync(text)], ['br', brotliCompressSync(text)]] as const) {
    for (const step of [1, 1000, 1 << 20]) {
      const r = decode([name], bytes, step);
      t.true(r.body.equals(text), `${name} step ${step}`);
      t.true(r.facts.finished);
      t.is(r.facts.error, undefined);
    }
  }
});

test('a truncated stream and a CRC mismatch are errors, and what decoded before them is kept', (t) => {
  const gz = gzipSync(text);
  const cut = decode(['gzip'], gz.subarray(0, gz.length - 8));
  t.regex(cut.facts.error!, /unexpected end/);
  t.true(cut.body.length > text.length / 2);
  const crc = Buffer.from(gz);
  crc[crc.length - 6]! ^= 0xff;
  const bad = decode(['gzip'], crc);
  t.regex(bad.facts.error!, /incorrect data check/);
  t.true(bad.body.equals(text));
  const brotli = brotliCompressSync(text);
  const br = decode(['br'], brotli.subarray(0, brotli.length >> 1));
  t.truthy(br.facts.error);
});

test('gzip bytes without Content-Encoding are sniffed and decoded; identity passes through; unknown codings are not decoded', (t) => {
  const sniffed = decode([], gzipSync(text), 1);
  t.true(sniffed.facts.sniffedGzip);
  t.true(sniffed.body.equals(text));
  const plain = decode(['identity'], text);
  t.is(plain.facts.applied, 'identity');
  t.true(plain.body.equals(text));
  const zstd = decode(['zstd'], text);
  t.is(zstd.facts.unsupported, 'zstd');
  t.is(zstd.body.length, 0);
});

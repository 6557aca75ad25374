// Content-Encoding decoded synchronously as bytes arrive: gzip, deflate, br; truncation and CRC
// errors; gzip sniffed where none was declared.
import test from 'ava';
import { brotliCompressSync, constants, deflateSync, gzipSync } from 'node:zlib';
import { analyze } from '../../src/analysis/analyzer.js';
import { ContentDecoder } from '../../src/analysis/decoding.js';
import { gzipBomb } from '../helpers/gzip-bomb.js';

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

test('halt() stops gzip, deflate and br where the consumer stopped reading: the rest is not decoded, and its end is no error', (t) => {
  const MiB = 1024 * 1024;
  const zeros = Buffer.alloc(16 * MiB);
  const br = brotliCompressSync(zeros, { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } });
  for (const [name, bytes] of [['gzip', gzipBomb(256)], ['deflate', deflateSync(zeros)], ['br', br]] as const) {
    let got = 0;
    let atHalt = -1;
    const d = new ContentDecoder([name], (b) => {
      t.is(atHalt, -1, `${name}: output after the halt`);
      got += b.length;
      if (got >= MiB) {
        d.halt();
        atHalt = d.facts.decodedBytes;
      }
    });
    // One write holding the whole stream (a whole br bomb is only held back until the end).
    d.write(bytes);
    d.write(bytes.subarray(0, 16));
    d.end();
    t.true(got >= MiB, name);
    // Output goes on in pieces of at most a few MiB, so the halt takes effect within one piece.
    t.true(d.facts.decodedBytes <= 5 * MiB, `${name}: ${d.facts.decodedBytes} bytes decoded`);
    t.is(d.facts.decodedBytes, atHalt, name);
    t.true(d.facts.halted, name);
    t.false(d.facts.finished, name);
    t.is(d.facts.error, undefined, name);
  }
});

test('an analysis stopped by a limit stops decoding too: a 2 GiB gzip bomb costs what its first bytes cost', (t) => {
  const bomb = gzipBomb(2048);
  const before = process.cpuUsage();
  const analysis = analyze(
    { method: 'PROPFIND', target: '/dav/', rawHeaders: ['Depth', '1'] },
    { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml', 'Content-Encoding', 'gzip', 'Content-Length', String(bomb.length)], bodyForm: 'payload' },
    bomb,
    { outcome: 'complete' },
    { maxBodyBytes: 64 * 1024 },
  );
  const used = process.cpuUsage(before);
  const seconds = (used.user + used.system) / 1e6;
  const limit = analysis.findings.find((f) => f.rule === 'MS703');
  t.is(limit?.evidence.limit, 'maxBodyBytes', JSON.stringify(analysis.findings.map((f) => f.rule)));
  t.false(analysis.findings.some((f) => f.category === 'truncation'), JSON.stringify(analysis.findings.map((f) => f.rule)));
  // Inflating all 2 GiB takes 3–4 s of CPU here; the first blocks take milliseconds.
  t.true(seconds < 1, `${seconds.toFixed(2)} s of CPU`);
});

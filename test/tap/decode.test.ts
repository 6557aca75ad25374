// The decoded copy of a content-coded body: complete up to the capture cap, and stopped there, so
// that a small compressed body inflating to gigabytes costs no more than the cap's worth.
import test from 'ava';
import zlib from 'node:zlib';
import { DecodedCopy, type DecodableEncoding } from '../../src/tap/decode.js';
import { gzipBomb } from '../helpers/gzip-bomb.js';

const MiB = 1024 * 1024;

async function decodeCopy(encoding: DecodableEncoding, cap: number, body: Buffer, complete = true, sink?: (chunk: Buffer) => void) {
  const copy = new DecodedCopy(encoding, cap, sink);
  // Written as a relay would: in pieces, without waiting for the decoder.
  for (let at = 0; at < body.length; at += 64 * 1024) copy.write(body.subarray(at, at + 64 * 1024));
  return copy.finish(complete);
}

// Serial: the CPU time measured is the process's, and serial tests run before the others start.
test.serial('a 2 GiB gzip bomb decodes no further than the 1 MiB cap: the copy is capped, and says so', async (t) => {
  const bomb = gzipBomb(2048);
  const before = process.cpuUsage();
  const result = await decodeCopy('gzip', MiB, bomb);
  const used = process.cpuUsage(before);
  const seconds = (used.user + used.system) / 1e6;
  t.is(result.body.bytes.length, MiB);
  t.true(result.body.bytes.every((b) => b === 0));
  t.false(result.body.captureComplete);
  // What was decoded before the stop: the cap and at most a few of zlib's output chunks past it.
  t.true(result.body.bytesSeen > MiB && result.body.bytesSeen < 2 * MiB, String(result.body.bytesSeen));
  t.is(result.error, 'decoded copy stopped at the 1 MiB capture cap; the rest was relayed but not decoded');
  // Inflating all 2 GiB takes 3–4 s of CPU here.
  t.true(seconds < 1, `${seconds.toFixed(2)} s of CPU`);
});

test('deflate and br bombs stop at the cap too (br packs 64 MiB of zeros into about 100 bytes)', async (t) => {
  const zeros = Buffer.alloc(8 * MiB);
  const br = zlib.brotliCompressSync(zeros, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } });
  for (const [encoding, body] of [['deflate', zlib.deflateSync(zeros, { level: 1 })], ['br', br]] as const) {
    const result = await decodeCopy(encoding, 256 * 1024, body);
    t.false(result.body.captureComplete, encoding);
    t.true(result.body.bytesSeen < MiB, `${encoding}: ${result.body.bytesSeen}`);
    t.regex(result.error ?? '', /stopped at the 256 KiB capture cap/, encoding);
  }
});

test('a body of exactly the cap is complete, and one byte more is capped', async (t) => {
  const text = Buffer.from('<D:multistatus xmlns:D="DAV:"/>\n'.repeat(4096));
  const exact = await decodeCopy('gzip', text.length, zlib.gzipSync(text));
  t.true(exact.body.captureComplete);
  t.true(exact.body.bytes.equals(text));
  t.is(exact.error, undefined);
  const over = await decodeCopy('gzip', text.length - 1, zlib.gzipSync(text));
  t.false(over.body.captureComplete);
  t.true(over.body.bytes.equals(text.subarray(0, text.length - 1)));
  t.regex(over.error ?? '', /capture cap/);
});

test('with a sink, the sink gets exactly the first cap bytes of a bomb and the result holds none', async (t) => {
  const got: Buffer[] = [];
  const result = await decodeCopy('gzip', 300_000, gzipBomb(64), true, (chunk) => got.push(Buffer.from(chunk)));
  t.is(Buffer.concat(got).length, 300_000);
  t.is(result.body.bytes.length, 0);
  t.false(result.body.captureComplete);
  t.regex(result.error ?? '', /stopped at the 300000-byte capture cap/);
});

test('a corrupt body below the cap is still a decoding error, not a capped copy', async (t) => {
  const gz = zlib.gzipSync(Buffer.from('<a/>'.repeat(10_000)));
  const bad = Buffer.from(gz);
  bad[bad.length - 6]! ^= 0xff;
  const corrupt = await decodeCopy('gzip', MiB, bad);
  t.regex(corrupt.error ?? '', /^gzip decoding failed: incorrect data check/);
  t.true(corrupt.body.captureComplete);
});

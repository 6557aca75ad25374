// Transfer framing of raw captures: de-chunking, Content-Length accounting, desync bytes.
import test from 'ava';
import { Deframer } from '../../src/analysis/framing.js';

function run(headers: string[], wire: Buffer, step = wire.length) {
  const out: Buffer[] = [];
  const d = new Deframer(headers, 'wire', false, (b) => out.push(Buffer.from(b)));
  for (let i = 0; i < wire.length; i += step) d.write(wire.subarray(i, i + step));
  return { facts: d.finish(), payload: Buffer.concat(out).toString(), state: d.chunkState };
}

test('chunked bodies are de-chunked whatever the write size, extensions and trailers included', (t) => {
  const wire = Buffer.from('5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n');
  for (const step of [1, 3, 100]) {
    const r = run(['Transfer-Encoding', 'chunked'], wire, step);
    t.is(r.payload, 'hello world');
    t.true(r.facts.sawLastChunk);
    t.is(r.facts.chunkCount, 2);
    t.is(r.facts.chunkError, undefined);
  }
});

test('a missing last chunk, a bad size line and data longer than its size are reported where they happen', (t) => {
  const cut = run(['Transfer-Encoding', 'chunked'], Buffer.from('5\r\nhello\r\n6\r\n wo'));
  t.false(cut.facts.sawLastChunk);
  t.regex(cut.state, /inside a chunk, 3 bytes of it missing/);
  const bad = run(['Transfer-Encoding', 'chunked'], Buffer.from('5\r\nhello\r\nzz\r\n'));
  t.regex(bad.facts.chunkError!.what, /invalid chunk-size line "zz"/);
  t.is(bad.facts.chunkError!.offset, 10);
  const long = run(['Transfer-Encoding', 'chunked'], Buffer.from('3\r\nhello\r\n0\r\n\r\n'));
  t.regex(long.facts.chunkError!.what, /longer than its size/);
  t.is(long.facts.chunkError!.offset, 6);
  const lf = run(['Transfer-Encoding', 'chunked'], Buffer.from('5\nhello\r\n0\r\n\r\n'));
  t.regex(lf.facts.chunkError!.what, /CRLF/);
});

test('Content-Length bodies: shortfall counted, surplus bytes kept apart, conflicting headers recorded', (t) => {
  const short = run(['Content-Length', '10'], Buffer.from('hello'));
  t.is(short.facts.declaredLength, 10);
  t.is(short.facts.payloadBytes, 5);
  const extra = run(['Content-Length', '5'], Buffer.from('helloHTTP/1.1'));
  t.is(extra.payload, 'hello');
  t.is(extra.facts.surplusBytes, 8);
  t.is(extra.facts.surplusHex, Buffer.from('HTTP/1.1').toString('hex'));
  const both = run(['Content-Length', '5', 'Transfer-Encoding', 'chunked'], Buffer.from('5\r\nhello\r\n0\r\n\r\n'));
  t.is(both.facts.framing, 'chunked');
  t.is(both.payload, 'hello');
  const differing = run(['Content-Length', '5', 'Content-Length', '6'], Buffer.from('hello'));
  t.is(differing.facts.declaredLength, null);
  t.is(differing.facts.framing, 'close-delimited');
  t.is(run([], Buffer.from('abc')).facts.framing, 'close-delimited');
});

test('the last 256 payload bytes are kept for evidence', (t) => {
  const body = Buffer.alloc(1000, 'a');
  body.write('END', 997);
  const r = run(['Content-Length', '2000'], body, 7);
  t.is(r.facts.tail.length, 256);
  t.is(Buffer.from(r.facts.tail).subarray(-3).toString(), 'END');
});

// The raw relay's HTTP/1 reading: heads, framing decisions (strict where two readings could
// differ), and body framing at every split of the input.
import test from 'ava';
import {
  BodyFramer,
  headEnd,
  parseRequestHead,
  parseResponseHead,
  persistent,
  requestBodyPlan,
  responseBodyPlan,
  WireError,
  type BodyPlan,
} from '../../src/http/message.js';

const head = (s: string) => {
  const buf = Buffer.from(s, 'latin1');
  return { buf, end: headEnd(buf, 0) };
};

test('a request head keeps names, case, order and repeated fields', (t) => {
  const { buf, end } = head('PROPFIND /dav/a%2Fb?x=1#f HTTP/1.1\r\nHost: h\r\nDepth:1\r\nX-Dup: a\r\nx-dup:  b \r\n\r\nBODY');
  t.is(end, buf.length - 4);
  t.deepEqual(parseRequestHead(buf, 0, end), {
    method: 'PROPFIND',
    target: '/dav/a%2Fb?x=1#f',
    version: '1.1',
    rawHeaders: ['Host', 'h', 'Depth', '1', 'X-Dup', 'a', 'x-dup', 'b'],
  });
});

test('an incomplete head waits; an oversized one is refused with Node\'s code', (t) => {
  t.is(headEnd(Buffer.from('GET / HTTP/1.1\r\nHost: h\r\n'), 0), -1);
  const big = Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(17 * 1024)}`);
  t.is(t.throws(() => headEnd(big, 0), { instanceOf: WireError })!.code, 'HPE_HEADER_OVERFLOW');
});

test('malformed request heads are refused with a code that says why', (t) => {
  const code = (s: string) => {
    const { buf, end } = head(s);
    try {
      parseRequestHead(buf, 0, end);
      requestBodyPlan(parseRequestHead(buf, 0, end).rawHeaders);
      return 'accepted';
    } catch (err) {
      return (err as WireError).code;
    }
  };
  t.is(code('ORDER@PATCH / HTTP/1.1\r\n\r\n'), 'HPE_INVALID_METHOD');
  t.is(code('GET / HTTP/2.0\r\n\r\n'), 'HPE_INVALID_VERSION');
  t.is(code('GET /\r\n\r\n'), 'HPE_INVALID_CONSTANT');
  t.is(code('GET / HTTP/1.1\r\nBad Name: x\r\n\r\n'), 'HPE_INVALID_HEADER_TOKEN');
  t.is(code('GET / HTTP/1.1\r\nHost : x\r\n\r\n'), 'HPE_INVALID_HEADER_TOKEN');
  t.is(code('GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n'), 'HPE_INVALID_HEADER_TOKEN', 'obs-fold in a request');
  t.is(code('PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n'), 'HPE_UNEXPECTED_CONTENT_LENGTH');
  t.is(code('PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n'), 'HPE_INVALID_TRANSFER_ENCODING');
  t.is(code('PUT / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n'), 'HPE_INVALID_TRANSFER_ENCODING');
  t.is(code('PUT / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n'), 'HPE_INVALID_CONTENT_LENGTH');
  t.is(code('PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n'), 'HPE_INVALID_CONTENT_LENGTH');
  t.is(code('PUT / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n'), 'accepted', 'repeated equal lengths are one length');
  t.is(code('X-MS-ENUMATTS! /r HTTP/1.0\r\n\r\n'), 'accepted');
});

test('framing decisions follow RFC 9112 §6.3', (t) => {
  const plan = (raw: string[], status = 200, method = 'GET') => responseBodyPlan(raw, status, method);
  t.deepEqual(plan(['Content-Length', '5'], 200, 'HEAD'), { framing: 'none', length: 0 });
  t.deepEqual(plan(['Content-Length', '5'], 304), { framing: 'none', length: 0 });
  t.deepEqual(plan(['Content-Length', '5'], 204), { framing: 'none', length: 0 });
  t.deepEqual(plan(['Transfer-Encoding', 'gzip, chunked', 'Content-Length', '5']), { framing: 'chunked', length: 0 });
  t.deepEqual(plan(['Transfer-Encoding', 'gzip']), { framing: 'close-delimited', length: 0 });
  t.deepEqual(plan(['Content-Length', '0']), { framing: 'content-length', length: 0 });
  t.deepEqual(plan([]), { framing: 'close-delimited', length: 0 });
  t.deepEqual(requestBodyPlan([]), { framing: 'none', length: 0 });
  t.deepEqual(requestBodyPlan(['transfer-encoding', 'Chunked']), { framing: 'chunked', length: 0 });
});

test('persistence by version and Connection tokens', (t) => {
  t.true(persistent('1.1', []));
  t.false(persistent('1.1', ['Connection', 'foo, Close']));
  t.false(persistent('1.0', []));
  t.true(persistent('1.0', ['connection', 'keep-alive']));
});

test('a response head: status, reason (possibly empty), unfolded obs-fold', (t) => {
  const { buf, end } = head('HTTP/1.1 207 Multi-Status\r\nX: a\r\n  b\r\n\r\n');
  t.deepEqual(parseResponseHead(buf, 0, end), { version: '1.1', status: 207, reason: 'Multi-Status', rawHeaders: ['X', 'a b'] });
  const bare = head('HTTP/1.0 200\r\n\r\n');
  t.deepEqual(parseResponseHead(bare.buf, 0, bare.end), { version: '1.0', status: 200, reason: '', rawHeaders: [] });
  const bad = head('HTTP/1.1 2000 OK\r\n\r\n');
  t.is(t.throws(() => parseResponseHead(bad.buf, 0, bad.end), { instanceOf: WireError })!.code, 'HPE_INVALID_CONSTANT');
});

/** Feeds `wire` in pieces cut at `cuts`; returns the payload, bytes consumed and the framer. */
function frame(plan: BodyPlan, wire: Buffer, cuts: number[]) {
  const f = new BodyFramer(plan);
  const payload: Buffer[] = [];
  let consumed = 0;
  let prev = 0;
  for (const cut of [...cuts, wire.length]) {
    const piece = wire.subarray(prev, cut);
    prev = cut;
    if (f.done || f.error) break;
    consumed += f.feed(piece, 0, (s) => payload.push(Buffer.from(s)));
  }
  return { f, payload: Buffer.concat(payload).toString('latin1'), consumed };
}

test('chunked bodies give the same payload, trailers and end at every split, and stop before the next message', (t) => {
  const body = '5;ext=1\r\nhello\r\n1a\r\n' + 'x'.repeat(26) + '\r\n0\r\nX-Sum: 42\r\n\r\n';
  const wire = Buffer.from(body + 'HTTP/1.1 200 OK\r\n', 'latin1');
  for (let a = 0; a <= body.length; a++) {
    for (const b of [a, Math.min(body.length, a + 1), Math.min(body.length, a + 7)]) {
      const { f, payload, consumed } = frame({ framing: 'chunked', length: 0 }, wire, [a, b]);
      if (payload !== 'hello' + 'x'.repeat(26) || consumed !== body.length || !f.done) {
        t.fail(`split at ${a},${b}: payload '${payload}', consumed ${consumed}, done ${f.done}`);
        return;
      }
      t.deepEqual(f.trailers, ['X-Sum', '42']);
    }
  }
  t.pass();
});

test('bad chunking is an error after the bytes that were valid', (t) => {
  const bad = frame({ framing: 'chunked', length: 0 }, Buffer.from('3\r\nabc\r\nZZ\r\nbroken\r\n0\r\n\r\n'), []);
  t.is(bad.f.error?.code, 'HPE_INVALID_CHUNK_SIZE');
  t.is(bad.payload, 'abc');
  t.is(bad.consumed, '3\r\nabc\r\n'.length, 'the bad line is not consumed');
  const noCrlf = frame({ framing: 'chunked', length: 0 }, Buffer.from('3\r\nabcX\r\n'), []);
  t.is(noCrlf.f.error?.code, 'HPE_STRICT');
  const huge = frame({ framing: 'chunked', length: 0 }, Buffer.from('1234567890abc\r\n'), []);
  t.is(huge.f.error?.code, 'HPE_INVALID_CHUNK_SIZE', 'a size over 12 hex digits');
});

test('content-length bodies end at their length; close-delimited ones take everything', (t) => {
  const cl = frame({ framing: 'content-length', length: 5 }, Buffer.from('helloGET / HTTP/1.1'), [2]);
  t.deepEqual([cl.payload, cl.consumed, cl.f.done], ['hello', 5, true]);
  const open = frame({ framing: 'close-delimited', length: 0 }, Buffer.from('abc'), [1]);
  t.deepEqual([open.payload, open.consumed, open.f.done, open.f.untilClose], ['abc', 3, false, true]);
  t.true(new BodyFramer({ framing: 'none', length: 0 }).done);
  t.true(new BodyFramer({ framing: 'content-length', length: 0 }).done);
});

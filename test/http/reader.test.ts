// The wire core's readers for bytes that are not relayed: findHeadEnd, readResponse (1xx heads
// read once), the header lookups, and what BodyFramer reports about a chunked body it refused.
import test from 'ava';
import { firstHeader, headerFields, headerValues, joinedHeader, withoutHeaders } from '../../src/http/headers.js';
import { BodyFramer, findHeadEnd, readResponse, WireError } from '../../src/http/message.js';

test('findHeadEnd finds CRLF CRLF, and bare LF LF only when asked; it never throws', (t) => {
  t.is(findHeadEnd(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\nbody')), 27);
  t.is(findHeadEnd('GET / HTTP/1.1\r\nHost: a\r\n'), -1);
  t.is(findHeadEnd('HTTP/1.1 200 OK\nA: b\n\nbody'), -1);
  t.is(findHeadEnd('HTTP/1.1 200 OK\nA: b\n\nbody', 0, true), 22);
  t.is(findHeadEnd(Buffer.alloc(100_000, 'a')), -1);
});

test('readResponse skips interim heads once, keeps them, and says where the body starts', (t) => {
  const bytes = Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\n\r\n<x/>');
  const r = readResponse(bytes)!;
  t.deepEqual(r.informational.map((h) => h.status), [100, 102]);
  t.is(r.head.status, 207);
  t.is(r.head.reason, 'Multi-Status');
  t.deepEqual(r.head.rawHeaders, ['Content-Type', 'text/xml']);
  t.is(bytes.subarray(r.bodyStart).toString(), '<x/>');
  t.is(readResponse(Buffer.from('HTTP/1.1 101 Switching Protocols\r\n\r\n'))!.head.status, 101);
  t.is(readResponse(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 207 Multi')), null);
  t.is(readResponse(Buffer.from('HTTP/2 207\nContent-Type: text/xml\n\n<x/>'))!.head.version, '2');
  t.is(t.throws(() => readResponse(Buffer.from('<html>\r\n\r\n')), { instanceOf: WireError })!.code, 'HPE_INVALID_STATUS');
  t.is(t.throws(() => readResponse(Buffer.from('HTTP/1.1 200 OK\r\nno colon\r\n\r\n')), { instanceOf: WireError })!.code, 'HPE_INVALID_HEADER_TOKEN');
});

test('header lookups are case-insensitive and say whether they give the first value, all, or the joined list', (t) => {
  const raw = ['Content-Type', 'text/xml', 'X-A', '1', 'x-a', '2', 'Server', 'nginx'];
  t.is(firstHeader(raw, 'content-type'), 'text/xml');
  t.is(firstHeader(raw, 'X-A'), '1');
  t.deepEqual(headerValues(raw, 'X-a'), ['1', '2']);
  t.is(joinedHeader(raw, 'x-a'), '1, 2');
  t.is(joinedHeader(raw, 'missing'), undefined);
  t.deepEqual(headerFields(raw, 'X-A'), [['X-A', '1'], ['x-a', '2']]);
  t.deepEqual(withoutHeaders(raw, 'x-a', 'SERVER'), ['Content-Type', 'text/xml']);
});

test('BodyFramer counts chunks and says which rule a chunked body broke, where', (t) => {
  const feedAll = (wire: string, step: number) => {
    const f = new BodyFramer({ framing: 'chunked', length: 0 });
    const b = Buffer.from(wire, 'latin1');
    for (let i = 0; i < b.length && !f.error && !f.done; i += step) f.feed(b.subarray(i, i + step), 0, () => {});
    return f;
  };
  for (const step of [1, 5, 1000]) {
    const ok = feedAll('5;x=1\r\nhello\r\n1\r\n!\r\n0\r\nT: 1\r\n\r\n', step);
    t.true(ok.done);
    t.is(ok.chunkCount, 2);
    t.true(ok.sawLastChunk);
    t.is(ok.lastSizeLine, '0');
    t.deepEqual(ok.trailers, ['T', '1']);
    t.deepEqual(feedAll('5\r\nhello\r\nzz\r\n', step).fault, { kind: 'size-line', at: 10, line: 'zz\r\n' });
    t.deepEqual(feedAll('3\r\nhello\r\n', step).fault, { kind: 'data-end', at: 6 });
    t.is(feedAll('5\nhello\r\n', step).fault?.kind, 'line-end');
    t.is(feedAll('0\r\nno colon\r\n\r\n', step).fault?.kind, 'trailer-line');
    // A line too long is refused the same whether it arrives in one piece or several.
    t.is(feedAll(`0\r\nX: ${'a'.repeat(5000)}\r\n\r\n`, step).fault?.kind, 'trailer-line-length');
  }
});

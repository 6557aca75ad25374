// Methods outside Node's parser table (ORDERPATCH, the DeltaV methods, MKREDIRECTREF, any token)
// are relayed in every place davtap serves requests: reverse mode, forward mode (absolute-form),
// and inside CONNECT tunnels (plain and TLS); with bodies of both framings, pipelined, and mixed
// with known methods on one keep-alive connection. Clients are raw sockets, so that exactly these
// bytes, in one write or split, reach davtap.
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { ExecutionContext } from 'ava';
import type { Duplex } from 'node:stream';
import { ensureCa, LeafIssuer } from '../../src/proxy/ca.js';
import { startOrigin, response, type Origin, type RawRequest } from '../helpers/origin.js';
import { startTestProxy, type TestProxy, type TestProxyOptions } from '../helpers/proxy.js';
import { curl } from '../helpers/curl.js';

let caDir = '';
test.before(() => {
  caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-methods-ca-'));
});
test.after.always(() => fs.rmSync(caDir, { recursive: true, force: true }));

const PROPFIND_BODY = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';
/** A body that looks like requests with unknown methods: it must stay body, never be rewritten. */
const LOOKALIKE = 'CHECKIN /x HTTP/1.1\r\nHost: a\r\n\r\nUNCHECKOUT /y HTTP/1.1\r\n\r\n';
const ORDER_BODY = '<D:orderpatch xmlns:D="DAV:"><D:order-member><D:segment>a</D:segment></D:order-member></D:orderpatch>';

interface Sent {
  method: string;
  path: string;
  /** The payload (de-chunked when sent chunked). */
  body: string;
}

/** Five requests, three of them with methods Node does not know, the bodies in both framings. */
function mixedRequests(target: (p: string) => string): { bytes: Buffer; sent: Sent[] } {
  const chunked = (s: string) => `${(12).toString(16)}\r\n${s.slice(0, 12)}\r\n${Buffer.byteLength(s.slice(12)).toString(16)};ext=1\r\n${s.slice(12)}\r\n0\r\nX-Trailer: t\r\n\r\n`;
  const text =
    `PROPFIND ${target('/a/')} HTTP/1.1\r\nHost: h\r\nDepth: 0\r\nContent-Length: ${PROPFIND_BODY.length}\r\n\r\n${PROPFIND_BODY}` +
    `\r\nVERSION-CONTROL ${target('/b')} HTTP/1.1\r\nHost: h\r\n\r\n` +
    `ORDERPATCH ${target('/c/')} HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\n\r\n${chunked(ORDER_BODY)}` +
    `MKREDIRECTREF ${target('/d')} HTTP/1.1\r\nHost: h\r\ncontent-length: ${LOOKALIKE.length}\r\n\r\n${LOOKALIKE}` +
    `GET ${target('/e')} HTTP/1.1\r\nHost: h\r\n\r\n`;
  return {
    bytes: Buffer.from(text, 'latin1'),
    sent: [
      { method: 'PROPFIND', path: '/a/', body: PROPFIND_BODY },
      { method: 'VERSION-CONTROL', path: '/b', body: '' },
      { method: 'ORDERPATCH', path: '/c/', body: ORDER_BODY },
      { method: 'MKREDIRECTREF', path: '/d', body: LOOKALIKE },
      { method: 'GET', path: '/e', body: '' },
    ],
  };
}

function dechunk(raw: Buffer): string {
  let out = '';
  let at = 0;
  for (let guard = 0; guard < 1000; guard++) {
    const eol = raw.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(raw.subarray(at, eol).toString('latin1').split(';')[0]!, 16);
    if (!size) break;
    out += raw.subarray(eol + 2, eol + 2 + size).toString('latin1');
    at = eol + 2 + size + 2;
  }
  return out;
}

function payloadOf(req: RawRequest): string {
  return /chunked/i.test(req.headers['transfer-encoding'] ?? '') ? dechunk(req.body) : req.body.toString('latin1');
}

/** An origin that answers each request with its method and payload length. */
async function echoOrigin(t: ExecutionContext): Promise<Origin> {
  const origin = await startOrigin((req, s) => {
    const body = `${req.method} ${payloadOf(req).length}`;
    s.write(response(200, { 'Content-Length': Buffer.byteLength(body) }, body));
  });
  t.teardown(() => origin.close());
  return origin;
}

interface Answer {
  status: number;
  body: string;
}

/** Reads `count` responses (Content-Length framed) from a client connection, bounded in time. */
function readAnswers(socket: Duplex, count: number, timeoutMs = 10_000): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const answers: Answer[] = [];
    const timer = setTimeout(() => done(new Error(`got ${answers.length} of ${count} responses: ${buf.toString('latin1')}`)), timeoutMs);
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(answers);
    };
    const onClose = () => done(new Error(`connection closed after ${answers.length} of ${count} responses`));
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        // Node's own answers (a 417) come chunked and empty: "0\r\n\r\n" is their whole body.
        const length = /\r\ntransfer-encoding: *chunked/i.test(head) ? 5 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        answers.push({ status: Number(head.slice(9, 12)), body: buf.subarray(end + 4, end + 4 + length).toString('latin1') });
        buf = buf.subarray(end + 4 + length);
        if (answers.length === count) return done();
      }
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

type Place = 'reverse' | 'forward' | 'tunnel' | 'tls tunnel';
const places: Place[] = ['reverse', 'forward', 'tunnel', 'tls tunnel'];

/** A TLS front for the raw origin, with a certificate from its own throwaway CA. */
async function tlsFront(t: ExecutionContext, origin: Origin): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-methods-origin-ca-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const issuer = new LeafIssuer(ensureCa(dir));
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ key: (issuer as unknown as { leafKeyPem: string }).leafKeyPem, cert: issuer.issue('127.0.0.1').cert }, (secure) => {
    const plain = net.connect(origin.port, '127.0.0.1');
    secure.pipe(plain).pipe(secure);
    secure.on('error', () => plain.destroy());
    plain.on('error', () => secure.destroy());
    sockets.add(plain);
  });
  server.on('connection', (s: net.Socket) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  }));
  return (server.address() as net.AddressInfo).port;
}

/** A client connection to davtap placed as `place` says, and the request-target form to use. */
async function clientFor(t: ExecutionContext, place: Place, origin: Origin, options: TestProxyOptions = {}): Promise<{ proxy: TestProxy; socket: Duplex; target: (p: string) => string }> {
  const proxy = await startTestProxy(t, place === 'reverse' ? { upstream: new URL(origin.url), ...options } : { caDir, insecureUpstream: true, ...options });
  const raw = await connect(proxy.port);
  t.teardown(() => raw.destroy());
  if (place === 'reverse') return { proxy, socket: raw, target: (p) => p };
  if (place === 'forward') return { proxy, socket: raw, target: (p) => origin.url + p };
  const port = place === 'tunnel' ? origin.port : await tlsFront(t, origin);
  raw.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  await new Promise<void>((resolve, reject) => {
    raw.once('data', (d: Buffer) => (/^HTTP\/1\.1 200 /.test(d.toString('latin1')) ? resolve() : reject(new Error(d.toString('latin1')))));
  });
  if (place === 'tunnel') return { proxy, socket: raw, target: (p) => p };
  const secure = tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  t.teardown(() => secure.destroy());
  return { proxy, socket: secure, target: (p) => p };
}

function checkRelayed(t: ExecutionContext, origin: Origin, proxy: TestProxy, answers: Answer[], sent: Sent[]): void {
  // Responses come back in request order; upstream, pipelined requests may use several connections.
  t.deepEqual(
    answers.map((a) => [a.status, a.body]),
    sent.map((s) => [200, `${s.method} ${s.body.length}`]),
  );
  const byMethod = (a: string[], b: string[]) => a[0]!.localeCompare(b[0]!);
  t.deepEqual(
    origin.requests.map((r) => [r.method, r.target, payloadOf(r)]).sort(byMethod),
    sent.map((s) => [s.method, s.path, s.body]).sort(byMethod),
  );
  for (const r of origin.requests) t.notRegex(r.head, /x-davtap/i, 'the marker header never leaves davtap');
  const flows = proxy.flows;
  t.deepEqual(flows.map((f) => f.request.method).sort(), sent.map((s) => s.method).sort());
  for (const f of flows) {
    t.is(f.outcome.kind, 'complete');
    t.false(f.request.rawHeaders.some((h) => /^x-davtap/i.test(h)));
    const s = sent.find((x) => x.method === f.request.method)!;
    t.is(f.request.body.bytes.toString('latin1'), s.body);
  }
}

for (const place of places) {
  test(`${place}: pipelined known and unknown methods, bodies in both framings, one connection`, async (t) => {
    const origin = await echoOrigin(t);
    const { proxy, socket, target } = await clientFor(t, place, origin);
    const { bytes, sent } = mixedRequests(target);
    const answers = readAnswers(socket, sent.length);
    socket.write(bytes);
    const got = await answers;
    await proxy.waitForFlows(sent.length);
    checkRelayed(t, origin, proxy, got, sent);
  });

  test(`${place}: keep-alive, one request at a time, each written in small pieces`, async (t) => {
    const origin = await echoOrigin(t);
    const { proxy, socket, target } = await clientFor(t, place, origin);
    const { bytes, sent } = mixedRequests(target);
    // Split the stream back into its requests: each starts with the next method at a line start.
    const text = bytes.toString('latin1');
    const starts = sent.map((s) => text.indexOf(`${s.method} ${target(s.path)} HTTP/1.1`));
    const got: Answer[] = [];
    for (let i = 0; i < sent.length; i++) {
      const piece = bytes.subarray(starts[i]!, starts[i + 1] ?? bytes.length);
      const answer = readAnswers(socket, 1);
      // 7-byte writes, each flushed before the next: method tokens and lines arrive cut.
      for (let at = 0; at < piece.length; at += 7) {
        await new Promise<void>((resolve) => socket.write(piece.subarray(at, at + 7), () => resolve()));
        await new Promise((r) => setTimeout(r, 1));
      }
      got.push(...(await answer));
    }
    await proxy.waitForFlows(sent.length);
    checkRelayed(t, origin, proxy, got, sent);
    t.is(origin.requests.map((r) => r.method).join(' '), sent.map((s) => s.method).join(' '));
  });
}

test('reverse: an expectation davtap cannot judge goes to the server, and the requests after it keep their order', async (t) => {
  const origin = await echoOrigin(t);
  const { proxy, socket } = await clientFor(t, 'reverse', origin);
  const answers = readAnswers(socket, 2);
  socket.write('ORDERPATCH /a HTTP/1.1\r\nHost: h\r\nExpect: something-else\r\n\r\nCHECKIN /b HTTP/1.1\r\nHost: h\r\n\r\n');
  const [first, second] = await answers;
  t.deepEqual([first!.status, first!.body], [200, 'ORDERPATCH 0']);
  t.deepEqual([second!.status, second!.body], [200, 'CHECKIN 0']);
  await proxy.waitForFlows(2);
  t.deepEqual(proxy.flows.map((f) => f.request.method), ['ORDERPATCH', 'CHECKIN']);
  t.deepEqual(origin.requests.map((r) => r.method), ['ORDERPATCH', 'CHECKIN']);
  t.is(origin.requests[0]!.headers.expect, 'something-else');
});

test('any token is a method: punctuation, digits, the other DeltaV methods', async (t) => {
  const origin = await echoOrigin(t);
  const { proxy, socket } = await clientFor(t, 'reverse', origin);
  const methods = ['X-MS-ENUMATTS!', 'BASELINE-CONTROL', 'UPDATEREDIRECTREF', 'MKWORKSPACE', 'LABEL', 'UPDATE', 'M2'];
  const answers = readAnswers(socket, methods.length);
  socket.write(methods.map((m) => `${m} /r HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc`).join(''));
  t.deepEqual((await answers).map((a) => a.body), methods.map((m) => `${m} 3`));
  await proxy.waitForFlows(methods.length);
  t.deepEqual(proxy.flows.map((f) => f.request.method).sort(), [...methods].sort());
});

test('a method that is not a token gets a 400 that says so, and a recorded flow', async (t) => {
  const origin = await echoOrigin(t);
  const { proxy, socket } = await clientFor(t, 'reverse', origin);
  const answers = readAnswers(socket, 1);
  socket.write('ORDER@PATCH /a HTTP/1.1\r\nHost: h\r\n\r\n');
  const [a] = await answers;
  t.is(a!.status, 400);
  t.regex(a!.body, /not an HTTP token/);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.request.method, 'ORDER@PATCH');
  t.is(origin.requests.length, 0);
});

test('reverse: an unknown method with Expect: 100-continue gets the 100, then its body is relayed', async (t) => {
  const origin = await startOrigin((req, s) => {
    if (req.headers.expect && req.body.length === 0) {
      s.write('HTTP/1.1 100 Continue\r\n\r\n');
      return;
    }
    const body = `${req.method} ${req.body.length}`;
    s.write(response(200, { 'Content-Length': Buffer.byteLength(body) }, body));
  });
  t.teardown(() => origin.close());
  const { proxy, socket } = await clientFor(t, 'reverse', origin);
  socket.write('CHECKIN /v HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
  const interim = await new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString('latin1'))));
  t.regex(interim, /^HTTP\/1\.1 100 /);
  const answers = readAnswers(socket, 1);
  socket.write('body');
  t.deepEqual((await answers).map((a) => [a.status, a.body]), [[200, 'CHECKIN 4']]);
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.request.method, 'CHECKIN');
  t.is(flow!.request.body.bytes.toString(), 'body');
});

test('forward: CONNECT and the tunnel\'s first requests in one write (unknown methods right after the CONNECT head)', async (t) => {
  const origin = await echoOrigin(t);
  const proxy = await startTestProxy(t, { caDir });
  const socket = await connect(proxy.port);
  t.teardown(() => socket.destroy());
  const { bytes, sent } = mixedRequests((p) => p);
  const connectHead = `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`;
  // The 200 of the CONNECT has no Content-Length: read it as an empty answer, then /first and the five.
  const answers = readAnswers(socket, 2 + sent.length);
  socket.write(Buffer.concat([Buffer.from(connectHead), Buffer.from('VERSION-CONTROL /first HTTP/1.1\r\nHost: h\r\n\r\n'), bytes]));
  const got = await answers;
  t.is(got[0]!.status, 200);
  t.deepEqual([got[1]!.status, got[1]!.body], [200, 'VERSION-CONTROL 0']);
  await proxy.waitForFlows(1 + sent.length);
  checkRelayed(t, { ...origin, requests: origin.requests.filter((r) => r.target !== '/first') }, { ...proxy, flows: proxy.flows.filter((f) => f.request.target !== '/first') } as TestProxy, got.slice(2), sent);
  t.is(origin.requests[0]!.target, '/first');
});

test('forward: a request in the same read as its tunnel\'s CONNECT goes upstream once and is recorded once', async (t) => {
  // The shim used to stay on the socket until the tunnel was set up, and was then taken for one of
  // the tunnel's own listeners: every byte of the tunnel was read twice.
  const origin = await echoOrigin(t);
  const proxy = await startTestProxy(t, { caDir });
  const socket = await connect(proxy.port);
  t.teardown(() => socket.destroy());
  const answers = readAnswers(socket, 2);
  socket.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\nGET /once HTTP/1.1\r\nHost: h\r\n\r\n`);
  t.deepEqual((await answers).map((a) => a.status), [200, 200]);
  await proxy.waitForFlows(1);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.deepEqual(origin.requests.map((r) => r.target), ['/once']);
  t.deepEqual(proxy.flows.map((f) => f.request.target), ['/once']);
});

test('a method keeps its case on the way upstream (methods are case-sensitive)', async (t) => {
  const origin = await startOrigin((_req, s) => void s.write(response(200, { 'Content-Length': 0 })));
  t.teardown(() => origin.close());
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const r = await curl(['-X', 'Propfind', '-o', '/dev/null', '-w', '%{http_code}', proxy.url + 'dav/']);
  t.is(r.stdout.toString(), '200');
  t.is(origin.requests[0]!.method, 'Propfind');
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.request.method, 'Propfind');
});

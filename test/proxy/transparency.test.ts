// The proxy's transparency contract (DESIGN.md), item by item, against a raw-socket origin that
// sends exactly the bytes each test scripts, in every mode davtap relays in:
// - reverse: --upstream, the client talks to davtap as to the server;
// - forward: davtap as an explicit proxy, plain http in absolute form (curl -x);
// - forward-mitm: the client goes through CONNECT to an HTTPS origin, and davtap intercepts the TLS
//   with its own CA (curl --cacert with davtap's CA; raw clients CONNECT, then TLS over the socket);
// - inject-none: reverse mode with fault injection on, through a filter that matches no flow, so
//   the injection hook is asked for every response and returns nothing.
// Every item runs in every mode; the few that cannot apply to a mode say why where they are.
// Requests that could be read two ways (request smuggling) are refused the same way in every mode.
import test from 'ava';
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { startOrigin, response, type Origin, type OriginHandler } from '../helpers/origin.js';
import { startTestProxy, type TestProxy, type TestProxyOptions } from '../helpers/proxy.js';
import { curl } from '../helpers/curl.js';
import { readRaw } from '../helpers/raw-client.js';
import { caFileName, ensureCa, LeafIssuer } from '../../src/proxy/ca.js';
import { createInjector, parseHeadFilter, parseInjectSpecs } from '../../src/inject/index.js';
import type { Mode as FlowMode } from '../../src/types.js';

type Mode = 'reverse' | 'forward' | 'forward-mitm' | 'inject-none';
const modes: Mode[] = ['reverse', 'forward', 'forward-mitm', 'inject-none'];

/** The mode a flow records: MITM is forward mode, injection without a match is reverse mode. */
const flowModeOf = (mode: Mode): FlowMode => (mode === 'forward' || mode === 'forward-mitm' ? 'forward' : 'reverse');

let caDir = '';
let caPem = '';
let originCaDir = '';
/** The HTTPS origins' certificate for 127.0.0.1, from a CA davtap does not know (it runs with insecureUpstream). */
let originTls: tls.SecureContext;
test.before(() => {
  caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-transparency-ca-'));
  caPem = ensureCa(caDir).certPem;
  originCaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-transparency-origin-ca-'));
  originTls = new LeafIssuer(ensureCa(originCaDir)).contextFor('127.0.0.1');
});
test.after.always(() => {
  fs.rmSync(caDir, { recursive: true, force: true });
  fs.rmSync(originCaDir, { recursive: true, force: true });
});

/** A raw-socket origin for `mode`: HTTPS for forward-mitm, plain HTTP otherwise. */
async function originFor(t: ExecutionContext, mode: Mode, handler: OriginHandler): Promise<Origin> {
  const origin = await startOrigin(handler, mode === 'forward-mitm' ? { tls: originTls } : {});
  t.teardown(() => origin.close());
  return origin;
}

interface Via {
  proxy: TestProxy;
  /** curl's arguments that send it through davtap in this mode (none in the reverse modes). */
  proxyArgs: string[];
  /** The URL curl asks for `p`. */
  url(p: string): string;
  /** curl arguments that send a request for `p` through davtap in this mode. */
  curl(p: string): string[];
  /** The request-target a raw client sends for `p` on a connection from open(). */
  target(p: string): string;
  /** The URL the flow of a request for `p` records: the origin's. */
  recorded(p: string): string;
  /** A client connection on which raw requests go through davtap (a TLS tunnel in forward-mitm). */
  open(): Promise<net.Socket>;
  /** How often the injection hook was asked (inject-none only). */
  injectAsked(): number;
}

/** A filter no flow of these tests matches: no such method is ever sent. */
const matchesNothing = '~m DAVTAP-NEVER-SENT';

/** Reads a CONNECT answer off `socket`, byte-exact up to its empty line. */
function connectReply(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      if (end + 4 < text.length) socket.unshift(Buffer.from(text.slice(end + 4), 'latin1'));
      resolve(text.slice(0, end + 4));
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`the proxy closed the connection after ${JSON.stringify(text)}`)));
  });
}

/** davtap in `mode` in front of `origin` (only its url and port are used: an origin may be a refused port). */
async function via(t: ExecutionContext, mode: Mode, origin: Pick<Origin, 'url' | 'port'>, options: TestProxyOptions = {}): Promise<Via> {
  let asked = 0;
  const injector = createInjector({ specs: parseInjectSpecs('html'), filter: parseHeadFilter(matchesNothing) });
  const hooks: TestProxyOptions['hooks'] =
    mode === 'inject-none'
      ? {
          injectFor: (start) => {
            asked++;
            return injector(start);
          },
          ...options.hooks,
        }
      : options.hooks;
  const proxy = await startTestProxy(t, {
    ...(flowModeOf(mode) === 'reverse' ? { upstream: new URL(origin.url) } : { caDir }),
    ...(mode === 'forward-mitm' ? { insecureUpstream: true } : {}),
    ...options,
    ...(hooks ? { hooks } : {}),
  });
  const rel = (p: string) => p.replace(/^\//, '');
  const proxyArgs = mode === 'forward' ? ['-x', proxy.url] : mode === 'forward-mitm' ? ['-x', proxy.url, '--cacert', path.join(caDir, caFileName), '--suppress-connect-headers'] : [];
  const url = (p: string) => (flowModeOf(mode) === 'reverse' ? proxy.url + rel(p) : `${origin.url}/${rel(p)}`);
  const authority = `127.0.0.1:${origin.port}`;
  return {
    proxy,
    proxyArgs,
    url,
    curl: (p) => [...proxyArgs, url(p)],
    target: (p) => (mode === 'forward' ? `${origin.url}/${rel(p)}` : `/${rel(p)}`),
    recorded: (p) => `${origin.url}/${rel(p)}`,
    injectAsked: () => asked,
    async open() {
      const raw = net.connect({ port: proxy.port, host: '127.0.0.1', noDelay: true });
      t.teardown(() => raw.destroy());
      raw.on('error', () => {});
      await new Promise<void>((resolve) => raw.once('connect', resolve));
      if (mode !== 'forward-mitm') return raw;
      raw.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
      const reply = await connectReply(raw);
      if (!/^HTTP\/1\.1 200 /.test(reply)) throw new Error(`CONNECT answered ${JSON.stringify(reply)}`);
      // davtap's leaf for 127.0.0.1, trusted through davtap's CA only.
      const secure = tls.connect({ socket: raw, host: '127.0.0.1', ca: caPem });
      t.teardown(() => secure.destroy());
      secure.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve);
        secure.once('error', reject);
      });
      return secure;
    },
  };
}

const multistatus = (n: number) =>
  `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n` +
  Array.from({ length: n }, (_, i) => `<D:response><D:href>/dav/f${i}.txt</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>\n`).join('') +
  `</D:multistatus>\n`;

for (const mode of modes) {
  const title = (s: string) => `${mode}: ${s}`;

  test(title('bodies are byte-identical and Content-Length framing is kept'), async (t) => {
    const body = crypto.randomBytes(300_000);
    const origin = await originFor(t, mode, (_req, s) => void s.write(response(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }, body)));
    const v = await via(t, mode, origin);
    const r = await curl(['-i', ...v.curl('blob')]);
    t.is(r.code, 0, r.stderr);
    const headEnd = r.stdout.indexOf('\r\n\r\n');
    t.true(r.stdout.subarray(headEnd + 4).equals(body));
    const head = r.stdout.subarray(0, headEnd).toString();
    t.regex(head, /^HTTP\/1\.1 200 /);
    t.regex(head, /Content-Length: 300000/);
    t.notRegex(head, /Transfer-Encoding/i);
    const [flow] = await v.proxy.waitForFlows(1);
    t.is(flow!.mode, flowModeOf(mode));
    t.is(flow!.request.url, v.recorded('blob'));
    t.is(flow!.response!.framing, 'content-length');
    t.true(flow!.response!.body.bytes.equals(body));
    t.is(flow!.outcome.kind, 'complete');
    t.is(flow!.injected, undefined);
    // With injection on, the hook is asked once per response head, and returns nothing here.
    if (mode === 'inject-none') t.is(v.injectAsked(), 1);
  });

  test(title('chunked stays chunked, close-delimited stays close-delimited'), async (t) => {
    const xml = multistatus(50);
    const origin = await originFor(t, mode, (req, s) => {
      if (req.target.endsWith('/chunked')) {
        s.write('HTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n');
        s.write(`${(1000).toString(16)}\r\n${xml.slice(0, 1000)}\r\n`);
        s.write(`${Buffer.byteLength(xml.slice(1000)).toString(16)}\r\n${xml.slice(1000)}\r\n0\r\n\r\n`);
      } else {
        s.end(`HTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n${xml}`);
      }
    });
    const v = await via(t, mode, origin);
    const chunked = await curl(['--raw', '-i', '-X', 'PROPFIND', ...v.curl('chunked')]);
    t.is(chunked.code, 0, chunked.stderr);
    const c = chunked.stdout.toString();
    t.regex(c, /Transfer-Encoding: chunked\r\n/);
    t.notRegex(c, /Content-Length/i);
    t.true(c.endsWith('0\r\n\r\n'));
    const closed = await curl(['--raw', '-i', '-X', 'PROPFIND', ...v.curl('closed')]);
    t.is(closed.code, 0, closed.stderr);
    const d = closed.stdout.toString();
    t.notRegex(d, /Content-Length|Transfer-Encoding/i);
    t.true(d.endsWith(xml));
    const flows = await v.proxy.waitForFlows(2);
    t.deepEqual(flows.map((f) => f.response!.framing).sort(), ['chunked', 'close-delimited']);
    t.true(flows.every((f) => f.response!.body.bytes.toString() === xml));
  });

  test(title('a bodyless request stays bodyless (no chunked MKCOL, no Content-Length: 0)'), async (t) => {
    const origin = await originFor(t, mode, (_req, s) => void s.write(response(201, { 'Content-Length': 0 })));
    const v = await via(t, mode, origin);
    for (const method of ['MKCOL', 'PROPFIND', 'DELETE', 'UNLOCK', 'MKCALENDAR']) {
      const r = await curl(['-X', method, '-o', '/dev/null', '-w', '%{http_code}', ...v.curl('x/')]);
      t.is(r.stdout.toString(), '201', method);
    }
    t.is(origin.requests.length, 5);
    for (const req of origin.requests) {
      t.notRegex(req.head, /transfer-encoding|content-length/i, req.method);
      t.is(req.body.length, 0);
    }
  });

  test(title('request bodies pass byte-identical with their framing; header case and order are kept'), async (t) => {
    const origin = await originFor(t, mode, (_req, s) => void s.write(response(207, { 'X-CaSe-SeNsItIvE': 'yes', 'Content-Length': 2 }, 'ok')));
    const v = await via(t, mode, origin);
    const body = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';
    const r = await curl(['-i', '-X', 'PROPFIND', '-H', 'Depth: 1', '-H', 'X-My-HeAdEr: 1', '--data-binary', body, ...v.curl('dav/')]);
    t.regex(r.stdout.toString(), /X-CaSe-SeNsItIvE: yes/);
    const chunked = await curl(['-X', 'PUT', '-H', 'Transfer-Encoding: chunked', '--data-binary', body, ...v.curl('dav/x.xml')]);
    t.is(chunked.code, 0, chunked.stderr);
    const [first, second] = origin.requests;
    t.is(first!.body.toString(), body);
    t.regex(first!.head, /\r\nX-My-HeAdEr: 1(\r\n|$)/);
    t.regex(first!.head, /\r\nDepth: 1\r\n/);
    t.true(first!.head.indexOf('Depth: 1') < first!.head.indexOf('X-My-HeAdEr'));
    t.regex(second!.head, /Transfer-Encoding: chunked/i);
    t.notRegex(second!.head, /content-length/i);
    t.is(second!.body.toString().replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, ''), body);
  });

  test(title('the request-target reaches upstream verbatim (fragment, %2F, ;params, odd query)'), async (t) => {
    const origin = await originFor(t, mode, (_req, s) => void s.write(response(400, { 'Content-Length': 0 })));
    const v = await via(t, mode, origin);
    const paths = ['/litmus/frag/#ment', '/a%2Fb/c;v=1/%7e', '/q?x=%20y&z=a+b#f'];
    for (const p of paths) {
      // curl drops fragments itself, so a raw client sends exactly these bytes.
      const client = await v.open();
      const read = readRaw(client);
      client.write(`DELETE ${v.target(p)} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n\r\n`);
      await read.closed;
      t.regex(read.text(), /^HTTP\/1\.1 400 /);
    }
    t.deepEqual(origin.requests.map((r) => r.target), paths);
    const flows = await v.proxy.waitForFlows(3);
    t.deepEqual(flows.map((f) => f.request.url).sort(), paths.map((p) => origin.url + p).sort());
  });

  test(title('a body cut short of Content-Length reaches the client cut (curl exit 18), never completed'), async (t) => {
    const xml = multistatus(200);
    const origin = await originFor(t, mode, (_req, s) => {
      s.write(`HTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\nContent-Length: ${xml.length}\r\n\r\n`);
      s.end(xml.slice(0, 4096));
    });
    const v = await via(t, mode, origin);
    const r = await curl(['-X', 'PROPFIND', ...v.curl('dav/')]);
    t.is(r.code, 18, r.stderr);
    t.is(r.stdout.toString(), xml.slice(0, 4096), 'nothing appended');
    const [flow] = await v.proxy.waitForFlows(1);
    t.is(flow!.outcome.kind, 'upstream-aborted');
    t.is(flow!.response!.body.bytesSeen, 4096);
    t.is(flow!.response!.declaredLength, xml.length);
    t.regex(flow!.outcome.message!, /4,096 of [\d,]+ declared bytes/);
  });

  test(title('a chunked body cut before the last chunk, and a bad chunk size, reach the client broken'), async (t) => {
    const origin = await originFor(t, mode, (req, s) => {
      s.write('HTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n');
      if (req.target.endsWith('/cut')) s.end('10\r\n<D:multistatus x\r\n');
      else s.end('10\r\n<D:multistatus x\r\nZZ\r\nbroken\r\n0\r\n\r\n');
    });
    const v = await via(t, mode, origin);
    const cut = await curl(['-X', 'PROPFIND', ...v.curl('cut')]);
    t.true([18, 56].includes(cut.code), `curl exit ${cut.code}: ${cut.stderr}`);
    const bad = await curl(['-X', 'PROPFIND', ...v.curl('bad')]);
    t.true([18, 56].includes(bad.code), `curl exit ${bad.code}: ${bad.stderr}`);
    t.false(bad.stdout.toString().includes('broken'));
    const flows = await v.proxy.waitForFlows(2);
    t.true(flows.every((f) => f.outcome.kind === 'upstream-aborted'));
    t.true(flows.some((f) => f.outcome.code === 'HPE_INVALID_CHUNK_SIZE'), JSON.stringify(flows.map((f) => f.outcome)));
  });

  test(title('a reset upstream resets the client; nothing is appended'), async (t) => {
    const origin = await originFor(t, mode, (_req, s) => {
      s.write('HTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<D:multistatus xmlns:D="DAV:">');
      setTimeout(() => s.resetAndDestroy(), 50);
    });
    const v = await via(t, mode, origin);
    const r = await curl(['-X', 'PROPFIND', ...v.curl('')]);
    t.true([18, 56].includes(r.code), `curl exit ${r.code}: ${r.stderr}`);
    t.is(r.stdout.toString(), '<D:multistatus xmlns:D="DAV:">');
    const [flow] = await v.proxy.waitForFlows(1);
    t.is(flow!.outcome.kind, 'upstream-aborted');
  });

  test(title('a cut gzip stream is relayed as sent and its decoded copy says it is partial'), async (t) => {
    const xml = multistatus(300);
    const gz = zlib.gzipSync(xml);
    const cutGz = gz.subarray(0, gz.length - 20);
    const origin = await originFor(t, mode, (req, s) => {
      const body = req.target.endsWith('/whole') ? gz : cutGz;
      s.write(response(207, { 'Content-Type': 'text/xml', 'Content-Encoding': 'gzip', 'Content-Length': body.length }, body));
    });
    const v = await via(t, mode, origin);
    const whole = await curl(['-X', 'PROPFIND', ...v.curl('whole')]);
    t.true(whole.stdout.equals(gz), 'encoded bytes reach the client untouched');
    const cut = await curl(['-X', 'PROPFIND', ...v.curl('cut')]);
    t.true(cut.stdout.equals(cutGz));
    const flows = await v.proxy.waitForFlows(2);
    const w = flows.find((f) => f.request.url.endsWith('/whole'))!;
    const c = flows.find((f) => f.request.url.endsWith('/cut'))!;
    t.is(w.response!.decoded!.bytes.toString(), xml);
    t.is(w.response!.decodeError, undefined);
    t.regex(c.response!.decodeError ?? '', /unexpected end|partial/i);
    t.true(c.response!.decoded!.bytes.length < xml.length);
  });

  test(title('102 Processing and 100 Continue are relayed'), async (t) => {
    const origin = await originFor(t, mode, (req, s) => {
      if (req.headers.expect && req.body.length === 0) {
        s.write('HTTP/1.1 100 Continue\r\n\r\n');
        return;
      }
      s.write('HTTP/1.1 102 Processing\r\nX-Step: one\r\n\r\n');
      setTimeout(() => s.write(response(207, { 'Content-Type': 'text/xml', 'Content-Length': 2 }, 'ok')), 30);
    });
    const v = await via(t, mode, origin);
    const r = await curl(['-i', '-X', 'PROPFIND', ...v.curl('')]);
    t.regex(r.stdout.toString(), /^HTTP\/1\.1 102 Processing\r\nX-Step: one\r\n\r\nHTTP\/1\.1 207/);
    const flows = await v.proxy.waitForFlows(1);
    t.deepEqual(flows[0]!.response!.informational.map((i) => i.status), [102]);
    // The body goes only after the 100 Continue came back, as an Expect client does.
    const body = crypto.randomBytes(2000);
    const client = await v.open();
    const read = readRaw(client);
    client.write(`PUT ${v.target('up')} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`);
    await read.until((text) => /^HTTP\/1\.1 100 Continue\r\n\r\n/.test(text));
    client.write(body);
    const text = await read.until((s) => /\r\nHTTP\/1\.1 207 [^\r]*\r\n[\s\S]*\r\n\r\nok$/.test(s));
    t.regex(text, /^HTTP\/1\.1 100 Continue\r\n\r\n/);
    t.true(origin.requests.some((r) => r.body.equals(body)));
  });

  test(title('keep-alive: one client connection, several requests, one upstream connection'), async (t) => {
    const origin = await originFor(t, mode, (_req, s) => void s.write(response(207, { 'Content-Type': 'text/xml', 'Content-Length': 2 }, 'ok')));
    const v = await via(t, mode, origin);
    const r = await curl(['-X', 'PROPFIND', '-w', '%{num_connects}\n', ...v.proxyArgs, ...[1, 2, 3, 4].map((i) => v.url(`k${i}`))]);
    t.is(r.code, 0, r.stderr);
    t.is(origin.requests.length, 4);
    t.is(origin.connections, 1);
    t.deepEqual(r.stdout.toString().match(/\d+\n/g), ['1\n', '0\n', '0\n', '0\n']);
  });

  test(title('trailers are relayed'), async (t) => {
    const origin = await originFor(t, mode, (_req, s) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc123\r\n\r\n');
    });
    const v = await via(t, mode, origin);
    const r = await curl(['--raw', '-i', ...v.curl('')]);
    t.regex(r.stdout.toString(), /0\r\nX-Checksum: abc123\r\n\r\n$/);
    const [flow] = await v.proxy.waitForFlows(1);
    t.deepEqual(flow!.response!.rawTrailers, ['X-Checksum', 'abc123']);
  });

  test(title('backpressure: a client that stops reading stops the upstream (memory stays bounded)'), async (t) => {
    const total = 256 * 1024 * 1024;
    let written = 0;
    const origin = await originFor(t, mode, async (_req, s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
      const block = Buffer.alloc(64 * 1024, 0x61);
      while (written < total && !s.destroyed) {
        written += block.length;
        if (!s.write(block)) await new Promise((r) => s.once('drain', r).once('close', r));
      }
    });
    const v = await via(t, mode, origin, { maxBody: 1024 });
    const client = await v.open();
    client.write(`GET ${v.target('big')} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
    // Read a little, then stop reading entirely.
    await new Promise<void>((resolve) => client.once('data', () => resolve()));
    client.pause();
    // Socket buffers fill, then the origin must stall: wait (bounded) for its writes to stop.
    let last = -1;
    for (let i = 0; i < 40 && written !== last; i++) {
      last = written;
      await new Promise((r) => setTimeout(r, 500));
    }
    t.is(written, last, 'the origin is stalled while the client does not read');
    t.true(written < 32 * 1024 * 1024, `origin wrote ${written} bytes into a paused client`);
  });

  test(title('an upstream silent past --upstream-timeout gives 504 and a timeout flow'), async (t) => {
    const origin = await originFor(t, mode, () => {
      /* never answers */
    });
    const v = await via(t, mode, origin, { upstreamTimeoutMs: 300 });
    const r = await curl(['-i', ...v.curl('')]);
    t.regex(r.stdout.toString(), /^HTTP\/1\.1 504 /);
    const [flow] = await v.proxy.waitForFlows(1);
    t.is(flow!.outcome.kind, 'timeout');
  });

  test(title('a client that disconnects mid-body is recorded as client-aborted'), async (t) => {
    const origin = await originFor(t, mode, async (_req, s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
      s.write(Buffer.alloc(1000, 0x62));
    });
    const v = await via(t, mode, origin);
    const client = await v.open();
    client.write(`GET ${v.target('')} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
    await new Promise<void>((resolve) => client.once('data', () => resolve()));
    client.destroy();
    const [flow] = await v.proxy.waitForFlows(1);
    t.is(flow!.outcome.kind, 'client-aborted');
    t.is(flow!.client.address, '127.0.0.1', 'the address of a client that is gone is still known');
  });

  test(title('the capture cap limits what is kept, never what is relayed, and says so'), async (t) => {
    const body = crypto.randomBytes(100_000);
    const origin = await originFor(t, mode, (_req, s) => void s.write(response(200, { 'Content-Length': body.length }, body)));
    const v = await via(t, mode, origin, { maxBody: 1000 });
    const r = await curl(v.curl(''));
    t.true(r.stdout.equals(body));
    const [flow] = await v.proxy.waitForFlows(1);
    t.is(flow!.response!.body.bytes.length, 1000);
    t.is(flow!.response!.body.bytesSeen, 100_000);
    t.false(flow!.response!.body.captureComplete);
    t.is(flow!.outcome.kind, 'complete');
  });

  test(title('a method outside Node\'s table (ORDERPATCH) is relayed and recorded as sent'), async (t) => {
    const origin = await originFor(t, mode, (_req, s) => void s.write(response(200, { 'Content-Length': 2 }, 'ok')));
    const v = await via(t, mode, origin);
    const body = '<D:orderpatch xmlns:D="DAV:"/>';
    const r = await curl(['-i', '-X', 'ORDERPATCH', '-H', 'Content-Type: text/xml', '--data-binary', body, ...v.curl('dav/')]);
    t.regex(r.stdout.toString(), /^HTTP\/1\.1 200 /);
    t.is(origin.requests.length, 1);
    t.is(origin.requests[0]!.method, 'ORDERPATCH');
    t.is(origin.requests[0]!.body.toString(), body);
    t.notRegex(origin.requests[0]!.head, /x-davtap/i);
    const [flow] = await v.proxy.waitForFlows(1);
    t.is(flow!.request.method, 'ORDERPATCH');
    t.false(flow!.request.rawHeaders.some((h) => /^x-davtap/i.test(h)));
    t.is(flow!.outcome.kind, 'complete');
  });

  test(title('an upstream that refuses connections gives a 502 with a short text body and a recorded flow'), async (t) => {
    // Port 1 (tcpmux) has no listener: a port freed by a closed server could be taken meanwhile by
    // a server of a test running beside this one.
    const port = 1;
    const v = await via(t, mode, { port, url: `${mode === 'forward-mitm' ? 'https' : 'http'}://127.0.0.1:${port}` });
    const r = await curl(['-i', '-X', 'PROPFIND', ...v.curl('dav/')]);
    const text = r.stdout.toString();
    t.regex(text, /^HTTP\/1\.1 502 /);
    t.regex(text, /refused the connection \(ECONNREFUSED\)\n$/);
    const [flow] = await v.proxy.waitForFlows(1);
    t.is(flow!.response, null);
    t.is(flow!.outcome.kind, 'error');
    t.is(flow!.outcome.code, 'ECONNREFUSED');
  });

  test(title('response chunks stream to the hook while relaying, and add up to the body'), async (t) => {
    const xml = multistatus(2000);
    const origin = await originFor(t, mode, (_req, s) => void s.write(response(207, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(xml) }, xml)));
    const starts: string[] = [];
    const v = await via(t, mode, origin, { hooks: { onFlow: () => {}, onResponseStart: (f) => void starts.push(f.id) } });
    await curl(['-X', 'PROPFIND', ...v.curl('')]);
    // hooks passed in replace the collector's onFlow; wait on the chunk map instead.
    await new Promise((r) => setTimeout(r, 100));
    t.is(starts.length, 1);
    t.is(Buffer.concat(v.proxy.chunks.get(starts[0]!) ?? []).toString(), xml);
  });

  test(title('closing the proxy while exchanges wait for upstream hands their flows over before close() resolves'), async (t) => {
    let arrived = 0;
    // An origin that reads requests and never answers.
    const origin = await originFor(t, mode, () => {
      arrived++;
    });
    const v = await via(t, mode, origin);
    const clients = Array.from({ length: 4 }, (_, i) => curl(['-X', 'PROPFIND', '-H', 'Depth: 0', '-o', '/dev/null', ...v.curl(`dav/${i}`)]));
    for (let i = 0; i < 200 && arrived < 4; i++) await new Promise((r) => setTimeout(r, 10));
    t.is(arrived, 4);
    t.is(v.proxy.flows.length, 0);
    await v.proxy.close();
    // No waiting after close(): every cut exchange is already recorded.
    t.is(v.proxy.flows.length, 4);
    t.true(v.proxy.flows.every((f) => f.outcome.kind !== 'complete'), v.proxy.flows.map((f) => f.outcome.kind).join(' '));
    await Promise.all(clients);
  });
}

// Host, Destination, If and Location are mapped in the reverse modes only: a forward proxy's client
// already names the origin, and the forward modes are held to passing them untouched below.
for (const mode of ['reverse', 'inject-none'] as const) {
  test(`${mode}: Host is set to the upstream, Destination, If and Location are mapped`, async (t) => {
    const origin = await originFor(t, mode, (_req, s) => {
      const loc = `http://127.0.0.1:${origin.port}/prefix/moved/`;
      s.write(response(201, { Location: loc, 'Content-Location': '/prefix/there', 'Content-Length': 0 }));
    });
    const v = await via(t, mode, { port: origin.port, url: origin.url + '/prefix/' });
    const proxy = v.proxy;
    const self = proxy.url.replace(/\/$/, '');
    const r = await curl(['-i', '-X', 'MOVE', '-H', `Destination: ${self}/a%20b/`, '-H', `If: <${self}/src> (<opaquelocktoken:abc>)`, proxy.url + 'src']);
    const req = origin.requests[0]!;
    t.is(req.target, '/prefix/src');
    t.is(req.headers.host, `127.0.0.1:${origin.port}`);
    t.is(req.headers.destination, `http://127.0.0.1:${origin.port}/prefix/a%20b/`);
    t.is(req.headers.if, `<http://127.0.0.1:${origin.port}/prefix/src> (<opaquelocktoken:abc>)`);
    t.regex(r.stdout.toString(), new RegExp(`Location: ${self}/moved/\\r\\n`));
    t.regex(r.stdout.toString(), /Content-Location: \/there\r\n/);
  });
}

for (const mode of ['forward', 'forward-mitm'] as const) {
  test(`${mode}: Host and Destination pass untouched and Proxy-Authorization is dropped`, async (t) => {
    const origin = await originFor(t, mode, (_req, s) => void s.write(response(201, { Location: 'http://elsewhere.example/x', 'Content-Length': 0 })));
    const v = await via(t, mode, origin);
    // Through a tunnel curl sends --proxy-user on the CONNECT only; the header given with -H goes
    // inside the tunnel, where davtap is still the proxy that consumes it.
    const credentials = mode === 'forward' ? ['--proxy-user', 'u:p'] : ['--proxy-user', 'u:p', '-H', 'Proxy-Authorization: Basic dTpw'];
    const r = await curl(['-i', '-X', 'COPY', '-H', `Destination: ${origin.url}/b`, ...credentials, ...v.curl('a')]);
    const req = origin.requests[0]!;
    t.is(req.target, '/a');
    t.is(req.headers.host, `127.0.0.1:${origin.port}`);
    t.is(req.headers.destination, `${origin.url}/b`);
    t.is(req.headers['proxy-authorization'], undefined);
    t.regex(r.stdout.toString(), /Location: http:\/\/elsewhere\.example\/x\r\n/);
  });
}

// Origin-form is what reverse mode serves, and what a client sends inside a CONNECT tunnel (the
// tunnel names the origin), so only plain forward mode refuses it; a request to davtap's own
// address is a loop only where the client names the origin per request.
test('forward: origin-form requests and requests to davtap itself are refused, with a recorded flow', async (t) => {
  const proxy = await startTestProxy(t, { caDir });
  const origin = await curl(['-i', proxy.url + 'dav/']);
  t.regex(origin.stdout.toString(), /^HTTP\/1\.1 400 [\s\S]*send absolute-form requests/);
  const self = await curl(['-i', '-x', proxy.url, proxy.url + 'dav/']);
  t.regex(self.stdout.toString(), /^HTTP\/1\.1 508 [\s\S]*refusing to loop/);
  const flows = await proxy.waitForFlows(2);
  t.true(flows.every((f) => f.outcome.kind === 'error'));
});

// Request smuggling: a request that a front end and the server behind it could read two ways is
// refused with 400, its connection closed, and recorded with the parser's error code (Node's HPE_*
// names) and no response; not one byte of it reaches the origin. The same in every mode: the
// request-target is the mode's (absolute-form in forward mode, inside the tunnel in forward-mitm).
const smuggling: Array<{ what: string; request: (target: string, host: string) => string; method: string; code: string }> = [
  {
    what: 'Content-Length with Transfer-Encoding',
    request: (target, host) => `POST ${target} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    method: 'POST',
    code: 'HPE_UNEXPECTED_CONTENT_LENGTH',
  },
  {
    what: 'two different Content-Lengths',
    request: (target, host) => `POST ${target} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nhello`,
    method: 'POST',
    code: 'HPE_INVALID_CONTENT_LENGTH',
  },
  {
    what: 'a bad chunk size',
    request: (target, host) => `POST ${target} HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
    method: 'POST',
    code: 'HPE_INVALID_CHUNK_SIZE',
  },
  {
    what: 'obsolete line folding in a header',
    request: (target, host) => `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nX-Folded: a\r\n b\r\n\r\n`,
    method: 'GET',
    code: 'HPE_INVALID_HEADER_TOKEN',
  },
  {
    what: 'a header line ended by a bare LF',
    request: (target, host) => `GET ${target} HTTP/1.1\r\nHost: ${host}\nX-Hidden: 1\r\n\r\n`,
    method: 'GET',
    code: 'HPE_INVALID_HEADER_TOKEN',
  },
  {
    what: 'a request line ended by a bare LF',
    request: (target, host) => `GET ${target} HTTP/1.1\nHost: ${host}\r\n\r\n`,
    method: 'GET',
    code: 'HPE_INVALID_CONSTANT',
  },
  {
    what: 'a head whose every line ends in a bare LF (refused at its empty line, not at the head deadline)',
    request: (target, host) => `GET ${target} HTTP/1.1\nHost: ${host}\n\n`,
    method: 'GET',
    code: 'HPE_CR_EXPECTED',
  },
  {
    what: 'a Transfer-Encoding that does not end in chunked',
    request: (target, host) => `POST ${target} HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
    method: 'POST',
    code: 'HPE_INVALID_TRANSFER_ENCODING',
  },
];

for (const mode of modes) {
  for (const shape of smuggling) {
    test(`${mode}: request smuggling, ${shape.what}: 400, ${shape.code}, nothing reaches the origin`, async (t) => {
      const origin = await originFor(t, mode, (_req, s) => void s.write(response(200, { 'Content-Length': 2 }, 'ok')));
      const v = await via(t, mode, origin);
      const client = await v.open();
      const read = readRaw(client);
      client.write(shape.request(v.target('a'), `127.0.0.1:${origin.port}`));
      await Promise.race([read.closed, new Promise((r) => setTimeout(r, 5_000))]);
      const reply = read.text();
      t.regex(reply, /^HTTP\/1\.1 400 /, 'answered 400');
      t.regex(reply, /\r\nConnection: close\r\n/, 'with Connection: close');
      t.true(client.destroyed || client.readableEnded, 'and the connection closed');
      const [flow] = await v.proxy.waitForFlows(1);
      t.is(flow!.mode, flowModeOf(mode));
      t.is(flow!.request.method, shape.method);
      t.deepEqual([flow!.outcome.kind, flow!.outcome.code], ['error', shape.code]);
      t.is(flow!.response, null);
      // Nothing relayed: no byte of the request was read by the origin.
      t.is(origin.received, 0);
      t.is(v.proxy.flows.length, 1, 'one flow for the one request');
    });
  }
}

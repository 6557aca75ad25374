// The proxy's transparency contract (DESIGN.md), item by item, against a raw-socket origin that
// sends exactly the bytes each test scripts. Reverse mode here; forward mode runs the same relay
// and is covered in forward.test.ts.
import test from 'ava';
import crypto from 'node:crypto';
import net from 'node:net';
import zlib from 'node:zlib';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { startOrigin, response, type Origin } from '../helpers/origin.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { curl } from '../helpers/curl.js';
import type { ProxyOptions } from '../../src/proxy/index.js';

type Mode = 'reverse' | 'forward';
const modes: Mode[] = ['reverse', 'forward'];

let caDir = '';
test.before(() => {
  caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-transparency-ca-'));
});
test.after.always(() => fs.rmSync(caDir, { recursive: true, force: true }));

interface Via {
  proxy: TestProxy;
  /** curl arguments that send a request for `p` through davtap in this mode. */
  curl(p: string): string[];
  /** The request-target a raw client sends to davtap for `p`. */
  target(p: string): string;
}

/** davtap in `mode` in front of `origin`: reverse (--upstream) or forward (curl -x, absolute-form). */
async function via(t: ExecutionContext, mode: Mode, origin: Origin, options: Partial<ProxyOptions> = {}): Promise<Via> {
  const proxy = await startTestProxy(t, mode === 'reverse' ? { upstream: new URL(origin.url), ...options } : { caDir, ...options });
  const rel = (p: string) => p.replace(/^\//, '');
  return {
    proxy,
    curl: (p) => (mode === 'reverse' ? [proxy.url + rel(p)] : ['-x', proxy.url, `${origin.url}/${rel(p)}`]),
    target: (p) => (mode === 'reverse' ? `/${rel(p)}` : `${origin.url}/${rel(p)}`),
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
    const origin = await startOrigin((_req, s) => void s.write(response(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }, body)));
    t.teardown(() => origin.close());
    const v = await via(t, mode, origin);
    const r = await curl(['-i', ...v.curl('blob')]);
    t.is(r.code, 0);
    const headEnd = r.stdout.indexOf('\r\n\r\n');
    t.true(r.stdout.subarray(headEnd + 4).equals(body));
    const head = r.stdout.subarray(0, headEnd).toString();
    t.regex(head, /Content-Length: 300000/);
    t.notRegex(head, /Transfer-Encoding/i);
    const [flow] = await v.proxy.waitForFlows(1);
    t.is(flow!.mode, mode);
    t.is(flow!.response!.framing, 'content-length');
    t.true(flow!.response!.body.bytes.equals(body));
    t.is(flow!.outcome.kind, 'complete');
  });

  test(title('chunked stays chunked, close-delimited stays close-delimited'), async (t) => {
    const xml = multistatus(50);
    const origin = await startOrigin((req, s) => {
      if (req.target.endsWith('/chunked')) {
        s.write('HTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n');
        s.write(`${(1000).toString(16)}\r\n${xml.slice(0, 1000)}\r\n`);
        s.write(`${Buffer.byteLength(xml.slice(1000)).toString(16)}\r\n${xml.slice(1000)}\r\n0\r\n\r\n`);
      } else {
        s.end(`HTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n${xml}`);
      }
    });
    t.teardown(() => origin.close());
    const v = await via(t, mode, origin);
    const chunked = await curl(['--raw', '-i', '-X', 'PROPFIND', ...v.curl('chunked')]);
    t.is(chunked.code, 0);
    const c = chunked.stdout.toString();
    t.regex(c, /Transfer-Encoding: chunked\r\n/);
    t.notRegex(c, /Content-Length/i);
    t.true(c.endsWith('0\r\n\r\n'));
    const closed = await curl(['--raw', '-i', '-X', 'PROPFIND', ...v.curl('closed')]);
    t.is(closed.code, 0);
    const d = closed.stdout.toString();
    t.notRegex(d, /Content-Length|Transfer-Encoding/i);
    t.true(d.endsWith(xml));
    const flows = await v.proxy.waitForFlows(2);
    t.deepEqual(flows.map((f) => f.response!.framing).sort(), ['chunked', 'close-delimited']);
    t.true(flows.every((f) => f.response!.body.bytes.toString() === xml));
  });

  test(title('a bodyless request stays bodyless (no chunked MKCOL, no Content-Length: 0)'), async (t) => {
    const origin = await startOrigin((_req, s) => void s.write(response(201, { 'Content-Length': 0 })));
    t.teardown(() => origin.close());
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
    const origin = await startOrigin((_req, s) => void s.write(response(207, { 'X-CaSe-SeNsItIvE': 'yes', 'Content-Length': 2 }, 'ok')));
    t.teardown(() => origin.close());
    const v = await via(t, mode, origin);
    const body = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';
    const r = await curl(['-i', '-X', 'PROPFIND', '-H', 'Depth: 1', '-H', 'X-My-HeAdEr: 1', '--data-binary', body, ...v.curl('dav/')]);
    t.regex(r.stdout.toString(), /X-CaSe-SeNsItIvE: yes/);
    const chunked = await curl(['-X', 'PUT', '-H', 'Transfer-Encoding: chunked', '--data-binary', body, ...v.curl('dav/x.xml')]);
    t.is(chunked.code, 0);
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
    const origin = await startOrigin((_req, s) => void s.write(response(400, { 'Content-Length': 0 })));
    t.teardown(() => origin.close());
    const v = await via(t, mode, origin);
    const paths = ['/litmus/frag/#ment', '/a%2Fb/c;v=1/%7e', '/q?x=%20y&z=a+b#f'];
    for (const p of paths) {
      // curl drops fragments itself, so a raw client sends exactly these bytes.
      const client = net.connect(v.proxy.port, '127.0.0.1');
      t.teardown(() => client.destroy());
      client.write(`DELETE ${mode === 'reverse' ? p : origin.url + p} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n\r\n`);
      const reply = await new Promise<string>((resolve) => {
        let text = '';
        client.on('data', (d) => (text += d.toString()));
        client.on('close', () => resolve(text));
      });
      t.regex(reply, /^HTTP\/1\.1 400 /);
    }
    t.deepEqual(origin.requests.map((r) => r.target), paths);
    const flows = await v.proxy.waitForFlows(3);
    t.deepEqual(flows.map((f) => f.request.url).sort(), paths.map((p) => origin.url + p).sort());
  });

  test(title('a body cut short of Content-Length reaches the client cut (curl exit 18), never completed'), async (t) => {
    const xml = multistatus(200);
    const origin = await startOrigin((_req, s) => {
      s.write(`HTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\nContent-Length: ${xml.length}\r\n\r\n`);
      s.end(xml.slice(0, 4096));
    });
    t.teardown(() => origin.close());
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
    const origin = await startOrigin((req, s) => {
      s.write('HTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n');
      if (req.target.endsWith('/cut')) s.end('10\r\n<D:multistatus x\r\n');
      else s.end('10\r\n<D:multistatus x\r\nZZ\r\nbroken\r\n0\r\n\r\n');
    });
    t.teardown(() => origin.close());
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
    const origin = await startOrigin((_req, s) => {
      s.write('HTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<D:multistatus xmlns:D="DAV:">');
      setTimeout(() => s.resetAndDestroy(), 50);
    });
    t.teardown(() => origin.close());
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
    const origin = await startOrigin((req, s) => {
      const body = req.target.endsWith('/whole') ? gz : cutGz;
      s.write(response(207, { 'Content-Type': 'text/xml', 'Content-Encoding': 'gzip', 'Content-Length': body.length }, body));
    });
    t.teardown(() => origin.close());
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
    const origin = await startOrigin((req, s) => {
      if (req.headers.expect && req.body.length === 0) {
        s.write('HTTP/1.1 100 Continue\r\n\r\n');
        return;
      }
      s.write('HTTP/1.1 102 Processing\r\nX-Step: one\r\n\r\n');
      setTimeout(() => s.write(response(207, { 'Content-Type': 'text/xml', 'Content-Length': 2 }, 'ok')), 30);
    });
    t.teardown(() => origin.close());
    const v = await via(t, mode, origin);
    const r = await curl(['-i', '-X', 'PROPFIND', ...v.curl('')]);
    t.regex(r.stdout.toString(), /^HTTP\/1\.1 102 Processing\r\nX-Step: one\r\n\r\nHTTP\/1\.1 207/);
    const flows = await v.proxy.waitForFlows(1);
    t.deepEqual(flows[0]!.response!.informational.map((i) => i.status), [102]);
    const body = crypto.randomBytes(2000);
    const res = await new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: v.proxy.port, path: v.target('up'), method: 'PUT', headers: { Expect: '100-continue', 'Content-Length': body.length } });
      let continued = false;
      req.on('continue', () => {
        continued = true;
        req.end(body);
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, continued }));
      });
      req.on('error', reject);
    });
    t.true(res.continued);
    t.is(res.status, 207);
    t.true(origin.requests.some((r) => r.body.equals(body)));
  });

  test(title('keep-alive: one client connection, several requests, one upstream connection'), async (t) => {
    const origin = await startOrigin((_req, s) => void s.write(response(207, { 'Content-Type': 'text/xml', 'Content-Length': 2 }, 'ok')));
    t.teardown(() => origin.close());
    const v = await via(t, mode, origin);
    const urls = [1, 2, 3, 4].map((i) => v.curl(`k${i}`));
    const proxyArgs = mode === 'forward' ? urls[0]!.slice(0, 2) : [];
    const r = await curl(['-X', 'PROPFIND', '-w', '%{num_connects}\n', ...proxyArgs, ...urls.map((u) => u[u.length - 1]!)]);
    t.is(r.code, 0);
    t.is(origin.requests.length, 4);
    t.is(origin.connections, 1);
    t.deepEqual(r.stdout.toString().match(/\d+\n/g), ['1\n', '0\n', '0\n', '0\n']);
  });

  test(title('trailers are relayed'), async (t) => {
    const origin = await startOrigin((_req, s) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc123\r\n\r\n');
    });
    t.teardown(() => origin.close());
    const v = await via(t, mode, origin);
    const r = await curl(['--raw', '-i', ...v.curl('')]);
    t.regex(r.stdout.toString(), /0\r\nX-Checksum: abc123\r\n\r\n$/);
    const [flow] = await v.proxy.waitForFlows(1);
    t.deepEqual(flow!.response!.rawTrailers, ['X-Checksum', 'abc123']);
  });

  test(title('backpressure: a client that stops reading stops the upstream (memory stays bounded)'), async (t) => {
    const total = 256 * 1024 * 1024;
    let written = 0;
    const origin = await startOrigin(async (_req, s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
      const block = Buffer.alloc(64 * 1024, 0x61);
      while (written < total && !s.destroyed) {
        written += block.length;
        if (!s.write(block)) await new Promise((r) => s.once('drain', r).once('close', r));
      }
    });
    t.teardown(() => origin.close());
    const v = await via(t, mode, origin, { maxBody: 1024 });
    const client = net.connect(v.proxy.port, '127.0.0.1');
    t.teardown(() => client.destroy());
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
    const origin = await startOrigin(() => {
      /* never answers */
    });
    t.teardown(() => origin.close());
    const v = await via(t, mode, origin, { upstreamTimeoutMs: 300 });
    const r = await curl(['-i', ...v.curl('')]);
    t.regex(r.stdout.toString(), /^HTTP\/1\.1 504 /);
    const [flow] = await v.proxy.waitForFlows(1);
    t.is(flow!.outcome.kind, 'timeout');
  });

  test(title('a client that disconnects mid-body is recorded as client-aborted'), async (t) => {
    const origin = await startOrigin(async (_req, s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
      s.write(Buffer.alloc(1000, 0x62));
    });
    t.teardown(() => origin.close());
    const v = await via(t, mode, origin);
    const client = net.connect(v.proxy.port, '127.0.0.1');
    client.write(`GET ${v.target('')} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
    await new Promise<void>((resolve) => client.once('data', () => resolve()));
    client.destroy();
    const [flow] = await v.proxy.waitForFlows(1);
    t.is(flow!.outcome.kind, 'client-aborted');
    t.is(flow!.client.address, '127.0.0.1', 'the address of a client that is gone is still known');
  });

  test(title('the capture cap limits what is kept, never what is relayed, and says so'), async (t) => {
    const body = crypto.randomBytes(100_000);
    const origin = await startOrigin((_req, s) => void s.write(response(200, { 'Content-Length': body.length }, body)));
    t.teardown(() => origin.close());
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
    const origin = await startOrigin((_req, s) => void s.write(response(200, { 'Content-Length': 2 }, 'ok')));
    t.teardown(() => origin.close());
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
}

test('reverse mode sets Host to the upstream and maps Destination, If and Location', async (t) => {
  const origin = await startOrigin((_req, s) => {
    const loc = `http://127.0.0.1:${origin.port}/prefix/moved/`;
    s.write(response(201, { Location: loc, 'Content-Location': '/prefix/there', 'Content-Length': 0 }));
  });
  t.teardown(() => origin.close());
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url + '/prefix/') });
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

test('forward mode passes Host and Destination untouched and drops Proxy-Authorization', async (t) => {
  const origin = await startOrigin((_req, s) => void s.write(response(201, { Location: 'http://elsewhere.example/x', 'Content-Length': 0 })));
  t.teardown(() => origin.close());
  const v = await via(t, 'forward', origin);
  const r = await curl(['-i', '-X', 'COPY', '-H', `Destination: ${origin.url}/b`, '--proxy-user', 'u:p', ...v.curl('a')]);
  const req = origin.requests[0]!;
  t.is(req.target, '/a');
  t.is(req.headers.host, `127.0.0.1:${origin.port}`);
  t.is(req.headers.destination, `${origin.url}/b`);
  t.is(req.headers['proxy-authorization'], undefined);
  t.regex(r.stdout.toString(), /Location: http:\/\/elsewhere\.example\/x\r\n/);
});

test('forward mode refuses origin-form requests and requests to itself, with a recorded flow', async (t) => {
  const proxy = await startTestProxy(t, { caDir });
  const origin = await curl(['-i', proxy.url + 'dav/']);
  t.regex(origin.stdout.toString(), /^HTTP\/1\.1 400 [\s\S]*send absolute-form requests/);
  const self = await curl(['-i', '-x', proxy.url, proxy.url + 'dav/']);
  t.regex(self.stdout.toString(), /^HTTP\/1\.1 508 [\s\S]*refusing to loop/);
  const flows = await proxy.waitForFlows(2);
  t.true(flows.every((f) => f.outcome.kind === 'error'));
});

test('an upstream that refuses connections gives a 502 with a short text body and a recorded flow', async (t) => {
  // Port 1 (tcpmux) has no listener: a port freed by a closed server could be taken meanwhile by
  // a server of a test running beside this one.
  const port = 1;
  for (const mode of modes) {
    const proxy = await startTestProxy(t, mode === 'reverse' ? { upstream: new URL(`http://127.0.0.1:${port}/`) } : { caDir });
    const args = mode === 'reverse' ? [proxy.url + 'dav/'] : ['-x', proxy.url, `http://127.0.0.1:${port}/dav/`];
    const r = await curl(['-i', '-X', 'PROPFIND', ...args]);
    const text = r.stdout.toString();
    t.regex(text, /^HTTP\/1\.1 502 /, mode);
    t.regex(text, /refused the connection \(ECONNREFUSED\)\n$/, mode);
    const [flow] = await proxy.waitForFlows(1);
    t.is(flow!.response, null);
    t.is(flow!.outcome.kind, 'error');
    t.is(flow!.outcome.code, 'ECONNREFUSED');
  }
});

test('response chunks stream to the hook while relaying, and add up to the body', async (t) => {
  const xml = multistatus(2000);
  const origin = await startOrigin((_req, s) => void s.write(response(207, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(xml) }, xml)));
  t.teardown(() => origin.close());
  const starts: string[] = [];
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), hooks: { onFlow: () => {}, onResponseStart: (f) => void starts.push(f.id) } });
  await curl(['-X', 'PROPFIND', proxy.url]);
  // hooks passed in replace the collector's onFlow; wait on the chunk map instead.
  await new Promise((r) => setTimeout(r, 100));
  t.is(starts.length, 1);
  t.is(Buffer.concat(proxy.chunks.get(starts[0]!) ?? []).toString(), xml);
});

test('closing the proxy while exchanges wait for upstream hands their flows over before close() resolves', async (t) => {
  let arrived = 0;
  // An origin that reads requests and never answers.
  const origin = await startOrigin(() => {
    arrived++;
  });
  t.teardown(() => origin.close());
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url) });
  const clients = Array.from({ length: 4 }, (_, i) => curl(['-X', 'PROPFIND', '-H', 'Depth: 0', '-o', '/dev/null', `${proxy.url}dav/${i}`]));
  for (let i = 0; i < 200 && arrived < 4; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(arrived, 4);
  t.is(proxy.flows.length, 0);
  await proxy.close();
  // No waiting after close(): every cut exchange is already recorded.
  t.is(proxy.flows.length, 4);
  t.true(proxy.flows.every((f) => f.outcome.kind !== 'complete'), proxy.flows.map((f) => f.outcome.kind).join(' '));
  await Promise.all(clients);
});

// Reverse mode behind something that changes the address clients use (a TLS terminator, a port
// forward): with a public URL, COPY and MOVE Destinations on it reach the server on the server's
// own address. The raw-socket origin judges a Destination as Apache's mod_dav does: another scheme
// or port is a 502.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { startOrigin, response, type Origin } from '../helpers/origin.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { curl } from '../helpers/curl.js';

const PUBLIC = 'https://dav.example.test:8443';

/**
 * An origin serving /dav/ that answers COPY and MOVE like mod_dav: 201 with a Location, or 502 for
 * a Destination on another scheme or port. It takes an absolute path too, as many servers do.
 */
async function davOrigin(t: ExecutionContext): Promise<Origin> {
  const origin: Origin = await startOrigin((req, s) => {
    const dest = req.headers.destination ?? '';
    const own = `http://127.0.0.1:${origin.port}/dav/`;
    if (!dest.startsWith(own) && !dest.startsWith('/dav/')) {
      const text = 'Destination URI refers to different scheme or port (http://hostname:port)\n';
      s.write(response(502, { 'Content-Type': 'text/plain', 'Content-Length': text.length }, text));
      return;
    }
    s.write(response(201, { Location: dest, 'Content-Length': 0 }));
  });
  t.teardown(() => origin.close());
  return origin;
}

async function davtap(t: ExecutionContext, origin: Origin, publicUrl?: string): Promise<TestProxy> {
  return startTestProxy(t, { upstream: new URL(`${origin.url}/dav/`), ...(publicUrl ? { publicUrl: new URL(publicUrl) } : {}) });
}

/** Sends `method` to davtap as a TLS terminator in front of it would: the client's headers, davtap's Host. */
function send(proxy: TestProxy, method: string, path: string, headers: string[]) {
  return curl(['-i', '-X', method, ...headers.flatMap((h) => ['-H', h]), proxy.url.replace(/\/$/, '') + path]);
}

for (const method of ['COPY', 'MOVE']) {
  test(`${method} with an https Destination on the public URL reaches the server on its own address, and Location comes back on the public URL`, async (t) => {
    const origin = await davOrigin(t);
    const proxy = await davtap(t, origin, `${PUBLIC}/`);
    const r = await send(proxy, method, '/a.txt', [`Destination: ${PUBLIC}/dir/b%20c.txt`, 'Overwrite: T']);
    const req = origin.requests[0]!;
    t.is(req.method, method);
    t.is(req.target, '/dav/a.txt');
    t.is(req.headers.host, `127.0.0.1:${origin.port}`);
    t.is(req.headers.destination, `http://127.0.0.1:${origin.port}/dav/dir/b%20c.txt`);
    t.is(req.headers.overwrite, 'T');
    const head = r.stdout.toString('latin1');
    t.regex(head, /^HTTP\/1\.1 201 /);
    t.true(head.includes(`\r\nLocation: ${PUBLIC}/dir/b%20c.txt\r\n`), head);
  });
}

test('without a public URL the same Destination reaches the server unchanged, and the server refuses it', async (t) => {
  const origin = await davOrigin(t);
  const proxy = await davtap(t, origin);
  const r = await send(proxy, 'MOVE', '/a.txt', [`Destination: ${PUBLIC}/b.txt`]);
  t.is(origin.requests[0]!.headers.destination, `${PUBLIC}/b.txt`);
  t.regex(r.stdout.toString('latin1'), /^HTTP\/1\.1 502 [^]*different scheme or port/);
});

test('with a public URL, relative Destinations and If tags on the public URL map too', async (t) => {
  const origin = await davOrigin(t);
  const proxy = await davtap(t, origin, `${PUBLIC}/`);
  const r = await send(proxy, 'COPY', '/a.txt', ['Destination: /b.txt', `If: <${PUBLIC}/a.txt> (<opaquelocktoken:abc>)`]);
  const req = origin.requests[0]!;
  t.is(req.headers.destination, '/dav/b.txt');
  t.is(req.headers.if, `<http://127.0.0.1:${origin.port}/dav/a.txt> (<opaquelocktoken:abc>)`);
  t.regex(r.stdout.toString('latin1'), /^HTTP\/1\.1 201 [^]*\r\nLocation: \/b\.txt\r\n/);
});

test('a public URL with a prefix: Destinations under it map to the upstream prefix, Location comes back under it', async (t) => {
  const origin = await davOrigin(t);
  const proxy = await davtap(t, origin, `${PUBLIC}/debug/`);
  const r = await send(proxy, 'MOVE', '/a.txt', [`Destination: ${PUBLIC}/debug/b.txt`]);
  t.is(origin.requests[0]!.headers.destination, `http://127.0.0.1:${origin.port}/dav/b.txt`);
  t.true(r.stdout.toString('latin1').includes(`\r\nLocation: ${PUBLIC}/debug/b.txt\r\n`), r.stdout.toString('latin1'));
});

test('with a public URL, a Destination on davtap\'s own address still maps', async (t) => {
  const origin = await davOrigin(t);
  const proxy = await davtap(t, origin, `${PUBLIC}/`);
  const self = proxy.url.replace(/\/$/, '');
  for (const dest of [`${self}/b.txt`, `${self.replace(/^http:/, 'https:')}/c.txt`]) {
    const r = await send(proxy, 'COPY', '/a.txt', [`Destination: ${dest}`]);
    t.regex(r.stdout.toString('latin1'), /^HTTP\/1\.1 201 /, dest);
  }
  t.deepEqual(origin.requests.map((q) => q.headers.destination), [`http://127.0.0.1:${origin.port}/dav/b.txt`, `http://127.0.0.1:${origin.port}/dav/c.txt`]);
});

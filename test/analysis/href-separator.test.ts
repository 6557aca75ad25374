// MS301's encoded-separator check: `%2F` standing for `/` (a gateway that encoded the path it
// forwarded) against `%2F` inside a segment name, which is legal.
import test from 'ava';
import { analyze } from '../../src/analysis/analyzer.js';
import { encodedSeparator } from '../../src/analysis/href.js';
import type { RequestContext, ResponseHead } from '../../src/types.js';

test('a %2F that puts the href inside the Request-URI only when read as / is a separator', (t) => {
  t.is(encodedSeparator('/dav%2Fdocs%2Fa.txt', '/dav/docs/'), 4);
  t.is(encodedSeparator('/dav/docs%2fsub%2Fa.txt', '/dav/docs/sub/'), 9, 'lower-case escapes too');
  t.is(encodedSeparator('http://127.0.0.1:8080/dav%2Fdocs%2Fa.txt', '/dav/docs/'), 25, 'offset counts the scheme and authority');
});

test('an href whose path starts with %2F was encoded whole', (t) => {
  t.is(encodedSeparator('%2Fdav%2Fa.txt', '/dav/'), 0);
  t.is(encodedSeparator('https://example.org%2Fdav', '/'), undefined, 'no path at all: nothing to say');
});

test('a %2F inside a segment name is not a separator', (t) => {
  t.is(encodedSeparator('/dav/docs/2024%2F25.txt', '/dav/docs/'), undefined);
  t.is(encodedSeparator('/dav/docs/a.txt', '/dav/docs/'), undefined);
  t.is(encodedSeparator('/other%2Fa.txt', '/dav/'), undefined, 'outside the Request-URI either way: MS303 says it');
  t.is(encodedSeparator('/dav%2Fa.txt', '/'), undefined, 'everything is below /');
  t.is(encodedSeparator('/dav%2Fa.txt', ''), undefined, 'no request known');
});

function ms301(target: string, method: string, hrefs: string[]) {
  const body = `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">${hrefs.map((h) => `<D:response><D:href>${h}</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>`).join('')}</D:multistatus>`;
  const req: RequestContext = { method, target, rawHeaders: ['Host', '127.0.0.1', 'Depth', '1'] };
  const head: ResponseHead = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml'], bodyForm: 'payload' };
  return analyze(req, head, Buffer.from(body), { outcome: 'complete', closeKind: 'fin' }).findings.filter((f) => f.rule === 'MS301');
}

test('MS301 reports the encoded separator as an error, and a legal %2F not at all', (t) => {
  const hit = ms301('/dav/', 'PROPFIND', ['/dav/', '/dav%2Fa.txt']);
  t.is(hit.length, 1);
  t.is(hit[0]!.severity, 'error');
  t.regex(hit[0]!.message, /%2F' used as a path separator/);
  t.deepEqual(ms301('/dav/', 'PROPFIND', ['/dav/', '/dav/a%2Fb.txt']), []);
});

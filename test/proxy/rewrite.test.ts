// Reverse mode's header mappings (src/proxy/rewrite.ts) as pure functions: Destination and If from
// the client's address to the upstream's, Location and Content-Location back, with and without a
// public URL (--public-url: something in front of davtap, such as a TLS terminator).
import test from 'ava';
import { firstHeader } from '../../src/http/headers.js';
import { addressMapOf, clientAddressOf, mapRequestHeaders, mapResponseHeaders, type ClientAddress } from '../../src/proxy/rewrite.js';

const up = addressMapOf(new URL('http://10.0.0.5:8081/dav/'));
const upNoPrefix = addressMapOf(new URL('http://10.0.0.5:8081/'));
const self = 'http://127.0.0.1:8080';

/** The Destination the upstream gets for `value`. */
function destination(value: string, client: string | ClientAddress, map = up): string | undefined {
  return firstHeader(mapRequestHeaders(map, ['Host', 'x', 'Destination', value], client), 'destination');
}

/** What the client gets for a Location `value` from the upstream. */
function location(value: string, client: string | ClientAddress, map = up): string | undefined {
  return firstHeader(mapResponseHeaders(map, ['Location', value], client), 'location');
}

test('without a public URL: davtap\'s own origin and absolute paths map, other origins pass as sent', (t) => {
  t.is(destination(`${self}/b`, self), 'http://10.0.0.5:8081/dav/b');
  t.is(destination(self, self), 'http://10.0.0.5:8081/dav/');
  t.is(destination('/b', self), '/dav/b');
  t.is(destination('https://127.0.0.1:8080/b', self), 'https://127.0.0.1:8080/b');
  t.is(destination('https://example.org/b', self), 'https://example.org/b');
  t.is(location('http://10.0.0.5:8081/dav/x/', self), `${self}/x/`);
  t.is(location('/dav/x', self), '/x');
  t.is(location('/dav', self), '/');
  t.is(location('/other', self), '/other');
  t.is(location('/x', self, upNoPrefix), '/x');
});

test('clientAddressOf without a public URL is the request\'s origin alone', (t) => {
  t.deepEqual(clientAddressOf(self, undefined, '127.0.0.1:8080'), { origin: self, prefix: '', also: [] });
});

test('clientAddressOf with a public URL: its origin and prefix, davtap\'s own address and the Host in both schemes', (t) => {
  const c = clientAddressOf('http://davtap.internal:8080', new URL('https://example.org/debug/'), '127.0.0.1:8080');
  t.deepEqual(c, {
    origin: 'https://example.org',
    prefix: '/debug',
    also: ['http://davtap.internal:8080', 'https://davtap.internal:8080', 'http://127.0.0.1:8080', 'https://127.0.0.1:8080'],
  });
  // The public origin is never also a prefix-less one (nginx may pass the public Host through).
  const same = clientAddressOf('https://example.org', new URL('https://example.org/debug/'), '127.0.0.1:8080');
  t.false(same.also.includes('https://example.org'));
  t.is(clientAddressOf(self, new URL('https://example.org:8443')).prefix, '');
});

test('a public URL without a prefix: https Destinations on it map to the upstream, Location maps back to it', (t) => {
  const c = clientAddressOf(self, new URL('https://host:8443/'), '127.0.0.1:8080');
  t.is(destination('https://host:8443/b', c), 'http://10.0.0.5:8081/dav/b');
  t.is(destination('HTTPS://HOST:8443/a%20b/', c), 'http://10.0.0.5:8081/dav/a%20b/');
  t.is(destination('https://host:8443', c), 'http://10.0.0.5:8081/dav/');
  t.is(destination('/b', c), '/dav/b');
  // Another port or scheme on the public host is not davtap's.
  t.is(destination('https://host:9443/b', c), 'https://host:9443/b');
  t.is(destination('http://host:8443/b', c), 'http://host:8443/b');
  t.is(destination('https://host:8443x/b', c), 'https://host:8443x/b');
  t.is(location('http://10.0.0.5:8081/dav/moved/', c), 'https://host:8443/moved/');
  t.is(location('http://10.0.0.5:8081/dav', c), 'https://host:8443/');
  t.is(location('/dav/x', c), '/x');
});

test('a public URL with a prefix: Destination and If on public origin + prefix map to upstream origin + prefix', (t) => {
  const c = clientAddressOf(self, new URL('https://example.org/debug/'), '127.0.0.1:8080');
  t.is(destination('https://example.org/debug/b', c), 'http://10.0.0.5:8081/dav/b');
  t.is(destination('https://example.org/debug/', c), 'http://10.0.0.5:8081/dav/');
  t.is(destination('https://example.org/debug', c), 'http://10.0.0.5:8081/dav/');
  t.is(destination('https://example.org/debug/b', c, upNoPrefix), 'http://10.0.0.5:8081/b');
  // Outside the prefix, or a longer segment that only starts with it: not davtap's.
  t.is(destination('https://example.org/b', c), 'https://example.org/b');
  t.is(destination('https://example.org/debugger/b', c), 'https://example.org/debugger/b');
  // The default port written out is the same origin.
  t.is(destination('https://example.org:443/debug/b', c), 'http://10.0.0.5:8081/dav/b');
  // Paths: under the public prefix as the client sees them, else from davtap's root.
  t.is(destination('/debug/b', c), '/dav/b');
  t.is(destination('/b', c), '/dav/b');
  const ifHeader = mapRequestHeaders(up, ['If', '<https://example.org/debug/src> (<opaquelocktoken:abc>) <http://127.0.0.1:8080/x> (["etag"])'], c);
  t.is(firstHeader(ifHeader, 'if'), '<http://10.0.0.5:8081/dav/src> (<opaquelocktoken:abc>) <http://10.0.0.5:8081/dav/x> (["etag"])');
});

test('a public URL with a prefix: Location and Content-Location map back under it, absolute or path', (t) => {
  const c = clientAddressOf(self, new URL('https://example.org/debug/'), '127.0.0.1:8080');
  t.is(location('http://10.0.0.5:8081/dav/moved/', c), 'https://example.org/debug/moved/');
  t.is(location('http://10.0.0.5:8081/dav', c), 'https://example.org/debug/');
  t.is(location('/dav/x', c), '/debug/x');
  t.is(location('/other', c), '/other');
  t.is(location('http://elsewhere.example/x', c), 'http://elsewhere.example/x');
  t.is(location('/x', c, upNoPrefix), '/debug/x');
  t.is(location('//elsewhere.example/x', c, upNoPrefix), '//elsewhere.example/x');
  const raw = mapResponseHeaders(up, ['Content-Location', 'http://10.0.0.5:8081/dav/there'], c);
  t.is(firstHeader(raw, 'content-location'), 'https://example.org/debug/there');
});

test('with a public URL, davtap\'s own address (http or https) and the request\'s Host still map, from davtap\'s root', (t) => {
  const c = clientAddressOf('http://dav.lan:8080', new URL('https://example.org/debug/'), '127.0.0.1:8080');
  t.is(destination('http://127.0.0.1:8080/b', c), 'http://10.0.0.5:8081/dav/b');
  t.is(destination('https://127.0.0.1:8080/b', c), 'http://10.0.0.5:8081/dav/b');
  t.is(destination('http://127.0.0.1:8080', c), 'http://10.0.0.5:8081/dav/');
  t.is(destination('http://dav.lan:8080/debug/b', c), 'http://10.0.0.5:8081/dav/debug/b');
  t.is(destination('http://127.0.0.1:8081/b', c), 'http://127.0.0.1:8081/b');
});

test('a string client keeps the mapping it always had, Host set to the upstream', (t) => {
  const raw = mapRequestHeaders(up, ['Host', '127.0.0.1:8080', 'Destination', `${self}/a%20b/`], self);
  t.deepEqual(raw, ['Host', '10.0.0.5:8081', 'Destination', 'http://10.0.0.5:8081/dav/a%20b/']);
});

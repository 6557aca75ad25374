// Href normalization (what MS205/MS303 compare) and the URI-reference check of MS301.
import test from 'ava';
import { checkHrefSyntax, commonPrefix, isInwardHost, isWithin, normalizeHref, parseHref, removeDotSegments } from '../../src/analysis/href.js';

test('normalization decodes unreserved escapes, upper-cases the others and drops scheme and authority', (t) => {
  t.is(normalizeHref('/dav/%61%2fb%7e'), '/dav/a%2Fb~');
  t.is(normalizeHref('http://Host:80/dav/x'), '/dav/x');
  t.is(normalizeHref(' /dav/a/./b/../c '), '/dav/a/c');
  t.is(normalizeHref('/dav/a%20b'), '/dav/a%20b');
});

test('parseHref tells absolute URIs from absolute paths and strips default ports', (t) => {
  t.deepEqual(parseHref('https://user@Example.org:443/x?y'), { form: 'absolute-uri', scheme: 'https', authority: 'example.org', path: '/x' });
  t.is(parseHref('/x').form, 'absolute-path');
  t.is(parseHref('x/y').form, 'relative');
  t.is(parseHref('   ').form, 'empty');
});

test('dot-segments resolve like RFC 3986 §5.2.4', (t) => {
  t.is(removeDotSegments('/a/b/c/./../../g'), '/a/g');
  t.is(removeDotSegments('/a/..'), '/');
  t.is(removeDotSegments('/plain/path'), '/plain/path');
});

test('MS301 syntax: raw space, #, ?, brackets, controls and bad escapes are errors, raw non-ASCII a warning', (t) => {
  t.is(checkHrefSyntax('/dav/a%20b.txt'), undefined);
  t.is(checkHrefSyntax('http://[::1]:8080/dav/'), undefined);
  for (const bad of ['/dav/a b', '/dav/a#b', '/dav/a?b', '/dav/[x]', '/dav/\x01', '/dav/100%', '/dav/%zz']) t.is(checkHrefSyntax(bad)?.severity, 'error', bad);
  t.is(checkHrefSyntax('/dav/über')?.severity, 'warning');
  t.is(checkHrefSyntax('/dav/a b')?.offset, 6);
});

test('scope helpers: within, common prefix, inward hosts', (t) => {
  t.true(isWithin('/dav/cap/perm', '/dav/cap/perm/'));
  t.true(isWithin('/dav/cap/perm/x', '/dav/cap/'));
  t.false(isWithin('/dav/capx', '/dav/cap/'));
  t.is(commonPrefix('/webdav/data/', '/data/x'), '/');
  for (const h of ['10.1.2.3:8080', '192.168.0.1', '172.20.0.5', '127.0.0.1', 'localhost:8080', '[::1]:80', 'backend', 'srv.internal', 'nas.local']) t.true(isInwardHost(h), h);
  for (const h of ['dav.example.org', '8.8.8.8', '172.32.0.1']) t.false(isInwardHost(h), h);
});

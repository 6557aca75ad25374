import test from 'ava';
import { createRedactor, defaultSecretNames, REDACTED, secretNames } from '../../src/redact/index.js';

const inUrl = encodeURIComponent(REDACTED);

test('credential headers lose their values and keep their names, order and case', (t) => {
  const r = createRedactor();
  const raw = ['Host', 'h', 'authorization', 'Bearer abc', 'Cookie', 'a=1; b=2', 'Proxy-Authorization', 'Basic x', 'Set-Cookie', 's=1', 'Depth', '1'];
  t.deepEqual(r.headers(raw), ['Host', 'h', 'authorization', REDACTED, 'Cookie', REDACTED, 'Proxy-Authorization', REDACTED, 'Set-Cookie', REDACTED, 'Depth', '1']);
  t.deepEqual(raw[3], 'Bearer abc', 'the input is not modified');
  t.true(r.redactsHeader('AUTHORIZATION'));
  t.false(r.redactsHeader('Depth'));
  // WebDAV's own tokens are not credentials, and a lock bug cannot be debugged without them.
  t.false(r.redactsHeader('Lock-Token'));
  t.is(r.headerValue('If', '(<opaquelocktoken:1234>)'), '(<opaquelocktoken:1234>)');
});

test('token-looking query parameters are redacted, the rest of the URL stays byte for byte', (t) => {
  const r = createRedactor();
  t.is(r.url('http://h/dav/?token=abc&Page=2&a%20b=c+d'), `http://h/dav/?token=${inUrl}&Page=2&a%20b=c+d`);
  t.is(r.url('/s?ACCESS_TOKEN=x&key=y&sig=z&signature=w&password=p&auth=q&keep'), `/s?ACCESS_TOKEN=${inUrl}&key=${inUrl}&sig=${inUrl}&signature=${inUrl}&password=${inUrl}&auth=${inUrl}&keep`);
  // Longer names ending in a secret one: pre-signed S3 URLs, OAuth refresh tokens, API keys.
  t.is(r.url('/o?X-Amz-Signature=s&refresh_token=t&api_key=k&monkey=banana'), `/o?X-Amz-Signature=${inUrl}&refresh_token=${inUrl}&api_key=${inUrl}&monkey=banana`);
  t.is(r.url('http://user:pa55@h:8080/p?x=1#frag'), `http://user:${REDACTED}@h:8080/p?x=1#frag`);
  t.is(r.url('https://ghp_abc123@h/repo'), `https://${REDACTED}@h/repo`);
  t.is(r.url('/plain/path'), '/plain/path');
  t.is(r.url('/a@b/c?x=1'), '/a@b/c?x=1', 'an @ in a path is not userinfo');
  t.is(r.headerValue('Destination', 'http://h/b?token=1'), `http://h/b?token=${inUrl}`);
});

test('every name of the wider default list is redacted, as a header and as a query parameter', (t) => {
  const r = createRedactor();
  const names = [
    'passwd', 'pass', 'secret', 'client_secret', 'apikey', 'X-Api-Key', 'X-Auth-Token', 'x-my-secret-thing', 'refresh_token',
    'PHPSESSID', 'jsessionid', 'sid', 'MY_PASSWORD_HASH', 'x-api-key-2', 'X-CSRF-Token', 'db.password',
  ];
  for (const name of names) {
    t.deepEqual(r.headers([name, 'VALUE-1']), [name, REDACTED], `header ${name}`);
    t.is(r.url(`/p?a=1&${name}=VALUE-2&b=2`), `/p?a=1&${name}=${inUrl}&b=2`, `parameter ${name}`);
  }
  for (const name of ['Depth', 'Destination', 'Overwrite', 'monkey', 'bypass', 'passage', 'keyboard', 'Content-Type', 'Lock-Token', 'sync-token']) {
    t.false(r.isSecretName(name), `${name} is not a secret`);
  }
});

test('session ids in path parameters are redacted; the segment and the rest of the path stay', (t) => {
  const r = createRedactor();
  t.is(r.url('/dav/file;jsessionid=ABC123'), `/dav/file;jsessionid=${inUrl}`);
  t.is(r.url('http://h/dav/dir;JSESSIONID=ABC/file.txt?x=1'), `http://h/dav/dir;JSESSIONID=${inUrl}/file.txt?x=1`);
  t.is(r.url('/a;phpsessid=S1;v=2/b'), `/a;phpsessid=${inUrl};v=2/b`);
  t.is(r.url('/a;v=2/b'), '/a;v=2/b');
  // A `;` inside a query marks another parameter (older forms) or sits in a value: masked either way.
  t.is(r.url('/q?a=1;token=T1&b=2'), `/q?a=1;token=${inUrl}&b=2`);
  t.is(r.url('/q?token=T1;T2&b=2'), `/q?token=${inUrl}&b=2`);
  // OAuth's implicit flow carries the token in the fragment.
  t.is(r.url('https://h/cb#access_token=T3&state=s'), `https://h/cb#access_token=${inUrl}&state=s`);
});

test('free text: URLs, parameter lists and header lines inside a sentence lose their secrets, the sentence stays', (t) => {
  const r = createRedactor();
  t.is(
    r.text('tolerated variants: Location header on a 207 (http://x/a?token=SECRET); reason phrase "207 Foo"'),
    `tolerated variants: Location header on a 207 (http://x/a?token=${inUrl}); reason phrase "207 Foo"`,
  );
  t.is(r.text('href /dav/a;jsessionid=S is not below /dav/b/'), `href /dav/a;jsessionid=${inUrl} is not below /dav/b/`);
  t.is(r.text('<D:href>/a?sig=zz&x=1</D:href>'), `<D:href>/a?sig=${inUrl}&x=1</D:href>`);
  t.is(r.text('sent password=hunter2&user=bob'), `sent password=${inUrl}&user=bob`);
  t.is(r.text('challenge nonce="n1", token="t 1"'), `challenge nonce="n1", token="${REDACTED}"`);
  t.is(r.text('see https://user:pw@h/x'), `see https://user:${REDACTED}@h/x`);
  t.is(r.text('request had Authorization: Basic dXNlcjpw\nand more'), `request had Authorization: ${REDACTED}\nand more`);
  // What is not a secret stays byte for byte, WebDAV's lock and sync tokens included.
  for (const s of ['line 3:14', 'sync-token "http://h/sync/12" is not', 'If: (<opaquelocktoken:e71d>)', 'Lock-Token: <opaquelocktoken:1>', 'a?b', '/p?depth=1&x', '']) {
    t.is(r.text(s), s);
  }
});

test('redacting twice gives what redacting once gave', (t) => {
  const r = createRedactor();
  for (const s of ['http://u:p@h/a;jsessionid=1?token=2#access_token=3', 'X (http://h/?sig=1) and Cookie: a=b', 'token="q"', 'password=1&x=2']) {
    const once = r.text(s);
    t.not(once, s);
    t.is(r.text(once), once);
    t.is(r.url(r.url(s)), r.url(s));
  }
});

test('--redact adds names and patterns, !NAME keeps one the defaults redact; --no-redact keeps everything', (t) => {
  const r = createRedactor({ names: ['X-Tenant', '*session*', '!sid', 'lock-token'] });
  t.deepEqual(r.headers(['x-tenant', 'k1', 'X-Other', 'v', 'Lock-Token', '<opaquelocktoken:1>']), ['x-tenant', REDACTED, 'X-Other', 'v', 'Lock-Token', REDACTED]);
  t.is(r.url('/p?my_session=abc&sid=7&x=1'), `/p?my_session=${inUrl}&sid=7&x=1`);
  t.is(r.url('/p;sid=7'), '/p;sid=7');
  // The separator a user may type in front of a path parameter is accepted.
  t.true(createRedactor({ names: [';tenantid'] }).isSecretName('tenantid'));
  const off = createRedactor({ enabled: false });
  t.deepEqual(off.headers(['Authorization', 'Basic x']), ['Authorization', 'Basic x']);
  t.is(off.url('/p?token=abc'), '/p?token=abc');
  t.is(off.text('(http://h/?token=abc)'), '(http://h/?token=abc)');
  t.false(off.redactsHeader('Authorization'));
});

test('a user entry replaces the default entry for the same name and leaves the others', (t) => {
  const names = secretNames(['lock-token', '!sid']);
  t.true(names.includes('lock-token'));
  t.false(names.includes('!lock-token'));
  t.true(names.includes('!sid'));
  t.false(names.includes('sid'));
  t.is(names.length, defaultSecretNames.length);
});

// The --inject grammar: every documented form parses to what it says, anything else is a one-line
// usage error (exit 2) that lists the valid forms.
import test from 'ava';
import { InjectSpecError, parseInjectSpec, parseInjectSpecs, specForms } from '../../src/inject/index.js';

const valid: Array<[string, Record<string, unknown>]> = [
  ['truncate:bytes=0', { kind: 'truncate-bytes', bytes: 0, framing: 'keep' }],
  ['truncate:bytes=32768', { kind: 'truncate-bytes', bytes: 32768, framing: 'keep' }],
  ['truncate:bytes=10:chunked', { kind: 'truncate-bytes', bytes: 10, framing: 'chunked' }],
  ['truncate:responses=3', { kind: 'truncate-responses', responses: 3, framing: 'keep' }],
  ['truncate:responses=3:keep-length', { kind: 'truncate-responses', responses: 3, framing: 'keep-length' }],
  ['truncate:responses=1:chunked', { kind: 'truncate-responses', responses: 1, framing: 'chunked' }],
  ['strip-ns:D', { kind: 'strip-ns', prefix: 'D' }],
  ['strip-ns:DAV:', { kind: 'strip-ns', uri: 'DAV:' }],
  ['strip-ns:urn:ietf:params:xml:ns:caldav', { kind: 'strip-ns', uri: 'urn:ietf:params:xml:ns:caldav' }],
  ['strip-ns:http://apache.org/dav/props/', { kind: 'strip-ns', uri: 'http://apache.org/dav/props/' }],
  ['drop:propstat', { kind: 'drop', localName: 'propstat' }],
  ['rewrite-href:http://backend:8080', { kind: 'rewrite-href', origin: 'http://backend:8080', prefix: '' }],
  ['rewrite-href:https://10.1.2.3/base/', { kind: 'rewrite-href', origin: 'https://10.1.2.3', prefix: '/base' }],
  ['rewrite-href:/other/prefix', { kind: 'rewrite-href', prefix: '/other/prefix' }],
  ['html', { kind: 'html' }],
  ['gzip-no-header', { kind: 'gzip-no-header' }],
  ['delay:250', { kind: 'delay', ms: 250 }],
  ['stall:after=100', { kind: 'stall', after: 100 }],
  ['stall:after=0:ms=5000', { kind: 'stall', after: 0, ms: 5000 }],
  ['reset', { kind: 'reset' }],
  ['reset:after=4096', { kind: 'reset', after: 4096 }],
];

for (const [text, expected] of valid) {
  test(`'${text}' parses`, (t) => {
    t.like(parseInjectSpec(text), { ...expected, text });
  });
}

const invalid: Array<[string, RegExp]> = [
  ['', /is empty/],
  ['truncate', /needs bytes=N or responses=N/],
  ['truncate:bytes=', /bytes=N as a whole number/],
  ['truncate:bytes=-1', /whole number/],
  ['truncate:bytes=1k', /whole number/],
  ['truncate:bytes=10:keep-length', /unknown mode 'keep-length'/],
  ['truncate:responses=0', /at least 1/],
  ['truncate:responses=2:sideways', /unknown mode 'sideways'/],
  ['truncate:bytes=1:chunked:more', /unexpected ':more'/],
  ['strip-ns', /prefix or a namespace URI/],
  ['drop:', /local name/],
  ['drop:a:b', /local name/],
  ['rewrite-href:backend', /http\(s\) URL or a \/prefix/],
  ['rewrite-href:ftp://backend/', /http\(s\) URL/],
  ['rewrite-href:http://u:p@backend/', /without query, fragment or credentials/],
  ['html:now', /takes no argument/],
  ['delay', /MS as a whole number/],
  ['delay:1s', /whole number/],
  ['stall', /needs after=N/],
  ['stall:after=1:for=2', /needs ms=N/],
  ['reset:50', /needs after=N/],
  ['explode', /is not a known fault/],
];

for (const [text, why] of invalid) {
  test(`'${text}' is refused with the valid forms on one line`, (t) => {
    const err = t.throws(() => parseInjectSpecs(text), { instanceOf: InjectSpecError });
    t.regex(err.message, why);
    t.regex(err.message, /^--inject: '/);
    for (const form of specForms) t.true(err.message.includes(form), form);
    t.false(err.message.includes('\n'));
    t.is(err.exitCode, 2);
  });
}

test('a list applies in order and each keeps its own text; one bad item refuses the whole list', (t) => {
  const specs = parseInjectSpecs('drop:href, truncate:responses=2:keep-length,delay:10');
  t.deepEqual(specs.map((s) => s.kind), ['drop', 'truncate-responses', 'delay']);
  t.deepEqual(specs.map((s) => s.text), ['drop:href', 'truncate:responses=2:keep-length', 'delay:10']);
  t.throws(() => parseInjectSpecs('html,nope'), { message: /'nope' is not a known fault/ });
});

// The body rewrites on every real 207 capture (five servers): each one changes exactly what it
// says, leaves every other byte as it was, and the analyzer sees the fault it is meant to show.
import test from 'ava';
import { analyze } from '../../src/analysis/analyzer.js';
import { afterNthResponse, dropElements, rewriteHrefs, stripNamespace } from '../../src/inject/rewrites.js';
import { tags } from '../../src/inject/markup.js';
import { decodedBody, loadCapturePairs, requestContext, responseHead, statusOf, type Capture } from '../helpers/corrupt.js';
import { mulberry32 } from '../helpers/random.js';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const captures = loadCapturePairs(`${fixtures}captures`).filter((c) => statusOf(c.response).status === 207);

function analyzeText(c: Capture, text: string) {
  const head = { ...responseHead(c.response, 'payload'), rawHeaders: ['Content-Type', 'application/xml; charset=utf-8'] };
  return analyze(requestContext(c.request), head, Buffer.from(text, 'latin1'));
}

const responseEnds = (text: string) => [...text.matchAll(/<\/([\w.-]+:)?response\s*>/g)];
/** The prefix bound to DAV: on the root element, as the capture writes it ('' for a default namespace). */
const davPrefix = (text: string) => /<([\w.-]+:)?multistatus\b[^>]*?\sxmlns(?::([\w.-]+))?="DAV:"/.exec(text)?.[2] ?? '';

test('the captures hold 207 bodies to work on', (t) => {
  t.true(captures.length >= 20, String(captures.length));
});

for (const c of captures) {
  const text = decodedBody(c.response).toString('latin1');

  test(`${c.name}: afterNthResponse ends each cut on the Nth </response>`, (t) => {
    const ends = responseEnds(text);
    t.true(ends.length > 0);
    for (let n = 1; n <= ends.length; n++) {
      const at = afterNthResponse(text, n);
      t.is(at, ends[n - 1]!.index! + ends[n - 1]![0].length);
    }
    t.is(afterNthResponse(text, ends.length + 1), null);
  });

  test(`${c.name}: rewriteHrefs under a prefix is undone by removing that prefix, byte for byte`, (t) => {
    const r = rewriteHrefs(text, { prefix: '/injected-prefix' });
    const hrefs = [...text.matchAll(/<([\w.-]+:)?href>\s*(\/|https?:)/g)].length;
    t.is(r.changes, hrefs);
    t.is(r.text.replace(/(<(?:[\w.-]+:)?href>\s*(?:https?:\/\/[^/<]*)?)\/injected-prefix/g, '$1'), text);
    // Out of the requested scope for a PROPFIND; for a multiget, the requested hrefs go missing.
    const multiget = /multiget/.test(c.request.body.toString());
    const rules = analyzeText(c, r.text).findings.map((f) => f.rule);
    t.true(rules.includes(multiget ? 'MS601' : 'MS303'), rules.join());
  });

  test(`${c.name}: stripNamespace removes the DAV: declaration only, and the analyzer cannot resolve the names`, (t) => {
    const prefix = davPrefix(text);
    const r = stripNamespace(text, prefix === '' ? { uri: 'DAV:' } : { prefix });
    t.true(r.changes >= 1);
    t.is(text.length - r.text.length, [...text.matchAll(prefix === '' ? /\s+xmlns(?::[\w.-]+)?="DAV:"/g : new RegExp(`\\s+xmlns:${prefix}="[^"]*"`, 'g'))].reduce((n, m) => n + m[0].length, 0));
    const rules = analyzeText(c, r.text).findings.map((f) => f.rule);
    t.true(rules.includes(prefix === '' ? 'MS107' : 'MS104'), rules.join());
  });

  test(`${c.name}: dropElements(propstat) leaves no propstat and every response in place`, (t) => {
    const r = dropElements(text, 'propstat');
    t.false(/<([\w.-]+:)?propstat[\s>/]/.test(r.text));
    t.is(responseEnds(r.text).length, responseEnds(text).length);
    t.is(r.changes, [...text.matchAll(/<([\w.-]+:)?propstat[\s>]/g)].length);
  });
}

test('markup inside comments, CDATA, processing instructions and attribute values is not taken for tags', (t) => {
  const text =
    '<?xml version="1.0"?><!-- <D:href>/no</D:href> --><D:multistatus xmlns:D="DAV:" a="x>y">' +
    '<D:response><D:href>/dav/é</D:href><D:propstat><D:prop><D:displayname><![CDATA[</D:response><D:href>/fake</D:href>]]></D:displayname>' +
    '</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>';
  const latin1 = Buffer.from(text).toString('latin1');
  t.deepEqual([...tags(latin1)].filter((tag) => tag.local === 'href').length, 2);
  const r = rewriteHrefs(latin1, { origin: 'http://backend:8080', prefix: '' });
  t.is(r.changes, 1);
  // UTF-8 in the href passes through unchanged.
  t.is(Buffer.from(r.text, 'latin1').toString(), text.replace('<D:href>/dav/é', '<D:href>http://backend:8080/dav/é'));
  t.is(afterNthResponse(latin1, 1), latin1.lastIndexOf('</D:multistatus>'));
  t.is(dropElements(latin1, 'displayname').text.includes('fake'), false);
});

test('an href with whitespace around it keeps the whitespace; an absolute href keeps its origin under a bare prefix', (t) => {
  const r = rewriteHrefs('<d:href>\n  http://h:1/a/b  \n</d:href><d:href>c</d:href>', { prefix: '/p' });
  t.is(r.text, '<d:href>\n  http://h:1/p/a/b  \n</d:href><d:href>/p/c</d:href>');
});

test('stripNamespace leaves text content that merely looks like a declaration alone', (t) => {
  const text = '<a xmlns:D="DAV:"><b> xmlns:D="DAV:" </b><c xmlns:D=\'DAV:\'/></a>';
  const r = stripNamespace(text, { prefix: 'D' });
  t.is(r.text, '<a><b> xmlns:D="DAV:" </b><c/></a>');
  t.is(r.changes, 2);
});

test('dropElements on a body cut inside the element drops up to the end', (t) => {
  t.is(dropElements('<r><p><x/>abc', 'p').text, '<r>');
  t.is(dropElements('<r><p/><q:p a="1"></q:p><p>x</p></r>', 'p').text, '<r></r>');
});

test('on cut, spliced and random bodies every rewrite terminates, never throws, and a rewrite with nothing to match changes nothing', (t) => {
  const sources = captures.slice(0, 12).map((c) => decodedBody(c.response).toString('latin1'));
  const alphabet = ['<', '>', '/', '"', "'", '!', '?', '[', ']', '-', ':', 'D', 'href', 'response', 'xmlns:D="DAV:"', ' ', '\n', '<!--', '-->', '<![CDATA[', ']]>'];
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = mulberry32(seed);
    const src = sources[seed % sources.length]!;
    let text: string;
    if (seed % 3 === 0) {
      text = src.slice(0, Math.floor(rnd() * src.length));
    } else if (seed % 3 === 1) {
      const a = Math.floor(rnd() * src.length);
      const b = Math.floor(rnd() * src.length);
      text = src.slice(0, Math.min(a, b)) + src.slice(Math.max(a, b));
    } else {
      text = Array.from({ length: 200 }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
    }
    const where = `seed ${seed}`;
    t.is(dropElements(text, 'nosuchelement').text, text, where);
    t.is(stripNamespace(text, { prefix: 'nosuchprefix' }).text, text, where);
    t.is(stripNamespace(text, { uri: 'urn:nosuch' }).text, text, where);
    const rewritten = rewriteHrefs(text, { prefix: '/p' });
    // '/p' in front of each path ('/p/' in front of a relative one).
    const grown = rewritten.text.length - text.length;
    t.true(grown >= 2 * rewritten.changes && grown <= 3 * rewritten.changes, where);
    const dropped = dropElements(text, 'response');
    t.true(dropped.text.length <= text.length, where);
    const n = afterNthResponse(text, 1);
    t.true(n === null || (n > 0 && n <= text.length), where);
  }
});

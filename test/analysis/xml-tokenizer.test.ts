// The XML reader (fast tokenizer, saxes from the first doubt) against saxes alone: for well-formed
// and broken documents, however the text is split into writes, the reader must report exactly
// saxes' events (names, namespaces, attributes, text), saxes' errors, and the same position,
// line, column and start-tag offset with each. Inputs: every captured body in the fixtures,
// seeded mutations of them, hand-written cases for each well-formedness rule, and every
// two-part split of a document that uses every construct the tokenizer reads itself. The
// mutation seed is random per run and printed on failure: replay with FUZZ_SEED=<seed>
// (FUZZ_ITERATIONS=<n> for a longer campaign).
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { SaxesParser } from 'saxes';
import { XmlReader, type XmlAttribute, type XmlReaderEvents } from '../../src/analysis/xml-reader.js';
import { decodedBody, parseMessage } from '../helpers/corrupt.js';
import { mulberry32 } from '../helpers/random.js';

type Event = (string | number)[];

// What the text stage looks for before it calls a chunk clean (matching control characters is the point).
// eslint-disable-next-line no-control-regex
const MAYBE_ILLEGAL = /[\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;

/** Records events the way the scan reads them, with the reader's positions at each. */
function viaReader(parts: string[], options: { clean: 'computed' | 'never' } = { clean: 'computed' }): { events: Event[]; handedOver: boolean } {
  const events: Event[] = [];
  const where = (): number[] => [reader.position, reader.line, reader.column];
  const sink: XmlReaderEvents = {
    onOpen(name: string, prefix: string, local: string, uri: string, attributes: readonly XmlAttribute[]) {
      events.push(['open', name, prefix, local, uri, attributes.map((a) => `${a.name}|${a.prefix}|${a.local}|${a.uri}|${a.value}`).join(' '), reader.tagStart, ...where()]);
    },
    onClose() {
      events.push(['close', ...where()]);
    },
    onText(text: string, start: number, end: number) {
      events.push(['text', text.slice(start, end), ...where()]);
    },
    onDoctype(text: string) {
      events.push(['doctype', text, ...where()]);
    },
    onPI(target: string) {
      events.push(['pi', target, ...where()]);
    },
    onError(message: string) {
      events.push(['error', message, ...where()]);
    },
  };
  const reader = new XmlReader(sink);
  let bytes = 0;
  for (const part of parts) {
    const length = Buffer.byteLength(part);
    // The text stage says a chunk is clean only when it is; 'never' forces the tokenizer's own check.
    const clean = options.clean === 'computed' && !MAYBE_ILLEGAL.test(part);
    reader.write(part, bytes, length === part.length, clean);
    bytes += length;
  }
  // saxes throws at close on a document that ends inside a processing instruction's target.
  try {
    reader.close();
  } catch (e) {
    events.push(['throw', (e as Error).message]);
  }
  const handedOver = reader.handedOver;
  reader.release();
  return { events, handedOver };
}

/** The same record from saxes alone, the reference (its attributes minus namespace declarations). */
function viaSaxes(parts: string[]): Event[] {
  const events: Event[] = [];
  const p = new SaxesParser({ xmlns: true, position: true });
  let tagStart = 0;
  const where = (): number[] => [p.position, p.line, p.column];
  p.on('opentagstart', (tag) => {
    tagStart = p.position - tag.name.length - 2;
  });
  p.on('opentag', (tag) => {
    const attributes = Object.values(tag.attributes).filter((a) => a.prefix !== 'xmlns' && a.name !== 'xmlns');
    events.push(['open', tag.name, tag.prefix, tag.local, tag.uri, attributes.map((a) => `${a.name}|${a.prefix}|${a.local}|${a.uri}|${a.value}`).join(' '), tagStart, ...where()]);
  });
  p.on('closetag', () => events.push(['close', ...where()]));
  p.on('text', (t) => events.push(['text', t, ...where()]));
  p.on('cdata', (t) => events.push(['text', t, ...where()]));
  p.on('doctype', (t) => events.push(['doctype', t, ...where()]));
  p.on('processinginstruction', (pi) => events.push(['pi', pi.target, ...where()]));
  p.on('error', (e) => events.push(['error', e.message, ...where()]));
  for (const part of parts) p.write(part);
  try {
    p.close();
  } catch (e) {
    events.push(['throw', (e as Error).message]);
  }
  return events;
}

/** Splits text at the given indices. */
function splitAt(text: string, cuts: number[]): string[] {
  const out: string[] = [];
  let from = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    out.push(text.slice(from, c));
    from = c;
  }
  out.push(text.slice(from));
  return out.filter((p) => p.length > 0);
}


function describe(events: Event[]): string {
  return events.map((e) => JSON.stringify(e)).join('\n');
}

/**
 * The reader matches saxes on `text` split as given. saxes is given the same writes: it reports
 * text outside the root element where a write ends, so that report depends on the split.
 */
function agrees(t: { deepEqual(a: unknown, b: unknown, m?: string): void }, text: string, splits: number[][], label: string): void {
  for (const cuts of splits) {
    const parts = splitAt(text, cuts);
    const expected = viaSaxes(parts);
    for (const clean of ['computed', 'never'] as const) {
      const got = viaReader(parts, { clean }).events;
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        t.deepEqual(describe(got), describe(expected), `${label}, split at ${JSON.stringify(cuts)}, clean ${clean}`);
        return;
      }
    }
  }
  t.deepEqual(viaReader(splitAt(text, splits[0] ?? [])).events, viaSaxes(splitAt(text, splits[0] ?? [])), label);
}

const fixtures = new URL('../fixtures/', import.meta.url).pathname;

/** Every captured response body in the fixtures, decoded, as text. */
function capturedBodies(dir: string): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  for (const file of readdirSync(`${fixtures}${dir}`).filter((f) => f.endsWith('.http')).sort()) {
    let body: Buffer;
    try {
      body = decodedBody(parseMessage(readFileSync(`${fixtures}${dir}/${file}`)));
    } catch {
      continue; // broken framing or coding on purpose: no body to read
    }
    if (body.length > 0) out.push({ name: `${dir}/${file}`, text: new TextDecoder().decode(body) });
  }
  return out;
}

const realCaptures = capturedBodies('captures');
const allBodies = [...realCaptures, ...capturedBodies('rules'), ...capturedBodies('shared')];

/** A document that uses everything the tokenizer reads by itself, CR LF line ends included. */
const EVERYTHING =
  '<?xml version="1.0" encoding="utf-8" standalone=\'yes\'?>\r\n<!-- a listing -->\n' +
  '<D:multistatus xmlns:D="DAV:" xmlns="urn:default" xmlns:x=\'urn:x\'>\n' +
  '  <D:response\r\n   xmlns:lp1="DAV:" x:a="1" b=\'2\'>\r\n' +
  '    <D:href>/dav/a%20b/caf\u00e9 \ud83d\ude00 &amp; &lt;&gt;&quot;&apos; &#65;&#x42;&#x1F600;</D:href>\n' +
  '    <D:propstat><D:prop><lp1:getetag>"e]]"</lp1:getetag><plain/><D:empty></D:empty>' +
  '<x:data><![CDATA[BEGIN:VCALENDAR\r\n<raw> & ]] ]>\r\n]]></x:data></D:prop >\n' +
  '    <D:status>HTTP/1.1 200 OK</D:status ></D:propstat>\n' +
  '  </D:response>\n  <undeclared xmlns="">text\r\nmore\rend</undeclared>\n' +
  '</D:multistatus   >\n<!-- after -->\r\n';

test('a document using every construct the tokenizer reads: same events as saxes, whole and split at every index', (t) => {
  const expected = viaSaxes([EVERYTHING]);
  t.false(expected.some((e) => e[0] === 'error'), describe(expected));
  const whole = viaReader([EVERYTHING]);
  t.false(whole.handedOver, 'read by the tokenizer alone');
  t.deepEqual(whole.events, expected);
  for (let i = 1; i < EVERYTHING.length; i++) {
    // No text outside the root: saxes' events do not depend on the split here.
    const got = viaReader([EVERYTHING.slice(0, i), EVERYTHING.slice(i)]);
    if (JSON.stringify(got.events) !== JSON.stringify(expected)) {
      t.deepEqual(describe(got.events), describe(expected), `split at ${i}`);
      return;
    }
  }
  t.pass();
});

test('a document using every construct: one character per write, and random three-part splits', (t) => {
  const expected = viaSaxes([EVERYTHING]);
  t.deepEqual(viaReader([...EVERYTHING.split('')]).events, expected, 'one UTF-16 unit per write (a surrogate pair split)');
  const rng = mulberry32(7);
  const splits = Array.from({ length: 200 }, () => [Math.floor(rng() * EVERYTHING.length), Math.floor(rng() * EVERYTHING.length)]);
  agrees(t, EVERYTHING, splits, 'three parts');
});

test('namespace declarations repeated on every response: reused while identical, a change of the same length noticed', (t) => {
  const response = (decl: string, i: number) => `<D:response${decl}><D:href>/r${i}</D:href><lp1:getetag>"${i}"</lp1:getetag></D:response>\n`;
  const same = ' xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/"';
  const variants = [same, same, ' xmlns:lp1="DAX:" xmlns:lp2="http://apache.org/dav/props/"', same, ' xmlns:lp2="DAV:" xmlns:lp1="http://apache.org/dav/props/"', same + ' ', same, '/'];
  const text = `<?xml version="1.0"?>\n<D:multistatus xmlns:D="DAV:">\n${variants.map((v, i) => (v === '/' ? '<D:response/>\n' : response(v, i))).join('')}</D:multistatus>\n`;
  const expected = viaSaxes([text]);
  const uris = expected.filter((e) => e[0] === 'open' && e[1] === 'lp1:getetag').map((e) => e[4]);
  t.deepEqual(uris, ['DAV:', 'DAV:', 'DAX:', 'DAV:', 'http://apache.org/dav/props/', 'DAV:', 'DAV:']);
  const whole = viaReader([text]);
  t.false(whole.handedOver);
  t.deepEqual(whole.events, expected);
  agrees(t, text, Array.from({ length: text.length - 1 }, (_, i) => [i + 1]), 'split anywhere');
});

test('element names whose hashes collide ("Aa" and "BB") are told apart', (t) => {
  const text = `<r>${'<Aa>1</Aa><BB/><x:Aa xmlns:x="u"/><BB>2</BB>'.repeat(50)}<Aa></BB></r>`;
  const expected = viaSaxes([text]);
  t.is(expected.filter((e) => e[0] === 'open' && e[1] === 'BB').length, 100);
  agrees(t, text, [[], [text.length >> 1], [7, 300, 901]], 'colliding names');
});

test('long names and long namespace declarations (kept out of the shared name table) read as saxes reads them', (t) => {
  const name = `p:${'n'.repeat(300)}`;
  const decl = ` xmlns:p="urn:${'u'.repeat(2000)}"`;
  const text = `<r>${`<${name}${decl}>x</${name}>`.repeat(3)}<${name}${decl}/></r>`;
  const expected = viaSaxes([text]);
  t.is(expected.filter((e) => e[0] === 'open' && e[1] === name).length, 4);
  agrees(t, text, [[], [text.length >> 1], [17, 2500, 4000]], 'long names');
});

// Each line breaks one rule; saxes' message, position and recovery must come out unchanged.
const BROKEN: [string, string][] = [
  ['mismatched end tag', '<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:status></D:response></D:multistatus>'],
  ['unclosed at the end', '<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href>'],
  ['unbound element prefix', '<D:multistatus xmlns:D="DAV:"><E:response/></D:multistatus>'],
  ['unbound attribute prefix', '<D:multistatus xmlns:D="DAV:"><D:response e:a="1"/></D:multistatus>'],
  ['duplicate attribute', '<r a="1" a="2"/>'],
  ['duplicate expanded attribute name', '<r xmlns:a="u" xmlns:b="u" a:x="1" b:x="2"/>'],
  ['duplicate namespace declaration', '<r xmlns:a="u" xmlns:a="v"/>'],
  ['xmlns prefix on an element', '<xmlns:r/>'],
  ['undeclaring a prefix', '<r xmlns:a=""/>'],
  ['binding the xml namespace elsewhere', '<r xmlns:a="http://www.w3.org/XML/1998/namespace"/>'],
  ['xml prefix used', '<r><xml:a xml:lang="en"/></r>'],
  ['two colons', '<a:b:c xmlns:a="u"/>'],
  ['empty local name', '<a: xmlns:a="u"/>'],
  ['attribute without value', '<r a/>'],
  ['unquoted attribute', '<r a=1/>'],
  ['no space between attributes', '<r a="1"b="2"/>'],
  ['< in an attribute value', '<r a="<"/>'],
  ['reference in an attribute value', '<r a="&amp;&#65;&bogus;"/>'],
  ['tab and line break in an attribute value', '<r a="x\ty\nz"/>'],
  ['undefined entity', '<r>caf&eacute;</r>'],
  ['entity without semicolon', '<r>a &amp b</r>'],
  ['character reference to NUL', '<r>&#0;</r>'],
  ['character reference out of range', '<r>&#x110000;</r>'],
  ['upper-case X character reference', '<r>&#X41;</r>'],
  [']]> in text', '<r>a ]]> b</r>'],
  ['text before the root', 'junk<r/>'],
  ['text after the root', '<r/>junk'],
  ['second root', '<r/><s/>'],
  ['no root', '<?xml version="1.0"?>\n'],
  ['empty document', ''],
  ['declaration not at the start', '\n<?xml version="1.0"?><r/>'],
  ['XML 1.1 declaration', '<?xml version="1.1"?><r>\u0085</r>'],
  ['bad declaration', '<?xml version="1.0" standalone="maybe"?><r/>'],
  ['processing instruction', '<?xml version="1.0"?><?php echo 1 ?><r><?pi data?></r>'],
  ['DOCTYPE with entities', '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>'],
  ['comment with --', '<r><!-- a -- b --></r>'],
  ['CDATA outside the root', '<![CDATA[x]]><r/>'],
  ['C0 control in text', '<r>a\u0001b</r>'],
  ['U+FFFE in text', '<r>a\ufffeb</r>'],
  ['lone high surrogate', '<r>a\ud800b</r>'],
  ['lone low surrogate', '<r>a\udc00b</r>'],
  ['non-ASCII element name', '<r><caf\u00e9 xmlns="urn:x">1</caf\u00e9></r>'],
  ['byte order mark character at the start', '\ufeff<r/>'],
  ['close tag without open', '</r>'],
  ['weird empty close tag', '<r></></r>'],
  ['stray < in text', '<r>a < b</r>'],
  ['space after <', '<r>< a/></r>'],
  ['end of data inside a tag', '<r><D:response xmlns:D="DAV:"'],
  ['end of data inside a comment', '<r><!-- never closed'],
];

for (const [what, text] of BROKEN) {
  test(`broken: ${what}: the reader reports what saxes reports, whole and split anywhere`, (t) => {
    const expected = viaSaxes([text]);
    // Some are not errors at all, only what the tokenizer leaves to saxes (saxes also takes a lone
    // high surrogate followed by another character as one character).
    if (!/^(xml prefix|tab and line break|reference in an attribute|non-ASCII|XML 1.1|lone high|byte order mark)/.test(what)) {
      t.true(expected.some((e) => e[0] === 'error' || e[0] === 'doctype' || e[0] === 'pi'), `saxes objects to it:\n${describe(expected)}`);
    }
    const splits = [[], ...Array.from({ length: text.length - 1 }, (_, i) => [i + 1])];
    agrees(t, text, splits, what);
  });
}

test('the messages and positions the goldens rely on come from saxes through the reader', (t) => {
  const { events } = viaReader(['<?xml version="1.0"?>\n<D:multistatus xmlns:D="DAV:">\n<D:response><D:href>/a</D:href><D:propstat><D:prop>', '</D:response>\n</D:multistatus>\n']);
  const errors = events.filter((e) => e[0] === 'error');
  t.deepEqual(errors[0], ['error', '3:64: unexpected close tag.', 117, 3, 64]);
  const unbound = viaReader(['<D:multistatus xmlns:D="DAV:">\n  <X:bad/>\n</D:multistatus>']).events.filter((e) => e[0] === 'error');
  t.deepEqual(unbound.map((e) => e[1]), ['2:10: unbound namespace prefix: "X".']);
});

test('real captures from five servers are read by the tokenizer alone, with saxes\' events', (t) => {
  t.true(realCaptures.length >= 20, `${realCaptures.length} captures`);
  for (const { name, text } of realCaptures) {
    const parts = splitAt(text, [Math.floor(text.length / 3), Math.floor(text.length / 2)]);
    const expected = viaSaxes(parts);
    const got = viaReader(parts);
    t.deepEqual(got.events, expected, name);
    if (!expected.some((e) => e[0] === 'error' || e[0] === 'doctype' || e[0] === 'pi')) t.false(got.handedOver, `${name} needed saxes`);
  }
});

test('every fixture body, whole and in 1, 7, 64 and 4096-character writes: same events as saxes', (t) => {
  for (const { name, text } of allBodies) {
    for (const size of text.length > 50_000 ? [4096] : [1, 7, 64, 4096]) {
      const parts = Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));
      const expected = JSON.stringify(viaSaxes(parts));
      const got = viaReader(parts).events;
      if (JSON.stringify(got) !== expected) {
        t.deepEqual(describe(got), describe(JSON.parse(expected) as Event[]), `${name} in ${size}-character writes`);
        return;
      }
    }
  }
  t.pass();
});

const TOKENS = ['<', '>', '&', ';', ']]>', '</', '/>', '"', "'", '=', ':', '<!--', '-->', '<![CDATA[', ']]', '&#0;', '&#x41;', '&amp;', '&lt', '\r', '\r\n', '\n', '\t', ' ', '\u0000', '\ufffe', '\ud83d', '\ude00', '\u00e9', 'xmlns:D="DAV:"', 'xmlns=""', 'xmlns:E="DAV:"', 'E:', 'D:', '<D:response>', '</D:response>', '<?pi?>', '<!DOCTYPE r>', 'a="1"'];

test('seeded mutations of the fixture bodies: same events as saxes, whole and split at random', (t) => {
  const seed = process.env['FUZZ_SEED'] === undefined ? (Date.now() ^ (process.pid << 16)) >>> 0 : Number(process.env['FUZZ_SEED']) >>> 0;
  const rng = mulberry32(seed);
  const small = allBodies.filter((b) => b.text.length <= 6000);
  const iterations = Number(process.env['FUZZ_ITERATIONS'] ?? 600);
  let handedOver = 0;
  for (let n = 0; n < iterations; n++) {
    let text = small[Math.floor(rng() * small.length)]!.text;
    const log: string[] = [];
    for (let m = 1 + Math.floor(rng() * 3); m > 0; m--) {
      const at = Math.floor(rng() * (text.length + 1));
      const r = rng();
      if (r < 0.4) {
        const tok = TOKENS[Math.floor(rng() * TOKENS.length)]!;
        text = text.slice(0, at) + tok + text.slice(at);
        log.push(`insert ${JSON.stringify(tok)}@${at}`);
      } else if (r < 0.7) {
        const len = 1 + Math.floor(rng() * 8);
        text = text.slice(0, at) + text.slice(at + len);
        log.push(`delete@${at}+${len}`);
      } else if (r < 0.85) {
        text = text.slice(0, at);
        log.push(`cut@${at}`);
      } else {
        const from = Math.floor(rng() * text.length);
        const slice = text.slice(from, from + 1 + Math.floor(rng() * 40));
        text = text.slice(0, at) + slice + text.slice(at);
        log.push(`copy ${from}@${at}`);
      }
    }
    const cuts = Array.from({ length: Math.floor(rng() * 4) }, () => Math.floor(rng() * text.length));
    const parts = splitAt(text, cuts);
    const expected = JSON.stringify(viaSaxes(parts));
    const got = viaReader(parts);
    if (got.handedOver) handedOver++;
    if (JSON.stringify(got.events) !== expected) {
      t.deepEqual(describe(got.events), describe(JSON.parse(expected) as Event[]), `seed ${seed}, mutation ${n}: ${log.join(', ')}, cuts ${JSON.stringify(cuts)}\n${JSON.stringify(text)}`);
      return;
    }
  }
  // Both paths were exercised: some mutations stayed well-formed, most did not.
  t.true(handedOver > 0 && handedOver < iterations, `${handedOver} of ${iterations} handed over to saxes`);
});

test('a token longer than the tokenizer holds back goes to saxes, with the same events', (t) => {
  const long = 'x'.repeat(1_500_000);
  const text = `<r xmlns="urn:r"><a>${long}</a><b/></r>`;
  const parts = Array.from({ length: Math.ceil(text.length / 65536) }, (_, i) => text.slice(i * 65536, (i + 1) * 65536));
  const got = viaReader(parts);
  t.true(got.handedOver);
  t.deepEqual(got.events, viaSaxes([text]));
});

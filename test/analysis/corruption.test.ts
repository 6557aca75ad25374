// Real captures broken the ways gateways and servers break them (test/helpers/corrupt.ts): each
// variant must raise a finding of the right category, and the rule RULES.md names for it. Every
// expected rule is first checked to be absent from the untouched capture, so the finding can only
// come from the corruption. Cuts are checked at many offsets, each offset on its own.
import test from 'ava';
import { constants as zlib, gunzipSync } from 'node:zlib';
import { analyze } from '../../src/analysis/analyzer.js';
import type { Analysis, Category, Finding, TransportEnd } from '../../src/types.js';
import {
  type Capture,
  type RawMessage,
  badChunkSize,
  billionLaughs,
  chunkedWire,
  cutChunked,
  cutCloseDelimited,
  cutContentLength,
  cutGzip,
  decodedBody,
  deepNesting,
  duplicateFirstResponse,
  externalEntity,
  gzipOf,
  gzipWithoutEncoding,
  htmlEntity,
  htmlUnderMultiStatus,
  illegalCharacter,
  isChunked,
  isGzip,
  junkBeforeDeclaration,
  lastChunkOffset,
  loadCapturePairs,
  rawAmpersand,
  removeElement,
  removeEverywhere,
  removeDefaultNamespace,
  removeNamespaceDeclaration,
  requestContext,
  responseHead,
  rewriteHrefs,
  rootEnd,
  spreadOffsets,
  stripHrefPrefix,
  replaceText,
  lengthBesideChunked,
  renameElement,
} from '../helpers/corrupt.js';

const dir = new URL('../fixtures/captures/', import.meta.url).pathname;
const captures = new Map(loadCapturePairs(dir).map((c) => [c.name, c]));
function capture(name: string): Capture {
  const c = captures.get(name);
  if (!c) throw new Error(`fixture ${name} is missing (run test/fixtures/record.sh)`);
  return c;
}

const complete: TransportEnd = { outcome: 'complete', closeKind: 'fin' };
/** The upstream closed the connection (FIN) before the framing said the body was over. */
const closedEarly: TransportEnd = { outcome: 'upstream-aborted', message: 'upstream closed before the end of the body', closeKind: 'fin' };

// Apache: Content-Length, prefixed `D:`, a 404 propstat for the requested props it lacks.
const named = capture('apache-propfind-d1-named');
// Apache: one propstat per response.
const allprop = capture('apache-propfind-d1-allprop');
// rclone: really chunked on the wire.
const chunked = capture('rclone-propfind-d1-named');
// Apache with SetOutputFilter DEFLATE: really gzip-coded.
const gzipped = capture('apache-propfind-d1-gzip');
// Radicale: default namespace, single-quoted declaration, HTTP/1.0.
const radicale = capture('radicale-propfind-d1-named');
// lighttpd: application/xml, Microsoft datatypes namespace, inline xmlns on foreign props.
const lighttpd = capture('lighttpd-propfind-d1-named');

test('the bases are what the cases below assume', (t) => {
  t.true(isChunked(chunked.response));
  t.true(isGzip(gzipped.response));
  for (const c of [named, allprop, chunked, gzipped, radicale, lighttpd]) t.is(responseHead(c.response).status, 207, c.name);
});

function run(c: Capture, response: RawMessage, transport: TransportEnd = complete): Analysis {
  return analyze(requestContext(c.request), responseHead(response), response.body, transport);
}

function describe(findings: Finding[]): string {
  return findings.map((f) => `${f.rule} ${f.severity} ${f.category}${f.consequenceOf ? ` (consequence of ${f.consequenceOf})` : ''}: ${f.message}`).join('\n');
}

function ruleIn(a: Analysis, rule: string): Finding[] {
  return a.findings.filter((f) => f.rule === rule);
}

/** `</response>` end tags (any prefix) that lie entirely within the first `offset` bytes. */
function responsesEndedBy(body: Buffer, offset: number): number {
  const text = body.subarray(0, offset).toString('latin1');
  return (text.match(/<\/([A-Za-z_][\w.-]*:)?response\s*>/g) ?? []).length;
}

// ---------------------------------------------------------------------------------------------
// Truncation, offset by offset

/** Offsets to cut at: spread over the range, plus the ends of each response and the edges. */
function cutOffsets(body: Buffer, end: number, spread: number): number[] {
  const out = new Set(spreadOffsets(0, end, spread));
  const text = body.toString('latin1');
  for (const m of text.matchAll(/<\/([A-Za-z_][\w.-]*:)?response\s*>/g)) {
    const after = m.index + m[0].length;
    for (const o of [after - 1, after, after + 1]) if (o >= 0 && o < end) out.add(o);
  }
  for (const o of [0, 1, end - 1]) if (o >= 0 && o < end) out.add(o);
  return [...out].sort((a, b) => a - b);
}

for (const base of [named, radicale, lighttpd]) {
  const body = decodedBody(base.response);
  const closeAt = rootEnd(body);

  test(`${base.name}: cut before the root closes, Content-Length matching the cut: MS006 server-side truncation at every offset`, (t) => {
    t.true(closeAt > 0);
    for (const offset of cutOffsets(body, closeAt, 120)) {
      const a = run(base, cutContentLength(base.response, offset, true));
      const why = `offset ${offset} of ${body.length}:\n${describe(a.findings)}`;
      const ms006 = ruleIn(a, 'MS006');
      t.is(ms006.length, 1, why);
      t.is(ms006[0]?.severity, 'error', why);
      t.is(ms006[0]?.category, 'truncation', why);
      t.is(ms006[0]?.consequenceOf, undefined, why);
      t.regex(JSON.stringify(ms006[0]), /server-side truncation/i, why);
      t.deepEqual(ruleIn(a, 'MS001'), [], why);
      t.is(a.resources.filter((r) => r.complete).length, responsesEndedBy(body, offset), why);
    }
  });

  test(`${base.name}: cut short of its Content-Length: MS001, and the XML errors marked as its consequences, at every offset`, (t) => {
    for (const offset of cutOffsets(body, body.length, 120)) {
      const a = run(base, cutContentLength(base.response, offset, false), closedEarly);
      const why = `offset ${offset} of ${body.length}:\n${describe(a.findings)}`;
      const ms001 = ruleIn(a, 'MS001');
      t.is(ms001.length, 1, why);
      t.is(ms001[0]?.severity, 'error', why);
      t.is(ms001[0]?.category, 'truncation', why);
      const xml = a.findings.filter((f) => f.rule === 'MS006' || f.rule === 'MS101');
      t.true(xml.every((f) => f.consequenceOf === 'MS001'), why);
      if (offset < closeAt) t.true(xml.length > 0, why);
      // Whatever else is wrong follows from the cut: the only root cause is the transport.
      t.deepEqual(
        a.findings.filter((f) => f.severity === 'error' && f.consequenceOf === undefined).map((f) => f.rule),
        ['MS001'],
        why,
      );
      t.is(a.resources.filter((r) => r.complete).length, responsesEndedBy(body, offset), why);
    }
  });
}

test(`${chunked.name}: chunked body cut before its last chunk: MS002 at every offset`, (t) => {
  const wire = chunkedWire(chunked.response).body;
  const end = lastChunkOffset(wire);
  for (const offset of spreadOffsets(0, end, 150)) {
    const a = run(chunked, cutChunked(chunked.response, offset), closedEarly);
    const why = `wire offset ${offset} of ${wire.length}:\n${describe(a.findings)}`;
    const ms002 = ruleIn(a, 'MS002');
    t.is(ms002.length, 1, why);
    t.is(ms002[0]?.severity, 'error', why);
    t.is(ms002[0]?.category, 'truncation', why);
    t.true(a.findings.filter((f) => f.rule === 'MS006' || f.rule === 'MS101').every((f) => f.consequenceOf === 'MS002'), why);
  }
});

test(`${named.name}: re-framed as chunked and cut before its last chunk: MS002 at every offset`, (t) => {
  const wire = chunkedWire(named.response, 300).body;
  const end = lastChunkOffset(wire);
  for (const offset of spreadOffsets(0, end, 100)) {
    const a = run(named, cutChunked(named.response, offset, 300), closedEarly);
    const why = `wire offset ${offset} of ${wire.length}:\n${describe(a.findings)}`;
    t.is(ruleIn(a, 'MS002').length, 1, why);
    t.is(ruleIn(a, 'MS002')[0]?.category, 'truncation', why);
  }
});

test(`${chunked.name}: a chunk-size line that is not hexadecimal is MS002`, (t) => {
  const a = run(chunked, badChunkSize(chunked.response));
  const ms002 = ruleIn(a, 'MS002');
  t.is(ms002.length, 1, describe(a.findings));
  t.is(ms002[0]?.severity, 'error');
  t.is(ms002[0]?.category, 'truncation');
});

for (const base of [gzipped, named]) {
  test(`${base.name}: gzip stream cut inside, framing complete: MS004 at every offset`, (t) => {
    const gz = gzipOf(base.response);
    for (const offset of spreadOffsets(1, gz.length, 120)) {
      const a = run(base, cutGzip(base.response, offset));
      const why = `gzip offset ${offset} of ${gz.length}:\n${describe(a.findings)}`;
      const ms004 = ruleIn(a, 'MS004');
      t.is(ms004.length, 1, why);
      t.is(ms004[0]?.severity, 'error', why);
      t.is(ms004[0]?.category, 'truncation', why);
      t.deepEqual(ruleIn(a, 'MS001'), [], why);
      t.true(a.findings.filter((f) => f.rule === 'MS006' || f.rule === 'MS101').every((f) => f.consequenceOf === 'MS004'), why);
      // What the cut stream still decodes to shows which responses arrived intact.
      const prefix = gunzipSync(gz.subarray(0, offset), { finishFlush: zlib.Z_SYNC_FLUSH });
      t.is(a.resources.filter((r) => r.complete).length, responsesEndedBy(prefix, prefix.length), `${why}\n(${prefix.length} bytes decodable)`);
    }
  });
}

test(`${radicale.name}: close-delimited body cut by a reset or a TLS close without close_notify: MS003 at every offset`, (t) => {
  const body = decodedBody(radicale.response);
  for (const offset of spreadOffsets(0, body.length, 40)) {
    for (const closeKind of ['rst', 'tls-no-close-notify'] as const) {
      const transport: TransportEnd = { outcome: 'upstream-aborted', closeKind, ...(closeKind === 'rst' ? { code: 'ECONNRESET' } : {}) };
      const a = run(radicale, cutCloseDelimited(radicale.response, offset), transport);
      const why = `${closeKind} after ${offset} of ${body.length}:\n${describe(a.findings)}`;
      const ms003 = ruleIn(a, 'MS003');
      t.is(ms003.length, 1, why);
      t.is(ms003[0]?.severity, 'error', why);
      t.is(ms003[0]?.category, 'truncation', why);
      t.true(a.findings.filter((f) => f.rule === 'MS006' || f.rule === 'MS101').every((f) => f.consequenceOf === 'MS003'), why);
    }
  }
});

test(`${radicale.name}: close-delimited body ended by a clean FIN before the root closes: MS006, not MS003`, (t) => {
  const body = decodedBody(radicale.response);
  for (const offset of spreadOffsets(0, rootEnd(body), 40)) {
    const a = run(radicale, cutCloseDelimited(radicale.response, offset), complete);
    const why = `FIN after ${offset} of ${body.length}:\n${describe(a.findings)}`;
    t.is(ruleIn(a, 'MS006').length, 1, why);
    t.deepEqual(ruleIn(a, 'MS003'), [], why);
  }
});

// The proxy feeds the payload (framing removed) and tells how the transport ended.
function runPayload(c: Capture, response: RawMessage, payload: Buffer, transport: TransportEnd): Analysis {
  return analyze(requestContext(c.request), responseHead(response, 'payload'), payload, transport);
}

test(`${named.name}: as the proxy feeds it, a body short of its Content-Length is MS001 at every offset`, (t) => {
  const body = decodedBody(named.response);
  for (const offset of spreadOffsets(0, body.length, 60)) {
    const a = runPayload(named, named.response, body.subarray(0, offset), closedEarly);
    const why = `offset ${offset} of ${body.length}:\n${describe(a.findings)}`;
    t.is(ruleIn(a, 'MS001').length, 1, why);
    t.is(ruleIn(a, 'MS001')[0]?.category, 'truncation', why);
    t.true(a.findings.filter((f) => f.rule === 'MS006' || f.rule === 'MS101').every((f) => f.consequenceOf === 'MS001'), why);
  }
});

test(`${chunked.name}: as the proxy feeds it, a chunked body the upstream broke off is MS002 at every offset`, (t) => {
  const payload = decodedBody(chunked.response);
  const invalidChunk: TransportEnd = { outcome: 'error', code: 'HPE_INVALID_CHUNK_SIZE', message: 'Parse Error: Invalid character in chunk size' };
  for (const offset of spreadOffsets(0, payload.length, 60)) {
    for (const transport of [closedEarly, invalidChunk]) {
      const a = runPayload(chunked, chunked.response, payload.subarray(0, offset), transport);
      const why = `offset ${offset} of ${payload.length}, ${JSON.stringify(transport)}:\n${describe(a.findings)}`;
      t.is(ruleIn(a, 'MS002').length, 1, why);
      t.is(ruleIn(a, 'MS002')[0]?.category, 'truncation', why);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// One variant each: stripped, rewritten, malformed, hostile

interface Case {
  what: string;
  bases: Capture[];
  corrupt: (m: RawMessage) => RawMessage;
  rule: string;
  category: Category;
  severity?: 'error' | 'warning';
  /** Rules that must not fire (a misdiagnosis). */
  absent?: string[];
  /** Extra checks on the analysis of the variant. */
  also?: (a: Analysis) => string | null;
}

const notExpanded = (a: Analysis): string | null => {
  const hrefs = a.resources.map((r) => r.href).join(' ');
  return /lollol|root:/.test(hrefs) ? `an entity was expanded into an href: ${hrefs.slice(0, 200)}` : null;
};

const cases: Case[] = [
  { what: 'namespace declaration of the root prefix removed', bases: [named, chunked, lighttpd], corrupt: removeNamespaceDeclaration, rule: 'MS104', category: 'malformed' },
  { what: 'href removed from the first response', bases: [named, radicale, lighttpd], corrupt: (m) => removeElement(m, 'href'), rule: 'MS201', category: 'semantic' },
  { what: 'status removed from the first propstat', bases: [named, radicale, chunked], corrupt: (m) => removeElement(m, 'status'), rule: 'MS203', category: 'semantic' },
  { what: 'the only propstat of the first response removed', bases: [allprop], corrupt: (m) => removeElement(m, 'propstat'), rule: 'MS202', category: 'semantic' },
  { what: 'status removed from a status-form response (Apache 424 body)', bases: [capture('apache-delete-locked-child')], corrupt: (m) => removeElement(m, 'status'), rule: 'MS202', category: 'semantic' },
  { what: 'the default namespace declaration removed', bases: [radicale], corrupt: removeDefaultNamespace, rule: 'MS107', category: 'semantic' },
  { what: 'the first response listed twice', bases: [named, radicale, chunked], corrupt: duplicateFirstResponse, rule: 'MS205', category: 'semantic' },
  { what: 'a requested property (Z:nonexistent) dropped from every response', bases: [named, chunked, lighttpd], corrupt: (m) => removeEverywhere(m, 'nonexistent'), rule: 'MS401', category: 'stripped' },
  { what: 'an HTML error page served under 207', bases: [named, radicale], corrupt: htmlUnderMultiStatus, rule: 'MS108', category: 'stripped' },
  { what: 'hrefs rewritten to an internal backend origin', bases: [named, radicale, lighttpd], corrupt: (m) => rewriteHrefs(m), rule: 'MS304', category: 'stripped' },
  { what: 'only the first href rewritten to an absolute URI (a partial rewrite)', bases: [named, radicale, lighttpd], corrupt: (m) => rewriteHrefs(m, 'http://127.0.0.1:9', 1), rule: 'MS302', category: 'stripped' },
  { what: 'the path prefix stripped from every href by a gateway', bases: [named, chunked, lighttpd], corrupt: (m) => stripHrefPrefix(m, '/dav'), rule: 'MS303', category: 'stripped' },
  { what: 'the path prefix stripped from every href by a gateway (CalDAV)', bases: [radicale], corrupt: (m) => stripHrefPrefix(m, '/test'), rule: 'MS303', category: 'stripped' },
  { what: 'a requested multiget href without a response', bases: [capture('radicale-report-calendar-multiget')], corrupt: (m) => removeElement(m, 'response', 0), rule: 'MS601', category: 'stripped' },
  { what: 'calendar-data emptied in a 200 propstat', bases: [capture('radicale-report-calendar-multiget')], corrupt: (m) => replaceText(m, 'calendar-data', () => ''), rule: 'MS605', category: 'stripped', severity: 'warning' },
  { what: 'the sync-token removed from a sync-collection report', bases: [capture('radicale-report-sync-initial'), capture('radicale-report-sync-delta')], corrupt: (m) => removeElement(m, 'sync-token'), rule: 'MS602', category: 'semantic' },
  { what: 'a PROPPATCH with one property applied (200) and the others failed', bases: [capture('apache-proppatch-protected')], corrupt: (m) => replaceText(m, 'status', (old) => (old.includes('424') ? 'HTTP/1.1 200 OK' : old)), rule: 'MS503', category: 'partial-failure' },
  { what: 'the root renamed to DAV:error under 207', bases: [named, radicale], corrupt: (m) => renameElement(m, 'multistatus', 'error'), rule: 'MS107', category: 'semantic' },
  { what: 'every response removed from a PROPFIND 207', bases: [named, radicale, lighttpd], corrupt: (m) => removeEverywhere(m, 'response'), rule: 'MS209', category: 'truncation', severity: 'warning' },
  { what: 'the request URI\'s own response removed from a Depth: 1 PROPFIND', bases: [named, radicale, chunked], corrupt: (m) => removeElement(m, 'response', 0), rule: 'MS402', category: 'stripped', severity: 'warning' },
  { what: 'a Content-Length beside Transfer-Encoding: chunked', bases: [named, chunked], corrupt: lengthBesideChunked, rule: 'MS005', category: 'malformed', severity: 'warning' },
  { what: 'gzip bytes without Content-Encoding', bases: [named, radicale], corrupt: gzipWithoutEncoding, rule: 'MS405', category: 'stripped' },
  { what: 'U+FFFE in an href', bases: [named, radicale, chunked], corrupt: (m) => illegalCharacter(m, 'U+FFFE'), rule: 'MS103', category: 'malformed' },
  { what: 'a C0 control character in an href', bases: [named, radicale, chunked], corrupt: (m) => illegalCharacter(m, 'C0'), rule: 'MS103', category: 'malformed' },
  { what: 'a raw & in an href (a file name left unescaped)', bases: [named, radicale, chunked], corrupt: rawAmpersand, rule: 'MS101', category: 'malformed', absent: ['MS006'] },
  { what: 'an HTML entity (&nbsp;) in an href', bases: [named, radicale, lighttpd], corrupt: (m) => htmlEntity(m), rule: 'MS105', category: 'malformed' },
  { what: 'a PHP notice before <?xml', bases: [named, radicale, chunked], corrupt: (m) => junkBeforeDeclaration(m), rule: 'MS102', category: 'malformed' },
  { what: 'elements nested 10,000 deep inside a prop', bases: [named, radicale], corrupt: (m) => deepNesting(m, 10_000), rule: 'MS703', category: 'security', severity: 'warning' },
  { what: 'a billion-laughs entity bomb', bases: [named, radicale], corrupt: billionLaughs, rule: 'MS702', category: 'security', also: notExpanded },
  { what: 'an external entity (XXE) on file:///etc/passwd', bases: [named, radicale, chunked], corrupt: externalEntity, rule: 'MS702', category: 'security', also: notExpanded },
];

for (const c of cases) {
  for (const base of c.bases) {
    test(`${base.name}: ${c.what} is ${c.rule} (${c.category})`, (t) => {
      const before = run(base, base.response);
      t.deepEqual(ruleIn(before, c.rule), [], `the untouched capture already has ${c.rule}:\n${describe(before.findings)}`);

      const a = run(base, c.corrupt(base.response));
      const why = describe(a.findings);
      const hits = ruleIn(a, c.rule);
      t.true(hits.length > 0, `${c.rule} expected:\n${why}`);
      for (const f of hits) {
        t.is(f.category, c.category, why);
        t.is(f.severity, c.severity ?? 'error', why);
      }
      for (const rule of c.absent ?? []) t.deepEqual(ruleIn(a, rule), [], `${rule} must not fire:\n${why}`);
      t.is(c.also?.(a) ?? null, null);
    });
  }
}

// Realistic flows for the UI's tests and benchmark: what the proxy records for a PROPFIND whose 207
// reports failures, a 207 cut by a gateway, a DELETE blocked by a lock, a plain GET and a refused
// upstream. Bodies are real Multi-Status XML; the analyses say what the analyzer says about them.
import { gzipSync } from 'node:zlib';
import type { Analysis, Finding, Flow, Resource } from '../../src/types.js';

const base = 'http://127.0.0.1:8081';
let counter = 0;

function body(bytes: Buffer | string, complete = true, seen?: number) {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'utf8');
  return { bytes: b, bytesSeen: seen ?? b.length, captureComplete: complete };
}

function flowBase(method: string, path: string, start: number, requestHeaders: string[] = [], requestBody = ''): Omit<Flow, 'response' | 'outcome'> {
  counter++;
  return {
    id: `flow-${start}-${counter}`,
    mode: 'reverse',
    client: { address: '127.0.0.1', port: 50_000 + (counter % 10_000) },
    timings: { start, firstByte: start + 12, end: start + 40 },
    request: {
      method,
      url: `${base}${path}`,
      target: path,
      httpVersion: '1.1',
      rawHeaders: ['Host', '127.0.0.1:8080', 'User-Agent', 'curl/8.5.0', ...requestHeaders],
      body: body(requestBody),
    },
  };
}

const propfindBody = '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>\n';

function propstat(status: number, reason: string, props: string[]): string {
  return `<D:propstat><D:prop>${props.map((p) => `<D:${p}/>`).join('')}</D:prop><D:status>HTTP/1.1 ${status} ${reason}</D:status></D:propstat>`;
}

/** A Depth 1 PROPFIND answered 207 where one member is forbidden and one lacks a property. */
export function propfindWithFailures(start: number, members = 5): Flow {
  const hrefs = ['/dav/projects/', ...Array.from({ length: members - 1 }, (_, i) => `/dav/projects/report-${i + 1}.txt`)];
  const parts: string[] = [];
  const resources: Resource[] = [];
  let offset = 60;
  hrefs.forEach((href, index) => {
    let xml: string;
    let res: Resource;
    if (index === 2) {
      xml = `<D:response><D:href>${href}</D:href>${propstat(403, 'Forbidden', ['getcontentlength', 'getlastmodified'])}</D:response>`;
      res = { index, href, hrefNormalized: href, status: null, propstats: [{ status: 403, statusLine: 'HTTP/1.1 403 Forbidden', props: ['{DAV:}getcontentlength', '{DAV:}getlastmodified'] }], span: { start: offset, end: offset + xml.length }, complete: true };
    } else if (index === 3) {
      xml = `<D:response><D:href>${href}</D:href>${propstat(200, 'OK', ['getcontentlength'])}${propstat(404, 'Not Found', ['quota-used-bytes'])}</D:response>`;
      res = {
        index, href, hrefNormalized: href, status: null,
        propstats: [
          { status: 200, statusLine: 'HTTP/1.1 200 OK', props: ['{DAV:}getcontentlength'] },
          { status: 404, statusLine: 'HTTP/1.1 404 Not Found', props: ['{DAV:}quota-used-bytes'] },
        ],
        span: { start: offset, end: offset + xml.length }, complete: true,
      };
    } else {
      xml = `<D:response><D:href>${href}</D:href>${propstat(200, 'OK', ['getcontentlength', 'getlastmodified', 'resourcetype'])}</D:response>`;
      res = { index, href, hrefNormalized: href, status: null, propstats: [{ status: 200, statusLine: 'HTTP/1.1 200 OK', props: ['{DAV:}getcontentlength', '{DAV:}getlastmodified', '{DAV:}resourcetype'] }], span: { start: offset, end: offset + xml.length }, complete: true };
    }
    offset += xml.length;
    parts.push(xml);
    resources.push(res);
  });
  const xml = `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">${parts.join('\n')}</D:multistatus>\n`;
  const findings: Finding[] = [
    { rule: 'MS502', severity: 'info', category: 'partial-failure', blame: 'server', message: `1 of ${members} resources has properties that failed (403 ×1)`, evidence: { href: hrefs[2] } },
  ];
  const analysis: Analysis = {
    findings,
    resources,
    summary: { resources: members, failedResources: 1, byStatus: { '200': members - 1, '403': 1, '404': 1 }, findings: { error: 0, warning: 0, info: 1 }, text: `1 of ${members} resources failed (403 ×1)` },
  };
  return {
    ...flowBase('PROPFIND', '/dav/projects/', start, ['Depth', '1', 'Content-Type', 'application/xml'], propfindBody),
    response: {
      status: 207, reason: 'Multi-Status', httpVersion: '1.1',
      rawHeaders: ['Date', 'Sat, 21 Nov 2026 06:00:00 GMT', 'Server', 'Apache/2.4.62 (Debian)', 'Via', '1.1 edge-gw (nginx)', 'X-Cache', 'MISS', 'Content-Type', 'application/xml; charset=utf-8', 'Content-Length', String(Buffer.byteLength(xml))],
      framing: 'content-length', declaredLength: Buffer.byteLength(xml), body: body(xml), decoded: null, informational: [], rawTrailers: [],
    },
    outcome: { kind: 'complete' },
    analysis,
  };
}

/** A 207 cut at 32 KiB by a gateway: Content-Length promised more, the connection closed. */
export function truncatedPropfind(start: number): Flow {
  const members: string[] = [];
  for (let i = 0; members.join('\n').length < 40_000; i++) {
    members.push(`<D:response><D:href>/dav/big/file-${String(i).padStart(4, '0')}.bin</D:href>${propstat(200, 'OK', ['getcontentlength', 'getetag'])}</D:response>`);
  }
  const full = `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n${members.join('\n')}\n</D:multistatus>\n`;
  const cut = full.slice(0, 32_768);
  const lines = cut.split('\n');
  const lastLine = lines.length;
  const lastColumn = lines[lines.length - 1]!.length + 1;
  const complete = cut.split('\n').slice(2, -1).length;
  const lastHref = `/dav/big/file-${String(complete - 1).padStart(4, '0')}.bin`;
  const resources: Resource[] = Array.from({ length: complete + 1 }, (_, index) => {
    const href = `/dav/big/file-${String(index).padStart(4, '0')}.bin`;
    const done = index < complete;
    return {
      index, href, hrefNormalized: href, status: null,
      propstats: done ? [{ status: 200, statusLine: 'HTTP/1.1 200 OK', props: ['{DAV:}getcontentlength', '{DAV:}getetag'] }] : [],
      span: { start: 0, end: done ? 0 : null }, complete: done,
    };
  });
  const findings: Finding[] = [
    { rule: 'MS001', severity: 'error', category: 'truncation', blame: 'gateway', message: `body ended after 32,768 of ${Buffer.byteLength(full).toLocaleString('en-US')} declared bytes`, evidence: { offset: 32_768, declared: Buffer.byteLength(full), received: 32_768, lastCompleteHref: lastHref } },
    { rule: 'MS006', severity: 'error', category: 'truncation', blame: 'unknown', message: 'XML ended inside multistatus>response>propstat', evidence: { line: lastLine, column: lastColumn, path: 'multistatus>response>propstat', href: lastHref }, consequenceOf: 'MS001' },
    { rule: 'MS109', severity: 'warning', category: 'stripped', blame: 'server', message: 'Content-Type on a 207 is text/plain', evidence: { contentType: 'text/plain' } },
  ];
  return {
    ...flowBase('PROPFIND', '/dav/big/', start, ['Depth', '1'], propfindBody),
    response: {
      status: 207, reason: 'Multi-Status', httpVersion: '1.1',
      rawHeaders: ['Server', 'nginx/1.26.2', 'Via', '1.1 cdn-edge', 'CF-Ray', '8f0c2a1b3c4d5e6f-FRA', 'Age', '0', 'Content-Type', 'text/plain', 'Content-Length', String(Buffer.byteLength(full))],
      framing: 'content-length', declaredLength: Buffer.byteLength(full), body: body(cut), decoded: null, informational: [], rawTrailers: [],
    },
    outcome: { kind: 'upstream-aborted', code: 'ECONNRESET', message: `upstream closed after 32,768 of ${Buffer.byteLength(full)} bytes` },
    analysis: {
      findings,
      resources,
      summary: { resources: complete + 1, failedResources: 1, byStatus: { '200': complete }, findings: { error: 2, warning: 1, info: 0 }, text: `1 of ${complete + 1} resources failed (body ended inside ${lastHref})` },
    },
  };
}

/** DELETE of a collection with a locked member: 423 for the member, 424 for the collection. */
export function deleteLocked(start: number): Flow {
  const xml = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<d:multistatus xmlns:d="DAV:">',
    '  <d:response><d:href>/dav/shared/locked.odt</d:href><d:status>HTTP/1.1 423 Locked</d:status><d:error><d:lock-token-submitted><d:href>/dav/shared/locked.odt</d:href></d:lock-token-submitted></d:error></d:response>',
    '  <d:response><d:href>/dav/shared/</d:href><d:status>HTTP/1.1 424 Failed Dependency</d:status></d:response>',
    '</d:multistatus>',
    '',
  ].join('\n');
  const resources: Resource[] = [
    { index: 0, href: '/dav/shared/locked.odt', hrefNormalized: '/dav/shared/locked.odt', status: 423, statusLine: 'HTTP/1.1 423 Locked', propstats: [], error: ['{DAV:}lock-token-submitted'], span: { start: 0, end: 10 }, complete: true },
    { index: 1, href: '/dav/shared/', hrefNormalized: '/dav/shared/', status: 424, statusLine: 'HTTP/1.1 424 Failed Dependency', propstats: [], span: { start: 10, end: 20 }, complete: true },
  ];
  return {
    ...flowBase('DELETE', '/dav/shared/', start),
    response: {
      status: 207, reason: 'Multi-Status', httpVersion: '1.1',
      rawHeaders: ['Server', 'Apache/2.4.62 (Debian)', 'Content-Type', 'text/xml; charset="utf-8"', 'Transfer-Encoding', 'chunked'],
      framing: 'chunked', declaredLength: null, body: body(xml), decoded: null, informational: [], rawTrailers: [],
    },
    outcome: { kind: 'complete' },
    analysis: {
      findings: [
        { rule: 'MS501', severity: 'warning', category: 'partial-failure', blame: 'server', message: '2 of 2 resources failed (423 ×1, 424 ×1)', evidence: { href: '/dav/shared/locked.odt' } },
        { rule: 'MS504', severity: 'warning', category: 'partial-failure', blame: 'server', message: 'DELETE 207 contains 424 Failed Dependency', evidence: { href: '/dav/shared/' } },
      ],
      resources,
      summary: { resources: 2, failedResources: 2, byStatus: { '423': 1, '424': 1 }, findings: { error: 0, warning: 2, info: 0 }, text: '2 of 2 resources failed (423 ×1, 424 ×1)' },
    },
  };
}

export function plainGet(start: number, path = '/dav/readme.txt'): Flow {
  const text = 'hello from the origin\n';
  return {
    ...flowBase('GET', path, start),
    response: {
      status: 200, reason: 'OK', httpVersion: '1.1',
      rawHeaders: ['Content-Type', 'text/plain', 'Content-Length', String(text.length)],
      framing: 'content-length', declaredLength: text.length, body: body(text), decoded: null, informational: [], rawTrailers: [],
    },
    outcome: { kind: 'complete' },
  };
}

export function refusedUpstream(start: number): Flow {
  return { ...flowBase('MKCOL', '/dav/new-folder/', start), response: null, outcome: { kind: 'error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:8081' } };
}

/** The five flows above, a second apart, oldest first. */
export function sampleFlows(start = Date.UTC(2026, 10, 21, 6, 0, 0)): Flow[] {
  return [plainGet(start), propfindWithFailures(start + 1000), truncatedPropfind(start + 2000), deleteLocked(start + 3000), refusedUpstream(start + 4000)];
}

const multigetBody =
  '<?xml version="1.0" encoding="utf-8"?>\n<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>' +
  '<D:href>/cal/alice/personal/a.ics</D:href><D:href>/cal/alice/personal/b.ics</D:href></C:calendar-multiget>\n';

/**
 * A calendar-multiget whose 207 is malformed after two responses that both said 200: no resource
 * failed, the body did (what a list that only counts failed resources calls "2 ok").
 */
export function malformedMultiget(start: number): Flow {
  const hrefs = ['/cal/alice/personal/a.ics', '/cal/alice/personal/b.ics'];
  const xml =
    '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n' +
    hrefs.map((h) => `<D:response><D:href>${h}</D:href>${propstat(200, 'OK', ['getetag'])}</D:response>`).join('\n') +
    '\n<D:response><D:href>/cal/alice/personal/c.ics</D:hre></D:multistatus>\n';
  const resources: Resource[] = hrefs.map((href, index) => ({
    index, href, hrefNormalized: href, status: null,
    propstats: [{ status: 200, statusLine: 'HTTP/1.1 200 OK', props: ['{DAV:}getetag'] }],
    span: { start: 0, end: 10 }, complete: true,
  }));
  return {
    ...flowBase('REPORT', '/cal/alice/personal/', start, ['Depth', '1', 'Content-Type', 'application/xml'], multigetBody),
    response: {
      status: 207, reason: 'Multi-Status', httpVersion: '1.1',
      rawHeaders: ['Content-Type', 'application/xml; charset=utf-8', 'Content-Length', String(Buffer.byteLength(xml))],
      framing: 'content-length', declaredLength: Buffer.byteLength(xml), body: body(xml), decoded: null, informational: [], rawTrailers: [],
    },
    outcome: { kind: 'complete' },
    analysis: {
      findings: [
        { rule: 'MS201', severity: 'error', category: 'malformed', blame: 'server', message: 'XML is not well-formed: Unexpected close tag', evidence: { line: 5, column: 50 } },
        { rule: 'MS202', severity: 'warning', category: 'malformed', blame: 'server', message: 'a response has no status', evidence: { line: 5, column: 1 } },
      ],
      resources,
      summary: { resources: 2, failedResources: 0, byStatus: { '200': 2 }, findings: { error: 1, warning: 1, info: 0 }, text: '0 of 2 resources failed' },
    },
  };
}

/** MKCALENDAR of a deep collection, answered 201: a long method and a long path. */
export function mkcalendar(start: number): Flow {
  const path = '/cal/alice/calendars/projects/2026/quarterly-planning/team-offsite/';
  return {
    ...flowBase('MKCALENDAR', path, start),
    response: {
      status: 201, reason: 'Created', httpVersion: '1.1', rawHeaders: ['Content-Length', '0'],
      framing: 'content-length', declaredLength: 0, body: body(''), decoded: null, informational: [], rawTrailers: [],
    },
    outcome: { kind: 'complete' },
  };
}

/** A PROPFIND whose 207 came gzip-compressed: the wire bytes and the decoded copy the proxy keeps. */
export function gzipPropfind(start: number): Flow {
  const xml =
    '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n' +
    `<D:response><D:href>/dav/zipped/</D:href>${propstat(200, 'OK', ['getetag'])}</D:response>\n</D:multistatus>\n`;
  const wire = gzipSync(Buffer.from(xml));
  return {
    ...flowBase('PROPFIND', '/dav/zipped/', start, ['Depth', '0', 'Content-Type', 'application/xml'], propfindBody),
    response: {
      status: 207, reason: 'Multi-Status', httpVersion: '1.1',
      rawHeaders: ['Content-Type', 'application/xml; charset=utf-8', 'Content-Encoding', 'gzip', 'Content-Length', String(wire.length)],
      framing: 'content-length', declaredLength: wire.length, body: body(wire), decoded: body(xml), informational: [], rawTrailers: [],
    },
    outcome: { kind: 'complete' },
  };
}

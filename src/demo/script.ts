// The demo's scripted client: the requests a sync client makes on first contact with a server
// (discovery, folder listings, a calendar's query, multiget and sync, an address book's multiget
// and sync, a PUT and a PROPPATCH), sent to davtap over plain node:http, one at a time. Each
// request is bounded; a body cut by an injected fault is an answer like any other here.
import http from 'node:http';
import { newEvent } from './content.js';

export interface ScriptStep {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface StepResult {
  step: ScriptStep;
  status: number | null;
  /** The body as received (possibly cut). */
  body: string;
  /** Why the exchange ended early (a reset, a cut body, a timeout), when it did. */
  error?: string;
  etag?: string;
}

const xmlHead = '<?xml version="1.0" encoding="utf-8"?>\n';
const xml = { 'Content-Type': 'application/xml; charset=utf-8' };

const propfind = (props: string, ns = ''): string => `${xmlHead}<d:propfind xmlns:d="DAV:"${ns}><d:prop>${props}</d:prop></d:propfind>`;

const folderProps = '<d:resourcetype/><d:displayname/><d:getetag/><d:getlastmodified/><d:getcontenttype/>';
const collectionProps = '<d:resourcetype/><d:displayname/><d:sync-token/><cs:getctag/>';
const csNs = ' xmlns:cs="http://calendarserver.org/ns/"';

function calendarMultiget(hrefs: string[]): string {
  return `${xmlHead}<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>${hrefs.map((h) => `<d:href>${h}</d:href>`).join('')}</c:calendar-multiget>`;
}

function addressbookMultiget(hrefs: string[]): string {
  return `${xmlHead}<card:addressbook-multiget xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><card:address-data/></d:prop>${hrefs.map((h) => `<d:href>${h}</d:href>`).join('')}</card:addressbook-multiget>`;
}

function syncCollection(token: string): string {
  return `${xmlHead}<d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/><d:getcontenttype/></d:prop></d:sync-collection>`;
}

const calendarQuery = `${xmlHead}<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20260101T000000Z" end="20260301T000000Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`;

const proppatch = `${xmlHead}<d:propertyupdate xmlns:d="DAV:" xmlns:x="urn:example:demo"><d:set><d:prop><d:displayname>Notes (shopping)</d:displayname><x:color>green</x:color></d:prop></d:set></d:propertyupdate>`;

/** The hrefs of a Multi-Status body's responses (the client's own reading: it does not need more). */
function hrefsIn(body: string): string[] {
  return [...body.matchAll(/<(?:[\w.-]+:)?href>([^<]*)<\/(?:[\w.-]+:)?href>/g)].map((m) => m[1]!);
}

function tokenIn(body: string): string | undefined {
  return /<(?:[\w.-]+:)?sync-token>([^<]*)</.exec(body)?.[1];
}

/**
 * The steps, each built from the answers so far (a sync uses the token of the previous one, an
 * update the ETag of the file).
 */
export const scriptSteps: readonly ((seen: StepResult[]) => ScriptStep | undefined)[] = [
  () => ({ method: 'OPTIONS', path: '/', headers: {} }),
  () => ({ method: 'PROPFIND', path: '/', headers: { Depth: '0', ...xml }, body: propfind(collectionProps, csNs) }),
  () => ({ method: 'PROPFIND', path: '/', headers: { Depth: '1', ...xml }, body: propfind(folderProps) }),
  () => ({ method: 'PROPFIND', path: '/files/', headers: { Depth: '1', ...xml }, body: propfind(folderProps) }),
  () => ({ method: 'PROPFIND', path: '/files/photos/', headers: { Depth: '1', ...xml }, body: propfind(folderProps) }),
  () => ({ method: 'PROPFIND', path: '/files/archive/', headers: { Depth: '1', ...xml }, body: propfind(folderProps) }),
  () => ({ method: 'PROPFIND', path: '/shared/', headers: { Depth: '1', ...xml }, body: propfind(folderProps) }),
  () => ({ method: 'GET', path: '/files/notes.txt', headers: {} }),
  (seen) => {
    const etag = seen.find((r) => r.step.method === 'GET' && r.step.path === '/files/notes.txt')?.etag;
    return { method: 'PUT', path: '/files/notes.txt', headers: { 'Content-Type': 'text/plain; charset=utf-8', ...(etag ? { 'If-Match': etag } : {}) }, body: 'Shopping: milk, bread, coffee, apples.\n' };
  },
  () => ({ method: 'PROPPATCH', path: '/files/notes.txt', headers: xml, body: proppatch }),
  () => ({ method: 'PROPFIND', path: '/calendars/alice/', headers: { Depth: '1', ...xml }, body: propfind(collectionProps, csNs) }),
  () => ({ method: 'REPORT', path: '/calendars/alice/home/', headers: { Depth: '1', ...xml }, body: calendarQuery }),
  (seen) => {
    const query = seen.find((r) => r.step.method === 'REPORT' && r.step.path === '/calendars/alice/home/');
    const hrefs = query ? hrefsIn(query.body) : [];
    return { method: 'REPORT', path: '/calendars/alice/home/', headers: { Depth: '1', ...xml }, body: calendarMultiget(hrefs.length > 0 ? hrefs : ['/calendars/alice/home/dentist.ics']) };
  },
  () => ({ method: 'REPORT', path: '/calendars/alice/home/', headers: { Depth: '0', ...xml }, body: syncCollection('') }),
  () => ({ method: 'PUT', path: `/calendars/alice/home/demo-${Date.now()}.ics`, headers: { 'Content-Type': 'text/calendar; charset=utf-8', 'If-None-Match': '*' }, body: newEvent(`demo-${Date.now()}@demo`, 'Lunch with Carol') }),
  (seen) => {
    const first = seen.find((r) => r.step.method === 'REPORT' && r.step.body?.includes('sync-collection') && r.step.path === '/calendars/alice/home/');
    const token = first ? tokenIn(first.body) : undefined;
    return token ? { method: 'REPORT', path: '/calendars/alice/home/', headers: { Depth: '0', ...xml }, body: syncCollection(token) } : undefined;
  },
  () => ({ method: 'REPORT', path: '/calendars/alice/office/', headers: { Depth: '1', ...xml }, body: calendarMultiget(['/calendars/alice/office/standup.ics', '/calendars/alice/office/review.ics', '/calendars/alice/office/expenses.ics']) }),
  () => ({ method: 'PROPFIND', path: '/contacts/alice/book/', headers: { Depth: '1', ...xml }, body: propfind('<d:getetag/><d:getcontenttype/>') }),
  (seen) => {
    const listing = seen.find((r) => r.step.method === 'PROPFIND' && r.step.path === '/contacts/alice/book/');
    const hrefs = (listing ? hrefsIn(listing.body) : []).filter((h) => h.endsWith('.vcf'));
    return { method: 'REPORT', path: '/contacts/alice/book/', headers: { Depth: '1', ...xml }, body: addressbookMultiget(hrefs.length > 0 ? hrefs : ['/contacts/alice/book/bob.vcf']) };
  },
  () => ({ method: 'REPORT', path: '/contacts/alice/book/', headers: { Depth: '0', ...xml }, body: syncCollection('') }),
];

/** How long one request may take, whatever happens to it. */
const STEP_TIMEOUT_MS = 5_000;

function send(base: URL, step: ScriptStep, agent: http.Agent, signal: AbortSignal): Promise<StepResult> {
  return new Promise((resolve) => {
    const body = step.body !== undefined ? Buffer.from(step.body) : undefined;
    const headers = { 'User-Agent': 'davtap-demo-client/1', ...step.headers, ...(body ? { 'Content-Length': String(body.length) } : {}) };
    let settled = false;
    const finish = (result: Omit<StepResult, 'step'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ step, ...result });
    };
    const req = http.request(new URL(step.path, base), { method: step.method, headers, agent, signal }, (res) => {
      const parts: Buffer[] = [];
      const etag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
      const done = (error?: string) => finish({ status: res.statusCode ?? null, body: Buffer.concat(parts).toString('utf8'), ...(etag ? { etag } : {}), ...(error ? { error } : {}) });
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => done());
      res.on('aborted', () => done('the response was cut'));
      res.on('error', (e) => done(e.message));
      res.on('close', () => done(res.complete ? undefined : 'the response was cut'));
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${STEP_TIMEOUT_MS} ms`));
    }, STEP_TIMEOUT_MS);
    req.on('error', (e) => finish({ status: null, body: '', error: e.message }));
    req.end(body);
  });
}

export interface ScriptOptions {
  /** davtap's address: the client talks to the origin through it. */
  base: URL;
  /** A pause between requests, so that a person watching the UI sees them arrive (0 for --no-ui). */
  paceMs?: number;
  signal?: AbortSignal;
}

/** Runs the steps in order; resolves with every answer (never rejects). */
export async function runScript(options: ScriptOptions): Promise<StepResult[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const signal = options.signal ?? new AbortController().signal;
  const seen: StepResult[] = [];
  try {
    for (const make of scriptSteps) {
      if (signal.aborted) break;
      const step = make(seen);
      if (!step) continue;
      seen.push(await send(options.base, step, agent, signal));
      if (options.paceMs) await new Promise((r) => setTimeout(r, options.paceMs));
    }
  } finally {
    agent.destroy();
  }
  return seen;
}

// The demo's broken paths: the one table of which request on which path davtap breaks on purpose
// (with the inject engine, as `--inject` would), and the rule each break makes davtap report.
// Everything else the demo origin answers reaches the client untouched and clean.
import type { ResponseInjection } from '../proxy/hooks.js';
import type { FlowStart } from '../types.js';
import { createInjection, parseInjectSpecs } from '../inject/index.js';
import { CALDAV, CARDDAV, DAV, clark, parseXml } from './xml.js';

/** The REPORTs the demo's client makes, by the request body's root element. */
export const reportNames = {
  'calendar-query': clark(CALDAV, 'calendar-query'),
  'calendar-multiget': clark(CALDAV, 'calendar-multiget'),
  'addressbook-multiget': clark(CARDDAV, 'addressbook-multiget'),
  'sync-collection': clark(DAV, 'sync-collection'),
} as const;

export type ReportName = keyof typeof reportNames;

export interface BrokenPath {
  method: string;
  /** The request path, exactly (a collection with its trailing slash). */
  path: string;
  /** For a REPORT: which one (the same collection answers several). */
  report?: ReportName;
  /** The faults, in `--inject` syntax. */
  inject: string;
  /** The rule the demo shows for it (its root cause; consequences may follow). */
  rule: string;
  /** What a real gateway would have done, in a few words. */
  story: string;
}

export const brokenPaths: readonly BrokenPath[] = [
  { method: 'PROPFIND', path: '/files/archive/', inject: 'truncate:responses=3', rule: 'MS001', story: 'a proxy cuts the listing after 3 responses' },
  { method: 'PROPFIND', path: '/files/photos/', inject: 'strip-ns:D', rule: 'MS104', story: 'a filter drops the DAV: namespace declaration' },
  { method: 'PROPFIND', path: '/shared/', inject: 'html', rule: 'MS108', story: 'a gateway serves its HTML error page with status 207' },
  { method: 'REPORT', path: '/calendars/alice/office/', report: 'calendar-multiget', inject: 'drop:getetag', rule: 'MS401', story: 'a rewriting proxy drops getetag from a calendar-multiget' },
  { method: 'REPORT', path: '/contacts/alice/book/', report: 'sync-collection', inject: 'rewrite-href:http://dav-backend.internal:8080', rule: 'MS304', story: 'a reverse proxy leaks its backend host in the hrefs' },
];

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

/** The Clark name of a request body's root element, when it is XML. */
function rootOf(body: Buffer): string | undefined {
  if (body.length === 0) return undefined;
  try {
    const root = parseXml(body.toString('utf8'));
    return clark(root.uri, root.local);
  } catch {
    return undefined;
  }
}

/** The proxy's injectFor hook: the faults of a broken path for its 207s, nothing for any other flow. */
export function demoInjector(paths: readonly BrokenPath[] = brokenPaths): (start: FlowStart) => ResponseInjection | undefined {
  const table = paths.map((p) => ({ ...p, specs: parseInjectSpecs(p.inject) }));
  return (start) => {
    if (start.response.status !== 207) return undefined;
    const path = pathOf(start.request.url);
    const candidates = table.filter((p) => p.method === start.request.method && p.path === path);
    if (candidates.length === 0) return undefined;
    const root = candidates.some((p) => p.report) ? rootOf(start.request.body.bytes) : undefined;
    const hit = candidates.find((p) => p.report === undefined || reportNames[p.report] === root);
    return hit ? createInjection(hit.specs, start.request.method) : undefined;
  };
}

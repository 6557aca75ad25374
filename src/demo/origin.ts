// The demo's origin: a small in-memory WebDAV (RFC 4918 class 1), CalDAV (RFC 4791) and CardDAV
// (RFC 6352) server with collection sync (RFC 6578), on loopback. It answers PROPFIND (Depth 0
// and 1), PROPPATCH, REPORT (calendar-query, calendar-multiget, addressbook-multiget,
// sync-collection), GET, HEAD, PUT, DELETE, MKCOL and OPTIONS, with honest, namespace-correct
// Multi-Status bodies: every 207 it sends is one davtap finds nothing wrong with. What davtap
// then finds on the demo comes from the faults injected in front of it (faults.ts).
//
// davtap's own rather than the `webdav-server` package: that one is a development dependency (the
// demo must run after `npm ci` alone), has no CalDAV or CardDAV, and answers in its own dialect;
// this one is small and says exactly what it does.
import http from 'node:http';
import type net from 'node:net';
import { seedCollections, seedFiles, type CollectionKind } from './content.js';
import {
  CALDAV, CALSERVER, CARDDAV, DAV, XmlBodyError, child, children, clark, element, errorBody, escapeText, fromClark, is, multistatus, parseXml, serialize,
  type XmlElement,
} from './xml.js';

interface Resource {
  /** Null for a file. */
  collection: CollectionKind | null;
  body: Buffer;
  contentType: string;
  etag: string;
  modified: number;
  /** The change counter's value when this resource last changed (collection sync). */
  changed: number;
  /** Dead properties: Clark name → the serialised value (its content, not the element). */
  dead: Map<string, string>;
}

/** Bounds that keep a long-running demo's memory small whatever a client sends. */
const MAX_REQUEST_BODY = 1024 * 1024;
const MAX_STORED_BYTES = 32 * 1024 * 1024;
const MAX_RESOURCES = 5_000;

const SYNC_PREFIX = 'http://davtap.demo/sync/';
const methods = ['OPTIONS', 'GET', 'HEAD', 'PUT', 'DELETE', 'MKCOL', 'PROPFIND', 'PROPPATCH', 'REPORT'];

/** Live properties: computed, never set by PROPPATCH. */
const liveProps = [
  clark(DAV, 'resourcetype'), clark(DAV, 'getetag'), clark(DAV, 'getlastmodified'), clark(DAV, 'getcontenttype'),
  clark(DAV, 'getcontentlength'), clark(DAV, 'sync-token'), clark(CALSERVER, 'getctag'), clark(CALDAV, 'supported-calendar-component-set'),
  clark(DAV, 'supported-report-set'),
];
/** What allprop returns besides dead properties: RFC 4918's own properties, those the resource has. */
const allpropLive = [clark(DAV, 'displayname'), clark(DAV, 'resourcetype'), clark(DAV, 'getetag'), clark(DAV, 'getlastmodified'), clark(DAV, 'getcontenttype'), clark(DAV, 'getcontentlength')];

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly body?: string) {
    super(message);
  }
}

const preconditionFailed = (uri: string, local: string, status = 403) => new HttpError(status, local, errorBody(uri, local));

/** Percent-encodes each segment of a path for an href (RFC 3986 pchar). */
function hrefOf(path: string): string {
  return path.split('/').map((s) => encodeURIComponent(s).replace(/%40/g, '@')).join('/');
}

function statusLine(code: number): string {
  return `HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? ''}`.trimEnd();
}

export interface DemoOrigin {
  /** http://127.0.0.1:PORT/ */
  url: URL;
  port: number;
  close(): Promise<void>;
}

export class DemoStore {
  private readonly resources = new Map<string, Resource>();
  /** Removed paths and when (the change counter), for sync-collection. */
  private readonly tombstones = new Map<string, number>();
  private counter = 1;
  private storedBytes = 0;

  constructor(now = Date.now()) {
    for (const c of seedCollections) {
      this.resources.set(c.path, this.make(c.kind, Buffer.alloc(0), 'httpd/unix-directory', now));
      this.resources.get(c.path)!.dead.set(clark(DAV, 'displayname'), escapeText(c.displayName));
    }
    for (const f of seedFiles) this.putFile(f.path, Buffer.from(f.body), f.contentType, now);
  }

  private make(collection: CollectionKind | null, body: Buffer, contentType: string, now: number): Resource {
    const changed = ++this.counter;
    return { collection, body, contentType, etag: `"demo-${changed}"`, modified: now, changed, dead: new Map() };
  }

  get(path: string): Resource | undefined {
    return this.resources.get(path);
  }

  syncToken(): string {
    return `${SYNC_PREFIX}${this.counter}`;
  }

  /** The direct members of a collection, in path order. */
  members(path: string): string[] {
    const out: string[] = [];
    for (const p of this.resources.keys()) {
      if (p === path || !p.startsWith(path)) continue;
      const rest = p.slice(path.length).replace(/\/$/, '');
      if (rest !== '' && !rest.includes('/')) out.push(p);
    }
    return out.sort();
  }

  /** A collection's CTag: the latest change to it or to one of its members. */
  ctag(path: string): string {
    let latest = this.resources.get(path)?.changed ?? 0;
    for (const m of this.members(path)) latest = Math.max(latest, this.resources.get(m)!.changed);
    for (const [p, at] of this.tombstones) if (parentOf(p) === path) latest = Math.max(latest, at);
    return `"ctag-${latest}"`;
  }

  /** Members changed and removed after `since` (a change counter value). */
  changesSince(path: string, since: number): { changed: string[]; removed: string[] } {
    const changed = this.members(path).filter((m) => this.resources.get(m)!.changed > since);
    const removed = [...this.tombstones].filter(([p, at]) => parentOf(p) === path && at > since && !this.resources.has(p)).map(([p]) => p);
    return { changed, removed: removed.sort() };
  }

  /** Parses one of this store's sync tokens; undefined when it is not one. */
  tokenValue(token: string): number | undefined {
    if (!token.startsWith(SYNC_PREFIX)) return undefined;
    const n = Number(token.slice(SYNC_PREFIX.length));
    return Number.isInteger(n) && n >= 0 && n <= this.counter ? n : undefined;
  }

  putFile(path: string, body: Buffer, contentType: string, now = Date.now()): Resource {
    const old = this.resources.get(path);
    if (this.storedBytes - (old?.body.length ?? 0) + body.length > MAX_STORED_BYTES) throw new HttpError(507, 'the demo server keeps at most 32 MiB');
    if (!old && this.resources.size >= MAX_RESOURCES) throw new HttpError(507, 'the demo server keeps at most 5,000 resources');
    const made = this.make(null, body, contentType, now);
    if (old) made.dead = old.dead;
    this.storedBytes += body.length - (old?.body.length ?? 0);
    this.resources.set(path, made);
    this.tombstones.delete(path);
    return made;
  }

  mkcol(path: string, now = Date.now()): void {
    if (this.resources.size >= MAX_RESOURCES) throw new HttpError(507, 'the demo server keeps at most 5,000 resources');
    this.resources.set(path, this.make('plain', Buffer.alloc(0), 'httpd/unix-directory', now));
    this.tombstones.delete(path);
  }

  /** Removes a resource and, for a collection, everything below it. */
  delete(path: string): void {
    const at = ++this.counter;
    for (const p of [...this.resources.keys()]) {
      if (p === path || (path.endsWith('/') && p.startsWith(path))) {
        this.storedBytes -= this.resources.get(p)!.body.length;
        this.resources.delete(p);
        this.tombstones.set(p, at);
      }
    }
  }

  /** Marks a resource changed (a PROPPATCH): new ETag, seen by the next sync. */
  touch(path: string, now = Date.now()): void {
    const r = this.resources.get(path)!;
    r.changed = ++this.counter;
    r.etag = `"demo-${r.changed}"`;
    r.modified = now;
  }
}

function parentOf(path: string): string {
  const trimmed = path.replace(/\/$/, '');
  return trimmed.slice(0, trimmed.lastIndexOf('/') + 1) || '/';
}

/** A property's value (the element's content), or undefined when the resource does not have it. */
function propValue(store: DemoStore, path: string, r: Resource, name: string): string | undefined {
  const dead = r.dead.get(name);
  if (dead !== undefined) return dead;
  const collection = r.collection !== null;
  switch (name) {
    case clark(DAV, 'displayname'):
      // A file's name, unless PROPPATCH set another (collections are seeded with theirs).
      return escapeText(path.replace(/\/$/, '').split('/').pop() ?? '');
    case clark(DAV, 'resourcetype'):
      if (!collection) return '';
      return element(DAV, 'collection') + (r.collection === 'calendar' ? element(CALDAV, 'calendar') : r.collection === 'addressbook' ? element(CARDDAV, 'addressbook') : '');
    case clark(DAV, 'getetag'):
      return escapeText(r.etag);
    case clark(DAV, 'getlastmodified'):
      return new Date(r.modified).toUTCString();
    case clark(DAV, 'getcontenttype'):
      return escapeText(r.contentType);
    case clark(DAV, 'getcontentlength'):
      return collection ? undefined : String(r.body.length);
    case clark(DAV, 'sync-token'):
      return collection ? escapeText(store.syncToken()) : undefined;
    case clark(CALSERVER, 'getctag'):
      return collection ? escapeText(store.ctag(path)) : undefined;
    case clark(CALDAV, 'supported-calendar-component-set'):
      return r.collection === 'calendar' ? '<C:comp name="VEVENT"/><C:comp name="VTODO"/>' : undefined;
    case clark(DAV, 'supported-report-set'): {
      if (!collection) return undefined;
      const reports = [element(DAV, 'sync-collection')];
      if (r.collection === 'calendar') reports.push(element(CALDAV, 'calendar-query'), element(CALDAV, 'calendar-multiget'));
      if (r.collection === 'addressbook') reports.push(element(CARDDAV, 'addressbook-multiget'));
      return reports.map((x) => element(DAV, 'supported-report', element(DAV, 'report', x))).join('');
    }
    default:
      return undefined;
  }
}

/** One `<D:response>` with a 200 propstat for the properties it has and a 404 one for the others. */
function propResponse(store: DemoStore, path: string, r: Resource, names: string[], extra: Map<string, string> = new Map()): string {
  const found: string[] = [];
  const missing: string[] = [];
  for (const name of names) {
    const { uri, local } = fromClark(name);
    const value = extra.get(name) ?? propValue(store, path, r, name);
    if (value === undefined) missing.push(element(uri, local));
    else found.push(element(uri, local, value));
  }
  const propstat = (props: string[], code: number) => element(DAV, 'propstat', element(DAV, 'prop', props.join('')) + element(DAV, 'status', statusLine(code)));
  const stats = [found.length > 0 || missing.length === 0 ? propstat(found, 200) : '', missing.length > 0 ? propstat(missing, 404) : ''].join('');
  return element(DAV, 'response', element(DAV, 'href', hrefOf(path)) + stats);
}

function statusResponse(path: string, code: number): string {
  return element(DAV, 'response', element(DAV, 'href', hrefOf(path)) + element(DAV, 'status', statusLine(code)));
}

/** The property names a `<D:prop>` element asks for. */
function namesIn(prop: XmlElement | undefined): string[] {
  return prop?.children.map((c) => clark(c.uri, c.local)) ?? [];
}

function allpropNames(store: DemoStore, path: string, r: Resource): string[] {
  return [...new Set([...allpropLive.filter((n) => propValue(store, path, r, n) !== undefined), ...r.dead.keys()])];
}

interface Request {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

const xmlType = 'application/xml; charset=utf-8';
const multi = (body: string): Reply => ({ status: 207, headers: { 'Content-Type': xmlType }, body });

function xmlOf(req: Request): XmlElement | undefined {
  if (req.body.length === 0) return undefined;
  try {
    return parseXml(req.body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `the request body is not well-formed XML: ${err instanceof XmlBodyError ? err.message : String(err)}`);
  }
}

function depthOf(req: Request, fallback: '0' | '1' | 'infinity'): '0' | '1' | 'infinity' {
  const d = req.headers['depth'];
  const value = (Array.isArray(d) ? d[0] : d)?.trim().toLowerCase() ?? fallback;
  if (value !== '0' && value !== '1' && value !== 'infinity') throw new HttpError(400, `Depth: ${value} is not 0, 1 or infinity`);
  return value;
}

function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function propfind(store: DemoStore, req: Request): Reply {
  const r = store.get(req.path);
  if (!r) throw new HttpError(404, 'no such resource');
  const depth = depthOf(req, 'infinity');
  // Depth: infinity would walk the whole tree for every client that asks: refused as RFC 4918 §9.1 allows.
  if (depth === 'infinity') throw preconditionFailed(DAV, 'propfind-finite-depth');
  const body = xmlOf(req);
  if (body && !is(body, DAV, 'propfind')) throw new HttpError(400, 'a PROPFIND body is a DAV:propfind');
  const prop = child(body, DAV, 'prop');
  const propname = child(body, DAV, 'propname') !== undefined;
  const paths = [req.path, ...(depth === '1' && r.collection !== null ? store.members(req.path) : [])];
  const responses = paths.map((p) => {
    const res = store.get(p)!;
    if (propname) {
      const names = [...allpropLive, ...liveProps].filter((n) => propValue(store, p, res, n) !== undefined).concat([...res.dead.keys()]);
      const empty = new Map(names.map((n) => [n, ''] as const));
      return propResponse(store, p, res, [...new Set(names)], empty);
    }
    return propResponse(store, p, res, prop ? namesIn(prop) : allpropNames(store, p, res));
  });
  return multi(multistatus(responses));
}

function proppatch(store: DemoStore, req: Request): Reply {
  const r = store.get(req.path);
  if (!r) throw new HttpError(404, 'no such resource');
  const body = xmlOf(req);
  if (!is(body, DAV, 'propertyupdate')) throw new HttpError(400, 'a PROPPATCH body is a DAV:propertyupdate');
  const updates: { name: string; value: string | null }[] = [];
  for (const action of body!.children) {
    const set = is(action, DAV, 'set');
    if (!set && !is(action, DAV, 'remove')) continue;
    for (const p of children(action, DAV, 'prop').flatMap((x) => x.children)) {
      updates.push({ name: clark(p.uri, p.local), value: set ? escapeText(p.text) + p.children.map((c) => serialize(c, 1)).join('') : null });
    }
  }
  // All or nothing (RFC 4918 §9.2): a protected property fails with 403, the others with 424.
  const protectedOnes = new Set(updates.filter((u) => liveProps.includes(u.name)).map((u) => u.name));
  if (protectedOnes.size === 0) {
    for (const u of updates) {
      if (u.value === null) r.dead.delete(u.name);
      else r.dead.set(u.name, u.value);
    }
    if (updates.length > 0) store.touch(req.path);
  }
  const byStatus = new Map<number, string[]>();
  for (const u of updates) {
    const code = protectedOnes.size === 0 ? 200 : protectedOnes.has(u.name) ? 403 : 424;
    const { uri, local } = fromClark(u.name);
    byStatus.set(code, [...(byStatus.get(code) ?? []), element(uri, local)]);
  }
  const stats = [...byStatus].map(([code, props]) => {
    const error = code === 403 ? element(DAV, 'error', element(DAV, 'cannot-modify-protected-property')) : '';
    return element(DAV, 'propstat', element(DAV, 'prop', props.join('')) + element(DAV, 'status', statusLine(code)) + error);
  });
  return multi(multistatus([element(DAV, 'response', element(DAV, 'href', hrefOf(req.path)) + stats.join(''))]));
}

/** The path an href names on this server (absolute path or absolute URI), or undefined. */
function pathOfHref(href: string): string | undefined {
  try {
    return decodeURIComponent(new URL(href.trim(), 'http://demo.invalid').pathname);
  } catch {
    return undefined;
  }
}

/** A data property (calendar-data, address-data): the resource's body as text. */
function withData(store: DemoStore, path: string, names: string[], dataName: string): string {
  const r = store.get(path)!;
  const extra = new Map<string, string>();
  if (names.includes(dataName)) extra.set(dataName, escapeText(r.body.toString('utf8')));
  return propResponse(store, path, r, names, extra);
}

function multiget(store: DemoStore, req: Request, body: XmlElement, kind: 'calendar' | 'addressbook'): Reply {
  const [ns, dataLocal] = kind === 'calendar' ? [CALDAV, 'calendar-data'] : [CARDDAV, 'address-data'];
  const names = namesIn(child(body, DAV, 'prop'));
  const responses = children(body, DAV, 'href').map((h) => {
    const path = pathOfHref(h.text);
    const r = path !== undefined ? store.get(path) : undefined;
    // Answered with the href as the client wrote it, so that it finds its own request in the answer.
    if (!r || r.collection !== null) return element(DAV, 'response', element(DAV, 'href', escapeText(h.text.trim())) + element(DAV, 'status', statusLine(404)));
    return withData(store, path!, names, clark(ns, dataLocal));
  });
  return multi(multistatus(responses));
}

/** Component names a calendar-query's filter asks for (VEVENT, VTODO), and its time range if any. */
function queryFilter(body: XmlElement): { component?: string; start?: string; end?: string } {
  const top = child(child(body, CALDAV, 'filter'), CALDAV, 'comp-filter');
  const inner = child(top, CALDAV, 'comp-filter');
  const range = child(inner, CALDAV, 'time-range');
  const attr = (e: XmlElement | undefined, name: string) => e?.attributes.find((a) => a.uri === '' && a.local === name)?.value;
  const component = attr(inner, 'name');
  return { ...(component ? { component } : {}), ...(attr(range, 'start') ? { start: attr(range, 'start')! } : {}), ...(attr(range, 'end') ? { end: attr(range, 'end')! } : {}) };
}

/** An iCalendar property's value (UTC date-times compare as text). */
function icalValue(text: string, name: string): string | undefined {
  return new RegExp(`^${name}(?:;[^:\\r\\n]*)?:(.*)$`, 'm').exec(text)?.[1]?.trim();
}

function calendarQuery(store: DemoStore, req: Request, body: XmlElement): Reply {
  const r = store.get(req.path)!;
  if (r.collection !== 'calendar') throw preconditionFailed(CALDAV, 'calendar-collection-location-ok');
  const { component, start, end } = queryFilter(body);
  const names = namesIn(child(body, DAV, 'prop'));
  const matches = store.members(req.path).filter((p) => {
    const text = store.get(p)!.body.toString('utf8');
    if (component && !text.includes(`BEGIN:${component}`)) return false;
    // A time range is matched on DTSTART/DTEND (events) or DUE (tasks); a task without dates matches any range.
    const from = icalValue(text, 'DTSTART') ?? icalValue(text, 'DUE');
    const to = icalValue(text, 'DTEND') ?? from;
    if (from === undefined || to === undefined) return true;
    return (end === undefined || from < end) && (start === undefined || to > start);
  });
  return multi(multistatus(matches.map((p) => withData(store, p, names, clark(CALDAV, 'calendar-data')))));
}

function syncCollection(store: DemoStore, req: Request, body: XmlElement): Reply {
  const r = store.get(req.path)!;
  if (r.collection === null) throw preconditionFailed(DAV, 'supported-report');
  const level = child(body, DAV, 'sync-level')?.text.trim() ?? '1';
  // Only the collection's direct members (sync-level 1), as calendar and address book clients ask.
  if (level !== '1') throw preconditionFailed(DAV, 'number-of-matches-within-limits');
  const token = child(body, DAV, 'sync-token')?.text.trim() ?? '';
  const since = token === '' ? 0 : store.tokenValue(token);
  if (since === undefined) throw preconditionFailed(DAV, 'valid-sync-token');
  const names = namesIn(child(body, DAV, 'prop'));
  const { changed, removed } = since === 0 ? { changed: store.members(req.path), removed: [] } : store.changesSince(req.path, since);
  const responses = [...changed.map((p) => propResponse(store, p, store.get(p)!, names)), ...removed.map((p) => statusResponse(p, 404))];
  return multi(multistatus(responses, store.syncToken()));
}

function report(store: DemoStore, req: Request): Reply {
  const r = store.get(req.path);
  if (!r) throw new HttpError(404, 'no such resource');
  const body = xmlOf(req);
  if (!body) throw new HttpError(400, 'a REPORT needs a body naming the report');
  if (is(body, DAV, 'sync-collection')) return syncCollection(store, req, body);
  if (is(body, CALDAV, 'calendar-multiget')) return multiget(store, req, body, 'calendar');
  if (is(body, CARDDAV, 'addressbook-multiget')) return multiget(store, req, body, 'addressbook');
  if (is(body, CALDAV, 'calendar-query')) return calendarQuery(store, req, body);
  throw preconditionFailed(DAV, 'supported-report');
}

function conditions(req: Request, r: Resource | undefined): void {
  const ifMatch = header(req, 'if-match');
  const ifNoneMatch = header(req, 'if-none-match');
  if (ifMatch !== undefined && (!r || (ifMatch.trim() !== '*' && !ifMatch.split(',').some((e) => e.trim() === r.etag)))) throw new HttpError(412, 'If-Match failed');
  if (ifNoneMatch !== undefined && r && (ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((e) => e.trim() === r.etag))) throw new HttpError(412, 'If-None-Match failed');
}

function put(store: DemoStore, req: Request): Reply {
  if (req.path.endsWith('/')) throw new HttpError(405, 'PUT names a file, not a collection');
  const parent = store.get(parentOf(req.path));
  if (!parent || parent.collection === null) throw new HttpError(409, 'the parent collection does not exist');
  const old = store.get(req.path);
  if (old?.collection !== null && old !== undefined) throw new HttpError(405, 'a collection cannot be replaced by PUT');
  conditions(req, old);
  const text = req.body.toString('utf8');
  if (parent.collection === 'calendar' && !text.startsWith('BEGIN:VCALENDAR')) throw preconditionFailed(CALDAV, 'valid-calendar-data');
  if (parent.collection === 'addressbook' && !text.startsWith('BEGIN:VCARD')) throw preconditionFailed(CARDDAV, 'valid-address-data');
  const made = store.putFile(req.path, req.body, header(req, 'content-type') ?? 'application/octet-stream');
  return { status: old ? 204 : 201, headers: { ETag: made.etag } };
}

function mkcol(store: DemoStore, req: Request): Reply {
  const path = req.path.endsWith('/') ? req.path : `${req.path}/`;
  if (req.body.length > 0) throw new HttpError(415, 'MKCOL with a body (extended MKCOL) is not supported');
  if (store.get(path) || store.get(path.slice(0, -1))) throw new HttpError(405, 'the resource exists');
  const parent = store.get(parentOf(path));
  if (!parent || parent.collection === null) throw new HttpError(409, 'the parent collection does not exist');
  store.mkcol(path);
  return { status: 201 };
}

function get(store: DemoStore, req: Request, head: boolean): Reply {
  const r = store.get(req.path);
  if (!r) throw new HttpError(404, 'no such resource');
  const listing = r.collection !== null ? Buffer.from(store.members(req.path).map((p) => p.slice(req.path.length)).join('\n') + '\n') : r.body;
  const headers = { 'Content-Type': r.collection !== null ? 'text/plain; charset=utf-8' : r.contentType, ETag: r.etag, 'Last-Modified': new Date(r.modified).toUTCString(), 'Content-Length': String(listing.length) };
  return { status: 200, headers, body: head ? Buffer.alloc(0) : listing };
}

function handle(store: DemoStore, req: Request): Reply {
  switch (req.method) {
    case 'OPTIONS':
      return { status: 200, headers: { DAV: '1, 3, calendar-access, addressbook', Allow: methods.join(', '), 'Content-Length': '0' } };
    case 'GET':
    case 'HEAD':
      return get(store, req, req.method === 'HEAD');
    case 'PUT':
      return put(store, req);
    case 'DELETE': {
      const r = store.get(req.path);
      if (!r) throw new HttpError(404, 'no such resource');
      if (req.path === '/') throw new HttpError(403, 'the root stays');
      conditions(req, r);
      store.delete(req.path);
      return { status: 204 };
    }
    case 'MKCOL':
      return mkcol(store, req);
    case 'PROPFIND':
      return propfind(store, req);
    case 'PROPPATCH':
      return proppatch(store, req);
    case 'REPORT':
      return report(store, req);
    default:
      throw new HttpError(405, `${req.method} is not supported by the demo server`);
  }
}

/** The request's path, decoded; a collection named without its trailing slash is found too. */
function pathOf(store: DemoStore, target: string): string {
  let path: string;
  try {
    path = decodeURIComponent(new URL(target, 'http://demo.invalid').pathname);
  } catch {
    throw new HttpError(400, 'the request target is not a valid path');
  }
  if (path.split('/').some((s) => s === '.' || s === '..')) throw new HttpError(400, 'dot-segments in the path');
  if (!path.endsWith('/') && store.get(`${path}/`)) return `${path}/`;
  return path;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BODY) {
        reject(new HttpError(413, 'the demo server takes request bodies up to 1 MiB'));
        req.resume();
        return;
      }
      parts.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

/** Starts the origin on loopback (a free port unless one is given). */
export async function startDemoOrigin(options: { port?: number; store?: DemoStore } = {}): Promise<DemoOrigin> {
  const store = options.store ?? new DemoStore();
  const server = http.createServer((incoming, res) => {
    void (async () => {
      let reply: Reply;
      try {
        const body = await readBody(incoming);
        reply = handle(store, { method: incoming.method ?? 'GET', path: pathOf(store, incoming.url ?? '/'), headers: incoming.headers, body });
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        reply = err.body !== undefined
          ? { status: err.status, headers: { 'Content-Type': xmlType }, body: err.body }
          : { status: err.status, headers: { 'Content-Type': 'text/plain; charset=utf-8', ...(err.status === 405 ? { Allow: methods.join(', ') } : {}) }, body: `${err.message}\n` };
      }
      const payload = reply.body === undefined ? undefined : Buffer.isBuffer(reply.body) ? reply.body : Buffer.from(reply.body);
      res.writeHead(reply.status, { Server: 'davtap-demo', ...(payload && !reply.headers?.['Content-Length'] ? { 'Content-Length': String(payload.length) } : {}), ...reply.headers });
      res.end(payload);
    })().catch((err: unknown) => {
      // A bug in the demo server is a 500 for that request, never a crash of the demo.
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`demo server error: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  server.keepAliveTimeout = 5_000;
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}


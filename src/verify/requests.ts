// The requests verify sends to both sides: three PROPFIND shapes on every collection, and the
// CalDAV/CardDAV REPORTs where the origin advertises them. Each exercises a different part of a
// Multi-Status body (all live properties, names only, a named set with foreign namespaces and a
// property nobody has, calendar data in CDATA or text).
import type { RawHeaders } from '../types.js';

export const CALDAV = 'urn:ietf:params:xml:ns:caldav';
export const CARDDAV = 'urn:ietf:params:xml:ns:carddav';
/** A namespace no server knows: the named PROPFIND asks for a property in it (a 404 propstat). */
export const PROBE_NS = 'urn:davtap:verify:probe';

export interface Probe {
  /** Short name shown in reports: "PROPFIND allprop". */
  label: string;
  method: string;
  headers: RawHeaders;
  body: Buffer;
}

const XML_DECL = '<?xml version="1.0" encoding="utf-8"?>\n';
const xmlHeaders = (depth: string): RawHeaders => ['Depth', depth, 'Content-Type', 'application/xml; charset=utf-8'];

export function propfindAllprop(): Probe {
  return { label: 'PROPFIND allprop', method: 'PROPFIND', headers: xmlHeaders('1'), body: Buffer.from(`${XML_DECL}<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>\n`) };
}

export function propfindPropname(): Probe {
  return { label: 'PROPFIND propname', method: 'PROPFIND', headers: xmlHeaders('1'), body: Buffer.from(`${XML_DECL}<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>\n`) };
}

export function propfindNamed(): Probe {
  const body =
    `${XML_DECL}<D:propfind xmlns:D="DAV:" xmlns:Z="${PROBE_NS}" xmlns:C="${CALDAV}" xmlns:A="${CARDDAV}"><D:prop>` +
    '<D:resourcetype/><D:displayname/><D:getcontentlength/><D:getcontenttype/><D:getetag/><D:getlastmodified/>' +
    '<D:creationdate/><D:supportedlock/><Z:absent/></D:prop></D:propfind>\n';
  return { label: 'PROPFIND named', method: 'PROPFIND', headers: xmlHeaders('1'), body: Buffer.from(body) };
}

export function propfindProbes(): Probe[] {
  return [propfindAllprop(), propfindPropname(), propfindNamed()];
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function calendarQuery(): Probe {
  const body =
    `${XML_DECL}<C:calendar-query xmlns:D="DAV:" xmlns:C="${CALDAV}"><D:prop><D:getetag/><C:calendar-data/></D:prop>` +
    '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter></C:calendar-query>\n';
  return { label: 'REPORT calendar-query', method: 'REPORT', headers: xmlHeaders('1'), body: Buffer.from(body) };
}

export function calendarMultiget(hrefs: string[]): Probe {
  const body =
    `${XML_DECL}<C:calendar-multiget xmlns:D="DAV:" xmlns:C="${CALDAV}"><D:prop><D:getetag/><C:calendar-data/></D:prop>` +
    hrefs.map((h) => `<D:href>${escapeXml(h)}</D:href>`).join('') +
    '</C:calendar-multiget>\n';
  return { label: 'REPORT calendar-multiget', method: 'REPORT', headers: xmlHeaders('0'), body: Buffer.from(body) };
}

export function addressbookQuery(): Probe {
  const body =
    `${XML_DECL}<A:addressbook-query xmlns:D="DAV:" xmlns:A="${CARDDAV}"><D:prop><D:getetag/><A:address-data/></D:prop>` +
    '<A:filter><A:prop-filter name="FN"/></A:filter></A:addressbook-query>\n';
  return { label: 'REPORT addressbook-query', method: 'REPORT', headers: xmlHeaders('1'), body: Buffer.from(body) };
}

export function addressbookMultiget(hrefs: string[]): Probe {
  const body =
    `${XML_DECL}<A:addressbook-multiget xmlns:D="DAV:" xmlns:A="${CARDDAV}"><D:prop><D:getetag/><A:address-data/></D:prop>` +
    hrefs.map((h) => `<D:href>${escapeXml(h)}</D:href>`).join('') +
    '</A:addressbook-multiget>\n';
  return { label: 'REPORT addressbook-multiget', method: 'REPORT', headers: xmlHeaders('0'), body: Buffer.from(body) };
}

/** What the origin's OPTIONS `DAV:` header advertises. */
export interface DavClasses {
  calendar: boolean;
  addressbook: boolean;
}

export function davClasses(value: string | undefined): DavClasses {
  const tokens = (value ?? '').split(',').map((t) => t.trim().toLowerCase());
  return { calendar: tokens.includes('calendar-access'), addressbook: tokens.includes('addressbook') };
}

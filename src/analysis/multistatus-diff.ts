// Two multistatus bodies compared resource by resource, not as text: servers serialize responses,
// propstats and namespace prefixes in any order, so a text diff of two equal answers is noise.
// `davtap verify` (compare.ts: origin versus gateway) and `davtap replay` (recorded answer versus
// the answer now) share this comparison of one resource with another; each keys resources its own
// way (verify through the gateway's prefix mapping). Pure: models in, differences out.
import type { MsResponse, MultistatusDoc, PropEntry } from './compare.js';
import { normalizeHref } from './href.js';

/**
 * Properties whose values change on their own (a write, a clock, a lock, a sync): a value change
 * of one of these is listed but not counted as a difference unless asked for. Clark notation.
 */
export const volatileProperties: readonly string[] = [
  '{DAV:}getlastmodified',
  '{DAV:}getetag',
  '{DAV:}creationdate',
  '{DAV:}lockdiscovery',
  '{DAV:}sync-token',
  '{http://calendarserver.org/ns/}getctag',
];
const VOLATILE = new Set(volatileProperties);

export type PropertyChangeKind = 'added' | 'removed' | 'status' | 'value';

export interface PropertyChange {
  /** Clark notation. */
  name: string;
  kind: PropertyChangeKind;
  before?: PropEntry;
  after?: PropEntry;
  /** A value change of a volatile property (see volatileProperties). */
  volatile: boolean;
}

export interface ResourceSide {
  href: string;
  /** Whole-resource status (status form), null for a propstat-form response. */
  status: number | null;
}

export interface ResourceDiff {
  /** The resource's comparable key (normalized href). */
  key: string;
  kind: 'added' | 'missing' | 'changed';
  before?: ResourceSide;
  after?: ResourceSide;
  statusChanged: boolean;
  properties: PropertyChange[];
}

/**
 * What changed between two answers for one resource: its status, then each property the first
 * had (removed, status changed, value changed) in its order, then those only the second has.
 * Every value change is listed, volatile ones marked; callers decide what counts.
 */
export function diffProperties(before: MsResponse, after: MsResponse): PropertyChange[] {
  const out: PropertyChange[] = [];
  for (const [name, pe] of before.props) {
    const ae = after.props.get(name);
    if (!ae) out.push({ name, kind: 'removed', before: pe, volatile: false });
    else if (ae.status !== pe.status) out.push({ name, kind: 'status', before: pe, after: ae, volatile: false });
    else if (ae.value !== pe.value) out.push({ name, kind: 'value', before: pe, after: ae, volatile: VOLATILE.has(name) });
  }
  for (const [name, ae] of after.props) if (!before.props.has(name)) out.push({ name, kind: 'added', after: ae, volatile: false });
  return out;
}

/** One resource present in both answers: null when nothing about it changed. */
export function diffResource(key: string, before: MsResponse, after: MsResponse): ResourceDiff | null {
  const statusChanged = before.status !== after.status;
  const properties = diffProperties(before, after);
  if (!statusChanged && properties.length === 0) return null;
  return { key, kind: 'changed', before: side(before), after: side(after), statusChanged, properties };
}

const side = (r: MsResponse): ResourceSide => ({ href: r.href, status: r.status });

export interface DiffOptions {
  /** Count value changes of properties that are not volatile (default: values are not compared). */
  values?: boolean;
  /** Count value changes of volatile properties too (implies values). */
  volatile?: boolean;
  /** The comparable key of an href (default: normalizeHref, the path). */
  keyOf?: (href: string) => string;
}

export interface MultistatusDiff {
  /** Resources that differ, in the order of the first answer, then those only the second has. */
  resources: ResourceDiff[];
  /** Differences that count (resources added or missing, statuses, properties; values as asked). */
  counted: number;
  /** Value changes listed but not counted (volatile properties, or every value without `values`). */
  uncounted: number;
  beforeResponses: number;
  afterResponses: number;
}

/** Whether a property change counts as a difference under these options. */
export function counts(change: PropertyChange, opts: DiffOptions = {}): boolean {
  if (change.kind !== 'value') return true;
  if (change.volatile) return opts.volatile === true;
  return opts.values === true || opts.volatile === true;
}

/**
 * Compares two multistatus answers (complete `<response>`s only) by the key of each href: which
 * resources were added or went missing, and, for those in both, status and property changes.
 * Value changes are listed only when compared (`values`), or when volatile (to say why they do not count).
 */
export function diffMultistatus(before: MultistatusDoc, after: MultistatusDoc, opts: DiffOptions = {}): MultistatusDiff {
  const keyOf = opts.keyOf ?? normalizeHref;
  const index = (doc: MultistatusDoc): Map<string, MsResponse> => {
    const m = new Map<string, MsResponse>();
    for (const r of doc.responses) if (r.complete && !m.has(keyOf(r.href))) m.set(keyOf(r.href), r);
    return m;
  };
  const b = index(before);
  const a = index(after);
  const resources: ResourceDiff[] = [];
  let counted = 0;
  let uncounted = 0;
  for (const [key, br] of b) {
    const ar = a.get(key);
    if (!ar) {
      resources.push({ key, kind: 'missing', before: side(br), statusChanged: false, properties: [] });
      counted++;
      continue;
    }
    const d = diffResource(key, br, ar);
    if (!d) continue;
    // A value change is shown when values are compared, or when it is volatile (listed, not counted).
    d.properties = d.properties.filter((c) => c.kind !== 'value' || c.volatile || opts.values === true || opts.volatile === true);
    if (!d.statusChanged && d.properties.length === 0) continue;
    if (d.statusChanged) counted++;
    for (const c of d.properties) {
      if (counts(c, opts)) counted++;
      else uncounted++;
    }
    resources.push(d);
  }
  for (const [key, ar] of a) {
    if (b.has(key)) continue;
    resources.push({ key, kind: 'added', after: side(ar), statusChanged: false, properties: [] });
    counted++;
  }
  return { resources, counted, uncounted, beforeResponses: b.size, afterResponses: a.size };
}

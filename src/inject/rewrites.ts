// The body rewrites, as pure functions of a latin1 body string (see markup.ts): each returns the new
// body and how many places it changed, so the caller can tell an applied fault from a no-op.
import { splice, tags } from './markup.js';

export interface Rewritten {
  text: string;
  changes: number;
}

const xmlnsAttribute = /(\s+)xmlns(?::([^\s=/>]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/** Removes the namespace declarations of `prefix`, or every declaration of `uri`, from every tag. */
export function stripNamespace(text: string, target: { prefix?: string; uri?: string }): Rewritten {
  const edits: Array<{ start: number; end: number; text: string }> = [];
  for (const tag of tags(text)) {
    if (tag.kind === 'end') continue;
    const inside = text.slice(tag.start, tag.end);
    xmlnsAttribute.lastIndex = 0;
    for (let m = xmlnsAttribute.exec(inside); m; m = xmlnsAttribute.exec(inside)) {
      const prefix = m[2];
      const value = m[3] ?? m[4] ?? '';
      const hit = target.prefix !== undefined ? prefix === target.prefix : value === target.uri;
      if (hit) edits.push({ start: tag.start + m.index, end: tag.start + m.index + m[0].length, text: '' });
    }
  }
  return { text: splice(text, edits), changes: edits.length };
}

/** Removes every element with this local name (any prefix), with all it contains. */
export function dropElements(text: string, localName: string): Rewritten {
  const edits: Array<{ start: number; end: number; text: string }> = [];
  let dropFrom = -1;
  let depth = 0;
  for (const tag of tags(text)) {
    if (dropFrom >= 0) {
      if (tag.kind === 'start') depth++;
      else if (tag.kind === 'end' && --depth === 0) {
        edits.push({ start: dropFrom, end: tag.end, text: '' });
        dropFrom = -1;
      }
      continue;
    }
    if (tag.local !== localName) continue;
    if (tag.kind === 'empty') edits.push({ start: tag.start, end: tag.end, text: '' });
    else if (tag.kind === 'start') {
      dropFrom = tag.start;
      depth = 1;
    }
  }
  // An element still open at the end of a (cut) body is dropped up to the end.
  if (dropFrom >= 0) edits.push({ start: dropFrom, end: text.length, text: '' });
  return { text: splice(text, edits), changes: edits.length };
}

const absoluteUri = /^(https?:\/\/[^/?#]*)(.*)$/is;

/**
 * Moves every href to another origin and/or under a path prefix: the href's path becomes
 * `prefix + path`, and its origin becomes `origin` when one is given (an absolute-path href thus
 * becomes absolute). Surrounding whitespace is kept; hrefs with another scheme (mailto:) stay.
 */
export function rewriteHrefs(text: string, target: { origin?: string; prefix: string }): Rewritten {
  const edits: Array<{ start: number; end: number; text: string }> = [];
  let open: { end: number } | null = null;
  for (const tag of tags(text)) {
    if (tag.local !== 'href') {
      // An href holds text only: any other tag inside means broken markup; leave it alone.
      if (tag.kind !== 'end') open = null;
      continue;
    }
    if (tag.kind === 'start') {
      open = { end: tag.end };
      continue;
    }
    if (tag.kind !== 'end' || !open) continue;
    const content = text.slice(open.end, tag.start);
    open = null;
    const value = content.trim();
    if (value === '') continue;
    const lead = content.slice(0, content.indexOf(value));
    const trail = content.slice(lead.length + value.length);
    // Only paths and http(s) URLs are locations a gateway maps (an owner's mailto: is not).
    if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value) && !/^https?:\/\//i.test(value)) continue;
    const abs = absoluteUri.exec(value);
    const origin = target.origin ?? (abs ? abs[1]! : '');
    const path = abs ? abs[2]! : value;
    const rewritten = origin + target.prefix + (path.startsWith('/') || path === '' ? path : `/${path}`);
    if (rewritten === value) continue;
    edits.push({ start: tag.start - content.length, end: tag.start, text: lead + rewritten + trail });
  }
  return { text: splice(text, edits), changes: edits.length };
}

/** Offset just past the `n`th `</response>` (any prefix), or null when the body has fewer. */
export function afterNthResponse(text: string, n: number): number | null {
  let seen = 0;
  for (const tag of tags(text)) {
    if (tag.kind === 'end' && tag.local === 'response' && ++seen === n) return tag.end;
  }
  return null;
}

/** The error page a misconfigured gateway or WAF serves in place of the body. */
export function htmlPage(status: number, reason: string): string {
  const title = `${status} ${reason || 'Error'}`.replace(/[<&]/g, '');
  return (
    '<!DOCTYPE html>\n<html>\n<head><title>' + title + '</title></head>\n' +
    '<body>\n<h1>' + title + '</h1>\n<p>The request could not be satisfied.</p>\n<hr><address>gateway</address>\n</body>\n</html>\n'
  );
}

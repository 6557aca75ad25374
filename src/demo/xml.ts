// XML for the demo origin: request bodies read into a small namespace-resolved tree (saxes, no
// DOCTYPE, no entities beyond XML's five), and Multi-Status bodies written with one fixed prefix
// per well-known namespace. Names are compared by namespace URI, never by prefix.
import { SaxesParser } from 'saxes';

export const DAV = 'DAV:';
export const CALDAV = 'urn:ietf:params:xml:ns:caldav';
export const CARDDAV = 'urn:ietf:params:xml:ns:carddav';
export const CALSERVER = 'http://calendarserver.org/ns/';

/** The prefixes the origin writes; any other namespace gets a declaration on the element itself. */
const prefixes: ReadonlyMap<string, string> = new Map([
  [DAV, 'D'],
  [CALDAV, 'C'],
  [CARDDAV, 'CR'],
  [CALSERVER, 'CS'],
]);

export const rootDeclarations = [...prefixes].map(([uri, prefix]) => `xmlns:${prefix}="${uri}"`).join(' ');

export interface XmlAttribute {
  uri: string;
  local: string;
  value: string;
}

export interface XmlElement {
  uri: string;
  local: string;
  attributes: XmlAttribute[];
  children: XmlElement[];
  text: string;
}

export class XmlBodyError extends Error {}

/** Requests are small documents: anything deeper or longer is refused, not parsed. */
const MAX_DEPTH = 64;
const MAX_ELEMENTS = 20_000;

/** Parses a request body; throws XmlBodyError for anything that is not a well-formed, namespace-correct document. */
export function parseXml(text: string): XmlElement {
  const parser = new SaxesParser({ xmlns: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let count = 0;
  let failure: string | undefined;
  parser.on('error', (e) => {
    failure ??= e.message;
  });
  parser.on('doctype', () => {
    failure ??= 'a DOCTYPE is not accepted';
  });
  parser.on('opentag', (tag) => {
    if (stack.length >= MAX_DEPTH || ++count > MAX_ELEMENTS) {
      failure ??= 'the document is too large';
      return;
    }
    const attributes: XmlAttribute[] = Object.values(tag.attributes)
      .filter((a) => a.prefix !== 'xmlns' && a.name !== 'xmlns')
      .map((a) => ({ uri: a.uri, local: a.local, value: a.value }));
    const element: XmlElement = { uri: tag.uri, local: tag.local, attributes, children: [], text: '' };
    stack.at(-1)?.children.push(element);
    root ??= element;
    stack.push(element);
  });
  parser.on('text', (t) => {
    const top = stack.at(-1);
    if (top) top.text += t;
  });
  parser.on('cdata', (t) => {
    const top = stack.at(-1);
    if (top) top.text += t;
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  try {
    parser.write(text).close();
  } catch (err) {
    failure ??= err instanceof Error ? err.message : String(err);
  }
  if (failure !== undefined) throw new XmlBodyError(failure);
  if (!root) throw new XmlBodyError('no root element');
  return root;
}

export function is(element: XmlElement | undefined, uri: string, local: string): boolean {
  return element !== undefined && element.uri === uri && element.local === local;
}

export function child(element: XmlElement | undefined, uri: string, local: string): XmlElement | undefined {
  return element?.children.find((c) => is(c, uri, local));
}

export function children(element: XmlElement | undefined, uri: string, local: string): XmlElement[] {
  return element?.children.filter((c) => is(c, uri, local)) ?? [];
}

/** Clark notation, {uri}local: how properties are keyed. */
export const clark = (uri: string, local: string): string => `{${uri}}${local}`;

export function fromClark(name: string): { uri: string; local: string } {
  const close = name.indexOf('}');
  return { uri: name.slice(1, close), local: name.slice(close + 1) };
}

export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttribute(text: string): string {
  return escapeText(text).replace(/"/g, '&quot;');
}

/**
 * An element with its content (already serialised), namespace-correct: a well-known namespace by
 * its root prefix, any other by a declaration of its own (`<x:color xmlns:x="urn:example">`).
 */
export function element(uri: string, local: string, content = '', depth = 0): string {
  const prefix = prefixes.get(uri);
  if (prefix) return content === '' ? `<${prefix}:${local}/>` : `<${prefix}:${local}>${content}</${prefix}:${local}>`;
  if (uri === '') return content === '' ? `<${local}/>` : `<${local}>${content}</${local}>`;
  const own = `x${depth}`;
  const open = `${own}:${local} xmlns:${own}="${escapeAttribute(uri)}"`;
  return content === '' ? `<${open}/>` : `<${open}>${content}</${own}:${local}>`;
}

/** A parsed element written back, namespace-correct (a dead property's value as PROPPATCH set it). */
export function serialize(node: XmlElement, depth = 0): string {
  const inner = escapeText(node.text) + node.children.map((c) => serialize(c, depth + 1)).join('');
  const own = `x${depth}`;
  const prefix = prefixes.get(node.uri);
  const name = prefix ? `${prefix}:${node.local}` : node.uri === '' ? node.local : `${own}:${node.local}`;
  const declaration = prefix || node.uri === '' ? '' : ` xmlns:${own}="${escapeAttribute(node.uri)}"`;
  // Namespaced attributes other than xml:lang are rare in property values; they keep their name only when unqualified.
  const attributes = node.attributes
    .filter((a) => a.uri === '' || a.uri === 'http://www.w3.org/XML/1998/namespace')
    .map((a) => ` ${a.uri === '' ? a.local : `xml:${a.local}`}="${escapeAttribute(a.value)}"`)
    .join('');
  return inner === '' ? `<${name}${declaration}${attributes}/>` : `<${name}${declaration}${attributes}>${inner}</${name}>`;
}

export const xmlDeclaration = '<?xml version="1.0" encoding="utf-8"?>\n';

/** A whole Multi-Status document from its `<D:response>` elements (and an optional sync-token). */
export function multistatus(responses: string[], syncToken?: string): string {
  const token = syncToken !== undefined ? `\n${element(DAV, 'sync-token', escapeText(syncToken))}` : '';
  return `${xmlDeclaration}<D:multistatus ${rootDeclarations}>\n${responses.join('\n')}${token}\n</D:multistatus>\n`;
}

/** A `DAV:error` body naming one precondition. */
export function errorBody(uri: string, local: string): string {
  return `${xmlDeclaration}<D:error ${rootDeclarations}>${element(uri, local)}</D:error>\n`;
}

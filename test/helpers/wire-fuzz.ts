// A seeded wire fuzzer for davtap's relays. It generates HTTP/1.x requests, valid-ish and then
// mutated (framing combinations, chunk-size garbage, obs-fold, bare CR/LF, bit flips, insertions,
// deletions, truncation, pipelining), and the responses of a scripted raw origin, mutated the same
// way. Each case goes through davtap in one mode (reverse; forward with absolute-form targets;
// forward through a plain-text CONNECT tunnel), its bytes split across separate reads, and is then
// checked against what the origin itself read:
// - davtap's process goes on (uncaught exceptions are caught and counted; a sentinel request is
//   relayed through every proxy after each batch);
// - every flow is recorded once: unique ids, a method, never more flows than request heads sent,
//   every answer davtap made itself backed by a flow without an upstream response;
// - every request the origin read was recorded by davtap with the same method, path and body
//   (the body exactly when the origin read all of it, else as a prefix): no desync, no smuggling;
// - no flow records an internal fault (EDAVTAP).
//
// Separate reads: a piece is written (the sockets have Nagle off), then two setImmediate turns pass
// before the next one. The receiver (in this same process) is readable as soon as write() returns
// on loopback, and the event loop's poll phase, which reads it, runs between the two check phases:
// so each piece is its own 'data' event unless the receiver is paused for backpressure. fuzz.test.ts
// checks this against a plain socket server.
//
// Forward mode reaches whatever host a request names: the origin's authority in every generated
// target ("http://127.0.0.1:PORT/") is never mutated, and the upstream connections the relay opens
// are checked to go to a port of this harness (others are counted as failures and sent to a sink
// that closes them).
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import type { RunningProxy } from '../../src/proxy/index.js';
import type { Flow } from '../../src/types.js';
import type { TestProxyOptions } from './proxy.js';
import { mulberry32 } from './random.js';

export type FuzzMode = 'reverse' | 'forward' | 'connect';
export const FUZZ_MODES: readonly FuzzMode[] = ['reverse', 'forward', 'connect'];

// ---------------------------------------------------------------------------------------------
// Randomness

export class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** The generator of case `index` of a run seeded with `seed`: cases are independent of each other. */
export function caseRng(seed: number, index: number): Rng {
  return new Rng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
}

// ---------------------------------------------------------------------------------------------
// Messages under construction: parts marked fixed are never mutated.

interface Part {
  bytes: Buffer;
  fixed: boolean;
}

const b = (s: string) => Buffer.from(s, 'latin1');
const free = (s: string | Buffer): Part => ({ bytes: typeof s === 'string' ? b(s) : s, fixed: false });
const fixed = (s: string): Part => ({ bytes: b(s), fixed: true });

/** Bytes that make framing interesting, for insertions and replacements. */
const INTERESTING = b('\r\n \t:;,0159afAF-+=\0\x7f\xff"x');

/** The k-th mutable position: part index and offset (k in [0, mutable length]). */
function locate(parts: Part[], k: number, forInsert: boolean): { pi: number; off: number } | null {
  let left = k;
  for (let pi = 0; pi < parts.length; pi++) {
    const p = parts[pi]!;
    if (p.fixed) continue;
    const span = p.bytes.length + (forInsert ? 1 : 0);
    if (left < span) return { pi, off: left };
    left -= span;
  }
  return null;
}

function mutableLength(parts: Part[], forInsert: boolean): number {
  let n = 0;
  for (const p of parts) if (!p.fixed) n += p.bytes.length + (forInsert ? 1 : 0);
  return n;
}

function splice(parts: Part[], pi: number, off: number, remove: number, insert: Buffer): void {
  const p = parts[pi]!;
  parts[pi] = { bytes: Buffer.concat([p.bytes.subarray(0, off), insert, p.bytes.subarray(off + remove)]), fixed: false };
}

/** One byte-level mutation of the mutable parts; returns its name. */
function mutateOnce(r: Rng, parts: Part[]): string {
  const kind = r.int(8);
  if (kind === 0 || kind === 1) {
    // Insertion: framing bytes mostly, sometimes noise.
    const n = mutableLength(parts, true);
    const at = locate(parts, r.int(n), true);
    if (!at) return 'none';
    const len = r.range(1, 4);
    const ins = r.chance(0.7) ? Buffer.from(Array.from({ length: len }, () => r.pick([...INTERESTING]))) : r.bytes(len);
    splice(parts, at.pi, at.off, 0, ins);
    return 'insert';
  }
  const n = mutableLength(parts, false);
  if (n === 0) return 'none';
  const at = locate(parts, r.int(n), false)!;
  const p = parts[at.pi]!;
  switch (kind) {
    case 2: {
      const bytes = Buffer.from(p.bytes);
      bytes[at.off] = bytes[at.off]! ^ (1 << r.int(8));
      parts[at.pi] = { bytes, fixed: false };
      return 'bitflip';
    }
    case 3: {
      const bytes = Buffer.from(p.bytes);
      bytes[at.off] = r.pick([...INTERESTING]);
      parts[at.pi] = { bytes, fixed: false };
      return 'replace';
    }
    case 4:
      splice(parts, at.pi, at.off, Math.min(r.range(1, 4), p.bytes.length - at.off), Buffer.alloc(0));
      return 'delete';
    case 5: {
      const len = Math.min(r.range(1, 16), p.bytes.length - at.off);
      splice(parts, at.pi, at.off, 0, Buffer.from(p.bytes.subarray(at.off, at.off + len)));
      return 'duplicate';
    }
    case 6: {
      // A CRLF becomes a bare LF or a bare CR.
      const text = p.bytes.toString('latin1');
      const i = text.indexOf('\r\n', at.off);
      if (i < 0) return 'none';
      splice(parts, at.pi, i, 2, b(r.chance(0.5) ? '\n' : '\r'));
      return 'bare-eol';
    }
    default: {
      // Truncation: what follows the position (fixed parts included) is dropped.
      splice(parts, at.pi, at.off, p.bytes.length - at.off, Buffer.alloc(0));
      parts.length = at.pi + 1;
      return 'truncate';
    }
  }
}

function join(parts: Part[]): Buffer {
  return Buffer.concat(parts.map((p) => p.bytes));
}

// ---------------------------------------------------------------------------------------------
// Requests

const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'REPORT', 'SEARCH', 'MKCALENDAR', 'ACL', 'VERSION-CONTROL', 'ORDERPATCH', 'BIND'];
const PATHS = ['', 'dav/', 'dav/a.txt', 'dav/dir/sub/', 'cal/home/event.ics', 'x?y=1&z=%20', '%7Euser/file', 'dav/a%2Fb', 'a/../b', 'dav/caf\xe9', 'q?#frag'];
const CL_GARBAGE = ['-1', '+5', '0x10', '5 5', '', ' ', '99999999999999999999', '18446744073709551616', '9007199254740993', '1e3', '5.0', '\xd9\xa1', '5,6', '5, 5', '05', '0'];
const TE_VALUES = ['chunked', 'Chunked', 'CHUNKED', 'gzip, chunked', 'chunked, gzip', 'chunked, chunked', 'identity', 'xchunked', 'chunked;q=1', ' chunked', 'chunked ', 'gzip', 'deflate, chunked', ',chunked', 'chunked,', 'identity, chunked'];
const TE_NAMES = ['Transfer-Encoding', 'transfer-encoding', 'TRANSFER-ENCODING', 'Transfer-Encoding ', 'Transfer_Encoding', ' Transfer-Encoding'];
const SIZE_GARBAGE = ['zz', '-5', '0x5', '10000000000000000', 'ffffffffffffffff', ' 5', '5 ', '5\t', '5;', '5;a', '5;a=b', '5;a="x;y"', '5 ;a', '0005', '', '+5', 'FFFFFFFFFFFFF', '7fffffff', '5\r\n', '5\n'];
const TRAILERS = ['X-Sum: 1\r\n', 'X-A: b\r\n c\r\n', 'Nocolon\r\n', 'Content-Length: 5\r\n', 'X-B : c\r\n', '\r\n'];
const WEIRD_HEADERS = ['X-A : b', ': empty-name', 'X A: b', 'X-A:b', 'X-A:  b  ', 'X-A: a\x01b', 'X-A: a\x7fb', 'X-A: caf\xe9', 'X-A: a\r\n b', 'X-A: a\r\n\tb', 'X-\x80: a', 'Expect: 100-continue', 'Expect: nonsense', 'Connection: close', 'Connection: keep-alive', 'Connection: content-length', 'Connection: transfer-encoding', 'Connection: X-Foo\r\nX-Foo: 1', 'Upgrade: websocket\r\nConnection: upgrade', 'Host:', 'Host: a\r\nHost: b', 'Proxy-Connection: keep-alive', 'Keep-Alive: timeout=1', 'TE: trailers', 'Content-Encoding: gzip', 'Depth: infinity'];
const LINE_WEIRD = ['double-space', 'trailing-space', 'http09', 'http12', 'http20', 'http110', 'lowercase-proto', 'lowercase-method', 'tab', 'space-in-target', 'nul-in-target', 'star', 'empty-target', 'absolute-other', 'long-method', 'colon-method'];

function body(r: Rng, mode: FuzzMode, authorityPart: () => Part[]): Part[] {
  switch (r.int(6)) {
    case 0:
      return [free('<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>\n')];
    case 1:
      return [free(r.bytes(r.range(1, 64)))];
    case 2:
      // A request hidden in a body: read as one only by a party that got the framing wrong.
      return mode === 'forward'
        ? [free('0\r\n\r\nGET '), ...authorityPart(), free('smuggled HTTP/1.1\r\nHost: x\r\n\r\n')]
        : [free('0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n')];
    case 3:
      return [free('x'.repeat(r.range(1, 3000)))];
    case 4:
      return [free('')];
    default:
      return [free('hello world')];
  }
}

interface RequestContext {
  mode: FuzzMode;
  /** host:port of the origin (forward and connect modes). */
  authority: string;
  /** host:port of the forward proxy itself (a request to it is refused as a loop). */
  self: string;
}

/** One request as parts, with its notes. */
function request(r: Rng, ctx: RequestContext, notes: string[]): Part[] {
  const authorityPart = (): Part[] => [fixed(`http://${ctx.authority}/`)];
  const parts: Part[] = [];
  const weird = r.chance(0.45);
  const pick = (list: readonly string[]) => {
    const v = r.pick(list);
    notes.push(v);
    return v;
  };
  let method = r.pick(METHODS);
  const path = r.pick(PATHS);
  let version = r.chance(0.1) ? 'HTTP/1.0' : 'HTTP/1.1';
  let lineWeird = weird && r.chance(0.25) ? pick(LINE_WEIRD) : '';
  if (ctx.mode === 'forward' && (lineWeird === 'star' || lineWeird === 'absolute-other' || lineWeird === 'empty-target')) lineWeird = '';
  if (lineWeird === 'lowercase-method') method = method.toLowerCase();
  if (lineWeird === 'long-method') method = 'M'.repeat(r.range(20, 300));
  if (lineWeird === 'colon-method') method = 'GE:T';
  if (lineWeird === 'http12') version = 'HTTP/1.2';
  if (lineWeird === 'http20') version = 'HTTP/2.0';
  if (lineWeird === 'http110') version = 'HTTP/1.10';
  if (lineWeird === 'lowercase-proto') version = 'http/1.1';
  if (r.chance(0.03)) parts.push(free(r.pick(['\r\n', '\r\n\r\n', '\n'])));
  const sep = lineWeird === 'tab' ? '\t' : lineWeird === 'double-space' ? '  ' : ' ';
  parts.push(free(method + sep));
  if (ctx.mode === 'forward') {
    const roll = r.next();
    if (roll < 0.01) {
      notes.push('to-self');
      parts.push(fixed(`http://${ctx.self}/`));
    } else if (roll < 0.02) {
      notes.push('https-target');
      parts.push(fixed(`https://${ctx.authority}/`));
    } else parts.push(...authorityPart());
  } else parts.push(free('/'));
  let target = path;
  if (lineWeird === 'space-in-target') target += ' x';
  if (lineWeird === 'nul-in-target') target += '\0';
  if (lineWeird === 'star') {
    parts.pop();
    target = '*';
  }
  if (lineWeird === 'empty-target') {
    parts.pop();
    target = '';
  }
  if (lineWeird === 'absolute-other') {
    parts.pop();
    target = 'http://example.invalid/' + path;
  }
  parts.push(free(target));
  if (lineWeird !== 'http09') parts.push(free(sep + version + (lineWeird === 'trailing-space' ? ' ' : '')));
  const head: string[] = [];
  if (!r.chance(0.05)) head.push(`Host: ${ctx.mode === 'reverse' ? 'dav.example' : ctx.authority}`);
  if (r.chance(0.3)) head.push('User-Agent: davtap-fuzz/1');
  if (method === 'PROPFIND' || r.chance(0.1)) head.push(`Depth: ${r.pick(['0', '1', 'infinity'])}`);
  if (r.chance(0.1)) head.push(`Destination: http://dav.example/${r.pick(PATHS)}`);

  // The body and its framing.
  const framing = r.pick(['none', 'none', 'cl', 'cl', 'chunked', 'chunked', 'cl0']);
  let content: Part[] = [];
  let tail: Part[] = [];
  if (framing === 'cl' || framing === 'cl0') {
    content = framing === 'cl0' ? [] : body(r, ctx.mode === 'connect' ? 'reverse' : ctx.mode, authorityPart);
    const len = content.reduce((n, p) => n + p.bytes.length, 0);
    let value = String(len);
    if (weird && r.chance(0.3)) {
      const what = r.int(4);
      if (what === 0) value = pick(CL_GARBAGE);
      else if (what === 1) value = String(Math.max(0, len - r.range(1, 8)));
      else if (what === 2) value = String(len + r.range(1, 8));
      else {
        notes.push('cl-dup');
        head.push(`Content-Length: ${r.chance(0.5) ? value : len + 1}`);
      }
    }
    head.push(`Content-Length: ${value}`);
    if (weird && r.chance(0.15)) {
      notes.push('cl+te');
      head.push(`Transfer-Encoding: ${r.pick(TE_VALUES)}`);
    }
  } else if (framing === 'chunked') {
    const teName = weird && r.chance(0.15) ? pick(TE_NAMES) : 'Transfer-Encoding';
    const teValue = weird && r.chance(0.25) ? pick(TE_VALUES) : 'chunked';
    head.push(`${teName}: ${teValue}`);
    if (weird && r.chance(0.1)) head.push(`Transfer-Encoding: ${pick(TE_VALUES)}`);
    if (weird && r.chance(0.15)) {
      notes.push('te+cl');
      head.push(`Content-Length: ${r.range(0, 40)}`);
    }
    const payload = join(body(r, 'reverse', authorityPart));
    const chunks = r.range(0, 4);
    let at = 0;
    const garbageAt = weird && r.chance(0.35) ? r.int(chunks + 1) : -1;
    for (let i = 0; i <= chunks; i++) {
      const last = i === chunks;
      const size = last ? 0 : Math.min(payload.length - at, r.range(1, Math.max(1, Math.ceil(payload.length / Math.max(1, chunks)))));
      if (!last && size <= 0) continue;
      let sizeText = size.toString(16);
      if (r.chance(0.1)) sizeText = sizeText.toUpperCase();
      if (r.chance(0.05)) sizeText = '00' + sizeText;
      if (r.chance(0.1)) sizeText += r.pick([';ext', ';a=b', ';a="q;r"', ' ;x']);
      if (i === garbageAt) sizeText = pick(SIZE_GARBAGE);
      content.push(free(`${sizeText}\r\n`));
      if (!last) {
        content.push(free(payload.subarray(at, at + size)));
        at += size;
        content.push(free(weird && r.chance(0.05) ? pick(['', '\n', 'XX\r\n']) : '\r\n'));
      }
    }
    if (weird && r.chance(0.2)) tail = [free(pick(TRAILERS))];
    tail.push(free('\r\n'));
  }
  if (weird && r.chance(0.5)) {
    for (let i = r.range(1, 2); i > 0; i--) head.splice(r.int(head.length + 1), 0, pick(WEIRD_HEADERS));
  }
  if (weird && r.chance(0.02)) {
    notes.push('huge-header');
    head.push(`X-Big: ${'b'.repeat(r.range(8_000, 20_000))}`);
  }
  if (weird && r.chance(0.02)) {
    notes.push('many-headers');
    for (let i = 0; i < 120; i++) head.push(`X-H${i}: ${i}`);
  }
  parts.push(free('\r\n' + head.map((h) => h + '\r\n').join('') + '\r\n'));
  if (weird && r.chance(0.05)) {
    notes.push('lf-head');
    const last = parts[parts.length - 1]!;
    parts[parts.length - 1] = free(last.bytes.toString('latin1').replace(/\r\n/g, '\n'));
  }
  return [...parts, ...content, ...tail];
}

// ---------------------------------------------------------------------------------------------
// Responses

export interface ResponseScript {
  /** Answer once the request head is read, or once the request is complete. */
  when: 'head' | 'body';
  /** Written one by one, each as its own read. */
  pieces: Buffer[];
  /** What the origin does with the connection afterwards ('silent': it never answers). */
  after: 'keep' | 'close' | 'reset' | 'silent';
}

const STATUS = [200, 200, 201, 204, 207, 207, 301, 304, 400, 404, 412, 423, 500, 503];
const REASONS: Record<number, string> = { 200: 'OK', 201: 'Created', 204: 'No Content', 207: 'Multi-Status', 301: 'Moved Permanently', 304: 'Not Modified', 400: 'Bad Request', 404: 'Not Found', 412: 'Precondition Failed', 423: 'Locked', 500: 'Internal Server Error', 503: 'Service Unavailable' };
const STATUS_LINE_WEIRD = ['HTTP/1.1 200', 'HTTP/1.1 2000 OK', 'HTTP/1.2 200 OK', 'HTTP/1.0 200 OK', 'ICY 200 OK', 'HTTP/1.1 099 X', 'HTTP/1.1  200 OK', 'HTTP/1.1 200 OK ', 'http/1.1 200 OK', 'HTTP/1.1 -20 OK', 'HTTP/1.1 600 Odd'];
const INFORMATIONAL = ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 102 Processing\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n', 'HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n'];

function multistatus(n: number): string {
  let out = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n';
  for (let i = 0; i < n; i++) out += `<D:response><D:href>/dav/f${i}.txt</D:href><D:propstat><D:prop><D:getcontentlength>${i}</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`;
  return out + '</D:multistatus>\n';
}

function responseScript(r: Rng, notes: string[]): ResponseScript {
  const weird = r.chance(0.4);
  const pick = (list: readonly string[]) => {
    const v = r.pick(list);
    notes.push(`res:${v.replace(/\r\n/g, '⏎')}`);
    return v;
  };
  const status = r.pick(STATUS);
  let payload: Buffer;
  const headers: string[] = [];
  switch (r.int(5)) {
    case 0:
      payload = b(multistatus(r.range(0, 30)));
      headers.push('Content-Type: application/xml; charset=utf-8');
      break;
    case 1: {
      const xml = zlib.gzipSync(multistatus(r.range(1, 20)));
      payload = r.chance(0.3) ? xml.subarray(0, r.int(xml.length)) : xml;
      headers.push('Content-Type: application/xml', `Content-Encoding: ${r.pick(['gzip', 'gzip', 'deflate', 'br'])}`);
      break;
    }
    case 2:
      payload = r.bytes(r.range(0, 200));
      break;
    case 3:
      payload = b('x'.repeat(r.range(0, 70_000)));
      break;
    default:
      payload = b('ok');
  }
  let framing = r.pick(['cl', 'cl', 'cl', 'chunked', 'chunked', 'close']);
  if (status === 204 || status === 304) framing = r.chance(0.7) ? 'none' : framing;
  let after: ResponseScript['after'] = framing === 'close' ? 'close' : r.chance(0.1) ? 'close' : 'keep';
  let bodyBytes: Buffer;
  if (framing === 'cl') {
    let value = String(payload.length);
    if (weird && r.chance(0.3)) value = r.chance(0.5) ? pick(CL_GARBAGE) : String(payload.length + r.range(-8, 8));
    headers.push(`Content-Length: ${value}`);
    if (weird && r.chance(0.1)) headers.push(`Content-Length: ${r.chance(0.5) ? value : payload.length + 1}`);
    if (weird && r.chance(0.1)) headers.push(`Transfer-Encoding: ${pick(TE_VALUES)}`);
    bodyBytes = payload;
  } else if (framing === 'chunked') {
    headers.push(`Transfer-Encoding: ${weird && r.chance(0.2) ? pick(TE_VALUES) : 'chunked'}`);
    if (weird && r.chance(0.1)) headers.push(`Content-Length: ${payload.length}`);
    const out: Buffer[] = [];
    let at = 0;
    const garbage = weird && r.chance(0.3);
    while (at < payload.length) {
      const n = Math.min(payload.length - at, r.range(1, 20_000));
      out.push(b(`${garbage && r.chance(0.3) ? pick(SIZE_GARBAGE) : n.toString(16)}${r.chance(0.05) ? ';x=y' : ''}\r\n`), payload.subarray(at, at + n), b('\r\n'));
      at += n;
    }
    out.push(b(`0\r\n${weird && r.chance(0.2) ? pick(TRAILERS) : ''}\r\n`));
    bodyBytes = Buffer.concat(out);
  } else if (framing === 'close') {
    bodyBytes = payload;
    if (weird && r.chance(0.2)) headers.push(`Transfer-Encoding: ${pick(['gzip', 'identity'])}`);
  } else {
    bodyBytes = weird && r.chance(0.3) ? b('stray') : Buffer.alloc(0);
  }
  if (r.chance(0.1)) headers.push(`Connection: ${r.pick(['close', 'keep-alive'])}`);
  if (r.chance(0.1)) headers.push(`Location: http://127.0.0.1/dav/moved`);
  if (weird && r.chance(0.3)) headers.splice(r.int(headers.length + 1), 0, pick(WEIRD_HEADERS));
  if (weird && r.chance(0.02)) headers.push(`X-Big: ${'b'.repeat(17_000)}`);
  let statusLine = `HTTP/1.1 ${status} ${REASONS[status] ?? 'OK'}`;
  if (weird && r.chance(0.15)) statusLine = pick(STATUS_LINE_WEIRD);
  const parts: Part[] = [];
  if (r.chance(0.1)) for (let i = r.range(1, 2); i > 0; i--) parts.push(free(pick(INFORMATIONAL)));
  parts.push(free(`${statusLine}\r\n${headers.map((h) => h + '\r\n').join('')}\r\n`), free(bodyBytes));
  if (weird && r.chance(0.1)) {
    notes.push('res:overrun');
    parts.push(free('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nextra'));
  }
  if (weird && r.chance(0.5)) for (let i = r.range(1, 2); i > 0; i--) notes.push(`res:${mutateOnce(r, parts)}`);
  if (weird && r.chance(0.1)) {
    // Cut short: the connection closes or resets in the middle.
    const all = join(parts);
    const cut = r.int(all.length + 1);
    notes.push('res:cut');
    after = r.chance(0.5) ? 'close' : 'reset';
    return { when: r.chance(0.2) ? 'head' : 'body', pieces: [all.subarray(0, cut)], after };
  }
  if (r.chance(0.03)) after = 'reset';
  if (r.chance(0.02)) after = 'silent';
  return { when: r.chance(0.2) ? 'head' : 'body', pieces: pieces(r, join(parts)), after };
}

/** Splits bytes into the pieces written as separate reads. */
function pieces(r: Rng, bytes: Buffer): Buffer[] {
  const roll = r.next();
  if (bytes.length < 2 || roll < 0.55) return [bytes];
  if (roll < 0.85) {
    const at = r.range(1, bytes.length - 1);
    return [bytes.subarray(0, at), bytes.subarray(at)];
  }
  if (roll < 0.95 || bytes.length > 300) {
    const cuts = Array.from({ length: r.range(2, 4) }, () => r.range(1, bytes.length - 1)).sort((x, y) => x - y);
    const out: Buffer[] = [];
    let at = 0;
    for (const c of cuts) {
      if (c > at) out.push(bytes.subarray(at, c));
      at = Math.max(at, c);
    }
    out.push(bytes.subarray(at));
    return out;
  }
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

// ---------------------------------------------------------------------------------------------
// Cases

export interface FuzzCase {
  index: number;
  mode: FuzzMode;
  /** The client's bytes, one write each. */
  pieces: Buffer[];
  /** After the last write: wait for the answers, shut the sending side, or reset the connection. */
  clientAfter: 'wait' | 'end' | 'destroy';
  /** The origin's answer to the case's n-th request it reads (beyond the list: a plain 200). */
  responses: ResponseScript[];
  /** What the generator did, for failure reports. */
  notes: string[];
  /** Made by generateCase(), so that `npm run fuzz` can replay it from its seed and index. */
  generated: boolean;
}

export interface CaseTargets {
  /** host:port of the origin. */
  authority: string;
  /** host:port of the forward proxy. */
  self: string;
}

/** Case `index` of the run seeded `seed`; `mode` forces the mode (else drawn). */
export function generateCase(seed: number, index: number, targets: CaseTargets, mode?: FuzzMode): FuzzCase {
  const r = caseRng(seed, index);
  // Drawn even when forced, so that a case is the same but for its mode.
  const drawn = r.pick(FUZZ_MODES);
  const m = mode ?? drawn;
  const notes: string[] = [];
  const ctx: RequestContext = { mode: m === 'connect' ? 'reverse' : m, authority: targets.authority, self: targets.self };
  const count = r.chance(0.6) ? 1 : r.chance(0.6) ? 2 : r.range(3, 4);
  const parts: Part[] = [];
  if (m === 'connect') {
    // The tunnel's own head is never mutated: it names the origin.
    parts.push(fixed(`CONNECT ${targets.authority} HTTP/1.1\r\nHost: ${targets.authority}\r\n\r\n`));
  }
  for (let i = 0; i < count; i++) parts.push(...request(r, { ...ctx, mode: m === 'forward' ? 'forward' : 'reverse' }, notes));
  if (r.chance(0.4)) for (let i = r.range(1, 3); i > 0; i--) notes.push(mutateOnce(r, parts));
  const bytes = join(parts);
  const responses = Array.from({ length: count + 1 }, () => responseScript(r, notes));
  const roll = r.next();
  const clientAfter = roll < 0.86 ? 'wait' : roll < 0.95 ? 'end' : 'destroy';
  return { index, mode: m, pieces: pieces(r, bytes), clientAfter, responses, notes, generated: true };
}

/** The same request split at `at` (two reads): for sweeping every split point of a first read. */
export function splitCase(index: number, mode: FuzzMode, bytes: Buffer, at: number): FuzzCase {
  return {
    index,
    mode,
    pieces: at > 0 && at < bytes.length ? [bytes.subarray(0, at), bytes.subarray(at)] : [bytes],
    clientAfter: 'wait',
    responses: [0, 1, 2, 3].map(() => ({ when: 'body', pieces: [b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')], after: 'keep' })),
    notes: [`split at ${at}`],
    generated: false,
  };
}

/** The sentinel: a plain GET that must be answered 200 through a proxy that is still alive. */
export function sentinelCase(index: number, mode: FuzzMode, targets: CaseTargets): FuzzCase {
  const target = mode === 'forward' ? `http://${targets.authority}/sentinel` : '/sentinel';
  const head = `GET ${target} HTTP/1.1\r\nHost: ${targets.authority}\r\n\r\n`;
  return {
    index,
    mode,
    pieces: [b(mode === 'connect' ? `CONNECT ${targets.authority} HTTP/1.1\r\nHost: ${targets.authority}\r\n\r\n${head}` : head)],
    clientAfter: 'wait',
    responses: [{ when: 'body', pieces: [b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nalive')], after: 'keep' }],
    notes: ['sentinel'],
    generated: false,
  };
}

// ---------------------------------------------------------------------------------------------
// The origin: a strict HTTP/1.1 reader of its own (RFC 9112), which answers with the case's script.

export interface OriginRequest {
  method: string;
  target: string;
  version: string;
  body: Buffer[];
  bodyBytes: number;
  /** The origin read the request to its end. */
  complete: boolean;
  /** Which of the lane's origin connections it came on (for traces). */
  connection: number;
}

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\0-\x20\x7f]+) HTTP\/1\.([01])$/;
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

type ReadStep = 'head' | 'fixed' | 'size' | 'data' | 'crlf' | 'trailers' | 'dead';

/**
 * How the origin reads what RFC 9112 leaves to the recipient. 'strict' refuses all of it; 'lenient'
 * takes every reading the RFC allows a server (a bare LF ends a line, obs-fold is unfolded,
 * Transfer-Encoding overrides Content-Length, white space before a chunk extension or line end):
 * the reading under which a request davtap relays with both, or cuts differently, would be two.
 */
export type OriginReading = 'strict' | 'lenient';

/** Reads requests from one connection; anything its reading does not allow ends the connection. */
export class OriginReader {
  private buf: Buffer = Buffer.alloc(0);
  private step: ReadStep = 'head';
  private remaining = 0;
  private current: OriginRequest | null = null;

  constructor(
    private readonly connection: number,
    private readonly reading: OriginReading,
    private readonly on: { head(req: OriginRequest): void; complete(req: OriginRequest): void; error(why: string): void },
  ) {}

  get dead(): boolean {
    return this.step === 'dead';
  }

  feed(chunk: Buffer): void {
    if (this.dead) return;
    this.buf = this.buf.length > 0 ? Buffer.concat([this.buf, chunk]) : chunk;
    for (let guard = 0; guard < 100_000 && !this.dead; guard++) if (!this.advance()) break;
  }

  private fail(why: string): false {
    this.step = 'dead';
    this.buf = Buffer.alloc(0);
    this.on.error(why);
    return false;
  }

  private finish(): void {
    const req = this.current!;
    req.complete = true;
    this.current = null;
    this.step = 'head';
    this.on.complete(req);
  }

  /** The next line (without its end), null while incomplete (or after failing on a bare CR or LF). */
  private line(max: number): string | null {
    const lf = this.buf.indexOf(0x0a);
    const end = lf < 0 ? this.buf.length : lf;
    const cr = this.buf.indexOf(0x0d);
    if (cr >= 0 && cr < end && !(cr === end - 1 && lf >= 0) && !(lf < 0 && cr === this.buf.length - 1)) return this.fail('bare CR in a chunk line'), null;
    if (lf < 0) {
      if (this.buf.length > max) this.fail('chunk line too long');
      return null;
    }
    const crlf = lf > 0 && this.buf[lf - 1] === 0x0d;
    if (!crlf && this.reading === 'strict') return this.fail('bare LF in a chunk line'), null;
    const text = this.buf.toString('latin1', 0, crlf ? lf - 1 : lf);
    this.buf = this.buf.subarray(lf + 1);
    return text;
  }

  /** Where the head starting at `from` ends, and its lines; null while incomplete. */
  private head(from: number): { end: number; lines: string[] } | null {
    if (this.reading === 'strict') {
      const at = this.buf.indexOf('\r\n\r\n', from);
      return at < 0 ? null : { end: at + 4, lines: this.buf.toString('latin1', from, at).split('\r\n') };
    }
    const m = /\r?\n\r?\n/.exec(this.buf.toString('latin1', from, Math.min(this.buf.length, from + 70 * 1024)));
    return m ? { end: from + m.index + m[0].length, lines: this.buf.toString('latin1', from, from + m.index).split(/\r?\n/) } : null;
  }

  private advance(): boolean {
    switch (this.step) {
      case 'head': {
        let off = 0;
        if (this.reading === 'strict') while (this.buf[off] === 0x0d && this.buf[off + 1] === 0x0a) off += 2;
        else while (this.buf[off] === 0x0a || (this.buf[off] === 0x0d && this.buf[off + 1] === 0x0a)) off += this.buf[off] === 0x0a ? 1 : 2;
        const head = this.head(off);
        if (!head) {
          if (this.buf.length - off > 64 * 1024) return this.fail('head too large');
          this.buf = this.buf.subarray(off);
          return false;
        }
        this.buf = this.buf.subarray(head.end);
        const lines = head.lines;
        if (lines.some((l) => /[\r\n]/.test(l))) return this.fail('bare CR or LF in the head');
        const m = REQUEST_LINE.exec(lines[0]!);
        if (!m) return this.fail('request line');
        const fields: Array<[string, string]> = [];
        for (const l of lines.slice(1)) {
          if (/^[ \t]/.test(l)) {
            if (this.reading === 'strict' || fields.length === 0) return this.fail('obs-fold');
            fields[fields.length - 1]![1] += ` ${l.trim()}`;
            continue;
          }
          const f = FIELD_LINE.exec(l);
          if (!f) return this.fail('field line');
          if (!FIELD_VALUE.test(f[2]!)) return this.fail('control character in a field value');
          fields.push([f[1]!.toLowerCase(), f[2]!]);
        }
        const te = fields.filter(([n]) => n === 'transfer-encoding').map(([, v]) => v);
        const cl = fields.filter(([n]) => n === 'content-length').map(([, v]) => v);
        this.current = { method: m[1]!, target: m[2]!, version: `1.${m[3]}`, body: [], bodyBytes: 0, complete: false, connection: this.connection };
        if (te.length > 0) {
          // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length (a strict server refuses both).
          if (cl.length > 0 && this.reading === 'strict') return this.fail('Transfer-Encoding with Content-Length');
          const codings = te.join(',').split(',').map((c) => c.trim().toLowerCase());
          if (codings.some((c) => c === '') || codings.at(-1) !== 'chunked' || codings.indexOf('chunked') !== codings.length - 1) return this.fail('Transfer-Encoding not ending in chunked');
          this.on.head(this.current);
          this.step = 'size';
          return true;
        }
        if (cl.length > 0) {
          const values = cl.join(',').split(',').map((v) => v.trim());
          if (!values.every((v) => /^\d{1,15}$/.test(v) && v === values[0])) return this.fail('Content-Length');
          this.remaining = Number(values[0]);
        } else this.remaining = 0;
        this.on.head(this.current);
        if (this.remaining === 0) this.finish();
        else this.step = 'fixed';
        return true;
      }
      case 'fixed':
      case 'data': {
        if (this.buf.length === 0) return false;
        const n = Math.min(this.remaining, this.buf.length);
        const req = this.current!;
        req.body.push(Buffer.from(this.buf.subarray(0, n)));
        req.bodyBytes += n;
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.remaining === 0) {
          if (this.step === 'fixed') this.finish();
          else this.step = 'crlf';
        }
        return true;
      }
      case 'crlf': {
        if (this.buf.length === 0) return false;
        if (this.reading === 'lenient' && this.buf[0] === 0x0a) {
          this.buf = this.buf.subarray(1);
          this.step = 'size';
          return true;
        }
        if (this.buf[0] !== 0x0d || (this.buf.length > 1 && this.buf[1] !== 0x0a)) return this.fail('chunk data not followed by CRLF');
        if (this.buf.length < 2) return false;
        this.buf = this.buf.subarray(2);
        this.step = 'size';
        return true;
      }
      case 'size': {
        const line = this.line(1024);
        if (line === null) return false;
        const m = (this.reading === 'strict' ? /^([0-9A-Fa-f]{1,15})(?:[ \t]*;[^\0]*)?$/ : /^([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\0]*)?$/).exec(line);
        if (!m) return this.fail('chunk size');
        this.remaining = parseInt(m[1]!, 16);
        this.step = this.remaining === 0 ? 'trailers' : 'data';
        return true;
      }
      case 'trailers': {
        const line = this.line(16 * 1024);
        if (line === null) return false;
        if (line === '') {
          this.finish();
          return true;
        }
        if (this.reading === 'lenient' && /^[ \t]/.test(line)) return true;
        const f = FIELD_LINE.exec(line);
        if (!f || !FIELD_VALUE.test(f[2]!)) return this.fail('trailer line');
        return true;
      }
      default:
        return false;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Running cases

export interface FuzzFailure {
  seed: number;
  index: number;
  mode: FuzzMode;
  what: string;
  detail: string;
  /** The client's bytes (escaped, cut). */
  request: string;
  notes: string[];
  generated: boolean;
}

export interface FuzzStats {
  cases: number;
  byMode: Record<FuzzMode, number>;
  flows: number;
  originRequests: number;
  /** Requests the origin read twice: a bodyless request sent again on a fresh upstream connection. */
  retried: number;
  retriedMethods: Record<string, number>;
  /** Why the origin's strict reader refused what davtap sent it (not failures: davtap relays what a server must judge). */
  originRejects: Record<string, number>;
  outcomes: Record<string, number>;
  crashes: number;
  desyncs: number;
  internalFaults: number;
  failures: FuzzFailure[];
}

export function emptyStats(): FuzzStats {
  return { cases: 0, byMode: { reverse: 0, forward: 0, connect: 0 }, flows: 0, originRequests: 0, retried: 0, retriedMethods: {}, originRejects: {}, outcomes: {}, crashes: 0, desyncs: 0, internalFaults: 0, failures: [] };
}

/** Starts davtap for the harness: the ava tests pass startTestProxy, the long run startProxy. */
export type Launch = (options: TestProxyOptions & { hooks: { onFlow(flow: Flow): void } }) => Promise<RunningProxy>;

interface CaseState {
  c: FuzzCase;
  address: string;
  /** host:port of the lane's origin. */
  authority: string;
  clientBytes: Buffer;
  received: Buffer[];
  origin: OriginRequest[];
  originIndex: number;
  lastEvent: number;
  sentinel: boolean;
}

/** DAVTAP_FUZZ_TRACE=1 prints what the origin reads and what each client got, as it happens. */
const TRACE = process.env.DAVTAP_FUZZ_TRACE === '1';

/** Lets a receiver in this process read what was written before the next write (see the top). */
export const readGap = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

/**
 * Resets the connection (RST). Node sends a FIN instead when a write is still in progress, so the
 * writes are let through first.
 */
async function reset(socket: net.Socket): Promise<void> {
  await readGap();
  if (!socket.destroyed) socket.resetAndDestroy();
}

/** Writes each piece as its own read on the receiving side, stopping if the socket goes. */
export async function writeApart(socket: net.Socket, pieces: readonly Buffer[], onWrite: () => void = () => {}): Promise<void> {
  for (let i = 0; i < pieces.length && !socket.destroyed && socket.writable; i++) {
    socket.write(pieces[i]!);
    onWrite();
    if (i < pieces.length - 1) await readGap();
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function escape(bytes: Buffer, max = 600): string {
  const text = JSON.stringify(bytes.subarray(0, max).toString('latin1'));
  return bytes.length > max ? `${text}… (${bytes.length} bytes)` : text;
}

const DEFAULT_ANSWER: ResponseScript = { when: 'body', pieces: [b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')], after: 'keep' };

/** One connection to a lane's origin. */
interface OriginConnection {
  socket: net.Socket;
  /** Requests read for which no answer was started. */
  unanswered: number;
  /** An answer is being written (in pieces, apart). */
  writing: boolean;
  /** The origin closed (or is closing) it. */
  over: boolean;
}

/** One lane: an origin and davtap in each mode in front of it; its cases run one after another. */
class Lane {
  private server!: net.Server;
  private readonly sockets = new Set<OriginConnection>();
  current: CaseState | null = null;
  reverse!: RunningProxy;
  forward!: RunningProxy;
  port = 0;
  private connections = 0;
  /** Even lanes' origins read strictly, odd lanes' leniently (OriginReading). */
  readonly reading: OriginReading;

  constructor(
    private readonly harness: FuzzHarness,
    readonly id: number,
  ) {
    this.reading = id % 2 === 0 ? 'strict' : 'lenient';
  }

  get authority(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(launch: Launch, caDir: string): Promise<void> {
    this.server = net.createServer({ noDelay: true }, (s) => this.onOriginConnection(s));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    this.harness.allowedPorts.add(this.port);
    const onFlow = (flow: Flow) => this.harness.onFlow(flow);
    const hooks = { onFlow, onResponseChunk: () => {} };
    this.reverse = await launch({ upstream: new URL(`http://${this.authority}`), upstreamTimeoutMs: 10_000, hooks });
    this.forward = await launch({ caDir, upstreamTimeoutMs: 10_000, hooks });
    // The harness's own clients connect to davtap.
    this.harness.allowedPorts.add(this.reverse.port).add(this.forward.port);
  }

  async stop(): Promise<void> {
    await Promise.all([this.reverse.close(), this.forward.close()]);
    for (const conn of this.sockets) conn.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onOriginConnection(socket: net.Socket): void {
    const conn: OriginConnection = { socket, unanswered: 0, writing: false, over: false };
    this.sockets.add(conn);
    socket.once('close', () => this.sockets.delete(conn));
    socket.on('error', () => {});
    const connection = ++this.connections;
    let queue = Promise.resolve();
    const answer = (script: ResponseScript) => {
      queue = queue.then(async () => {
        if (conn.over || socket.destroyed || script.after === 'silent') return;
        conn.unanswered--;
        conn.writing = true;
        for (let i = 0; i < script.pieces.length; i++) {
          if (socket.destroyed) return;
          socket.write(script.pieces[i]!);
          if (i < script.pieces.length - 1) await readGap();
        }
        conn.writing = false;
        if (script.after === 'close') {
          conn.over = true;
          socket.end();
        } else if (script.after === 'reset') {
          conn.over = true;
          socket.resetAndDestroy();
        }
      });
    };
    const scripts = new Map<OriginRequest, ResponseScript>();
    const reader = new OriginReader(connection, this.reading, {
      head: (req) => {
        const state = this.current;
        if (!state) {
          this.harness.fail(null, 'origin read a request while no case ran', `${req.method} ${req.target} on lane ${this.id}`);
          return;
        }
        state.origin.push(req);
        state.lastEvent = performance.now();
        conn.unanswered++;
        if (this.draining) {
          this.closeAnswer(conn);
          return;
        }
        const script = state.c.responses[state.originIndex++] ?? DEFAULT_ANSWER;
        scripts.set(req, script);
        if (script.when === 'head') answer(script);
      },
      complete: (req) => {
        const script = scripts.get(req);
        scripts.delete(req);
        if (script && script.when === 'body') answer(script);
      },
      error: (why) => {
        this.harness.stats.originRejects[why] = (this.harness.stats.originRejects[why] ?? 0) + 1;
        queue = queue.then(() => {
          if (!socket.destroyed && !conn.over) socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
          conn.over = true;
        });
      },
    });
    socket.on('data', (d: Buffer) => {
      if (this.current) this.current.lastEvent = performance.now();
      if (TRACE) process.stderr.write(`fuzz trace: ${performance.now().toFixed(1)} ms: lane ${this.id}, origin connection ${connection}, case ${this.current?.c.index}: read ${JSON.stringify(d.toString('latin1').slice(0, 300))}\n`);
      reader.feed(d);
    });
  }

  /** While a case ends, the origin answers at once and closes (drain()). */
  private draining = false;

  /** A complete answer that closes the connection, for a request still waiting for one. */
  private closeAnswer(conn: OriginConnection): void {
    if (conn.over || conn.socket.destroyed) return;
    conn.over = true;
    conn.socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  }

  /**
   * Ends the origin's part of a case: every request still waiting gets a complete answer (so that
   * davtap writes to its client, and a client that shut only its sending side is found gone), an
   * answer being written is cut, and requests that still come are answered at once. Without it, a
   * bodyless request on a reused connection that the origin closes unanswered is sent again on a
   * fresh one, after the case.
   */
  private drain(): void {
    this.draining = true;
    for (const conn of this.sockets) {
      if (conn.writing) conn.socket.destroy();
      else if (conn.unanswered > 0) this.closeAnswer(conn);
    }
  }

  /** Until nothing has happened for a little while (bounded). */
  private async quiet(state: CaseState): Promise<void> {
    for (let i = 0; i < 200; i++) {
      await readGap();
      if (performance.now() - state.lastEvent >= 2) break;
      await sleep(1);
    }
  }

  proxyPort(mode: FuzzMode): number {
    return mode === 'reverse' ? this.reverse.port : this.forward.port;
  }

  /** Runs one case to its end; the checks come later (FuzzHarness.verify), once its flows are in. */
  async run(c: FuzzCase, address: string, sentinel = false): Promise<CaseState> {
    const state: CaseState = { c, address, authority: this.authority, clientBytes: Buffer.concat(c.pieces), received: [], origin: [], originIndex: 0, lastEvent: performance.now(), sentinel };
    this.current = state;
    const h = this.harness;
    const touch = () => (state.lastEvent = performance.now());
    const socket = net.connect({ host: '127.0.0.1', port: this.proxyPort(c.mode), localAddress: address, noDelay: true });
    socket.on('error', () => {});
    let closed = false;
    const whenClosed = new Promise<void>((resolve) =>
      socket.once('close', () => {
        closed = true;
        touch();
        resolve();
      }),
    );
    socket.on('data', (d: Buffer) => {
      state.received.push(d);
      touch();
    });
    const connected = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('close', () => resolve(false));
    });
    if (!connected) {
      h.fail(state, 'davtap refused the connection', `${c.mode} proxy on port ${this.proxyPort(c.mode)}`);
      this.current = null;
      return state;
    }
    await writeApart(socket, c.pieces, touch);
    if (c.clientAfter === 'end' && !closed) socket.end();
    if (c.clientAfter === 'destroy') await reset(socket);
    // The case runs until davtap closes the connection or nothing has happened for a while.
    const deadline = performance.now() + h.options.caseMs;
    for (;;) {
      if (closed) break;
      const now = performance.now();
      if (now >= deadline) break;
      const idle = now - state.lastEvent;
      if (idle >= h.options.quietMs && (!sentinel || Buffer.concat(state.received).includes('alive'))) break;
      await Promise.race([whenClosed, sleep(Math.max(1, h.options.quietMs - idle))]);
    }
    // A reset, not a FIN: davtap answers the requests of a client that only shut its sending side,
    // which would let this case's requests go upstream during the next one.
    if (TRACE) process.stderr.write(`fuzz trace: ${performance.now().toFixed(1)} ms: case ${c.index} ends; the client got ${JSON.stringify(Buffer.concat(state.received).toString('latin1').slice(0, 600))}${closed ? ', then davtap closed' : ''}\n`);
    await reset(socket);
    await whenClosed;
    this.drain();
    // What davtap sent upstream before the connection went is read before the next case starts.
    await this.quiet(state);
    // The origin's connections go too: forward mode's pooled ones carry no request of this case
    // into the next one.
    for (const conn of this.sockets) conn.socket.destroy();
    await this.quiet(state);
    this.draining = false;
    this.current = null;
    return state;
  }
}

export interface HarnessOptions {
  seed: number;
  /** Cases run at once (one per lane). */
  lanes: number;
  /** A case ends once nothing happened for this long (ms). */
  quietMs: number;
  /** A case ends after this long whatever happens (ms). */
  caseMs: number;
  /** Where forward mode keeps its CA. */
  caDir: string;
  launch: Launch;
}

/** The whole run's state: lanes, flows by client address, statistics and failures. */
export class FuzzHarness {
  readonly stats = emptyStats();
  readonly allowedPorts = new Set<number>();
  private readonly lanes: Lane[] = [];
  private readonly flowsByAddress = new Map<string, Flow[]>();
  private readonly seenIds = new Set<string>();
  private addressSeq = 0;
  private restoreGuards: Array<() => void> = [];
  private sink: net.Server | null = null;
  private sinkPort = 0;

  constructor(readonly options: HarnessOptions) {}

  async start(): Promise<void> {
    this.guardProcess();
    this.sink = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => this.sink!.listen(0, '127.0.0.1', resolve));
    this.sinkPort = (this.sink.address() as net.AddressInfo).port;
    this.guardUpstreams();
    for (let i = 0; i < this.options.lanes; i++) {
      const lane = new Lane(this, i);
      await lane.start(this.options.launch, this.options.caDir);
      this.lanes.push(lane);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.lanes.map((l) => l.stop()));
    await new Promise<void>((resolve) => this.sink?.close(() => resolve()) ?? resolve());
    for (const restore of this.restoreGuards.splice(0).reverse()) restore();
  }

  /** An uncaught exception or unhandled rejection anywhere in the process is a crash, counted and reported. */
  private guardProcess(): void {
    const onCrash = (err: unknown) => {
      this.stats.crashes++;
      this.fail(null, 'uncaught exception (the process would have stopped)', err instanceof Error ? (err.stack ?? err.message) : String(err));
    };
    process.prependListener('uncaughtException', onCrash);
    process.prependListener('unhandledRejection', onCrash);
    this.restoreGuards.push(() => {
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
    });
  }

  /**
   * Forward mode connects wherever a request says: only this harness's origins (and its own client
   * connections to davtap) are allowed. The relay opens upstream connections with net.connect and
   * tls.connect (src/proxy/wire/link.ts); both are watched.
   */
  private guardUpstreams(): void {
    type Connect = (...args: unknown[]) => net.Socket;
    const allowed = this.allowedPorts;
    const refuse = (where: string) => this.fail(null, 'davtap connected outside the harness', where);
    const sink = () => this.sinkPort;
    for (const mod of [net, tls] as unknown as Array<{ connect: Connect }>) {
      const original = mod.connect;
      mod.connect = function (this: unknown, ...args: unknown[]) {
        const options = args[0] as net.TcpNetConnectOpts;
        if (typeof options === 'object' && options !== null && 'port' in options && !allowed.has(Number(options.port))) {
          refuse(`${String(options.host)}:${String(options.port)}`);
          return original.call(this, { ...options, host: '127.0.0.1', port: sink() }, ...args.slice(1));
        }
        if (typeof options === 'object' && options !== null && 'host' in options && options.host !== '127.0.0.1') {
          refuse(`${String(options.host)}:${String(options.port)}`);
          return original.call(this, { ...options, host: '127.0.0.1', port: sink() }, ...args.slice(1));
        }
        return original.apply(this, args);
      };
      this.restoreGuards.push(() => {
        mod.connect = original;
      });
    }
  }

  onFlow(flow: Flow): void {
    const list = this.flowsByAddress.get(flow.client.address);
    if (list) list.push(flow);
    else this.flowsByAddress.set(flow.client.address, [flow]);
  }

  fail(state: CaseState | null, what: string, detail: string): void {
    if (/desync|not recorded/.test(what)) this.stats.desyncs++;
    if (this.stats.failures.length >= 200) return;
    this.stats.failures.push({
      seed: this.options.seed,
      index: state?.c.index ?? -1,
      mode: state?.c.mode ?? 'reverse',
      what,
      detail,
      request: state ? escape(state.clientBytes) : '',
      notes: state?.c.notes ?? [],
      generated: state?.c.generated ?? false,
    });
  }

  /** A client address of its own for each case: flows are told apart by it, whenever they arrive. */
  private nextAddress(): string {
    const n = this.addressSeq++;
    return `127.${1 + (Math.floor(n / (254 * 256)) % 254)}.${Math.floor(n / 254) % 256}.${1 + (n % 254)}`;
  }

  get laneCount(): number {
    return this.lanes.length;
  }

  targets(lane: number): CaseTargets {
    const l = this.lanes[lane]!;
    return { authority: l.authority, self: `127.0.0.1:${l.forward.port}` };
  }

  /**
   * Runs `cases` (made per lane by `make`, so that forward targets name that lane's origin), `lanes`
   * at a time, then a sentinel through each proxy, then checks every case once its flows are in.
   */
  async batch(indexes: number[], make: (index: number, targets: CaseTargets) => FuzzCase): Promise<void> {
    const done: CaseState[] = [];
    let next = 0;
    await Promise.all(
      this.lanes.map(async (lane) => {
        while (next < indexes.length) {
          const index = indexes[next++]!;
          const c = make(index, this.targets(lane.id));
          done.push(await lane.run(c, this.nextAddress()));
        }
      }),
    );
    // davtap is still alive: every proxy relays a plain request.
    const sentinels: CaseState[] = [];
    await Promise.all(
      this.lanes.map(async (lane) => {
        for (const mode of FUZZ_MODES) {
          const s = await lane.run(sentinelCase(-1, mode, this.targets(lane.id)), this.nextAddress(), true);
          sentinels.push(s);
          const text = Buffer.concat(s.received).toString('latin1');
          if (!/HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nalive/.test(text)) this.fail(s, 'davtap no longer relays a plain request', `lane ${lane.id}, ${mode}: received ${escape(Buffer.concat(s.received), 300)}`);
        }
      }),
    );
    await this.settle([...done, ...sentinels]);
    for (const s of done) this.verify(s);
    for (const s of sentinels) this.verify(s);
  }

  /** Waits (bounded) until every request the origin read has a flow and no flow arrives any more. */
  private async settle(states: CaseState[]): Promise<void> {
    const deadline = performance.now() + 3_000;
    let count = -1;
    let stableSince = performance.now();
    while (performance.now() < deadline) {
      const now = states.reduce((n, s) => n + (this.flowsByAddress.get(s.address)?.length ?? 0), 0);
      if (now !== count) {
        count = now;
        stableSince = performance.now();
      }
      const covered = states.every((s) => (this.flowsByAddress.get(s.address)?.length ?? 0) >= s.origin.length);
      if (covered && performance.now() - stableSince >= 20) return;
      await sleep(5);
    }
  }

  private verify(state: CaseState): void {
    const { c } = state;
    const flows = this.flowsByAddress.get(state.address) ?? [];
    this.flowsByAddress.delete(state.address);
    const stats = this.stats;
    if (!state.sentinel) {
      stats.cases++;
      stats.byMode[c.mode]++;
    }
    stats.flows += flows.length;
    stats.originRequests += state.origin.length;
    const expectedMode = c.mode === 'reverse' ? 'reverse' : 'forward';
    const describe = (f: Flow) => `${f.request.method} ${f.request.url} body ${escape(f.request.body.bytes, 80)} → ${f.response?.status ?? '-'} ${f.outcome.kind}${f.outcome.code ? ` ${f.outcome.code}` : ''}`;
    const clientText = state.clientBytes.toString('latin1');
    for (const f of flows) {
      const key = f.outcome.code ?? f.outcome.kind;
      stats.outcomes[key] = (stats.outcomes[key] ?? 0) + 1;
      if (this.seenIds.has(f.id)) this.fail(state, 'flow recorded twice', describe(f));
      this.seenIds.add(f.id);
      if (f.outcome.code === 'EDAVTAP') {
        stats.internalFaults++;
        this.fail(state, 'internal fault (EDAVTAP)', `${describe(f)}: ${f.outcome.message ?? ''}`);
      }
      // '?' is for a refused request without a first word, or whose first word is not text (a
      // stray control byte, binary): never when the client sent only text, in lines with a word.
      const nameless = f.request.method === '?' && !(f.response === null && /[^\x20-\x7e\t\r\n]|(^|\n)[ \t]+\r?\n/.test(clientText));
      if (!f.request.method || nameless) this.fail(state, 'flow without a method', describe(f));
      if (f.mode !== expectedMode) this.fail(state, 'flow in the wrong mode', describe(f));
    }
    // Every request the origin read is one davtap recorded: same method, path and body.
    const used = new Array<number>(flows.length).fill(0);
    for (const req of state.origin) {
      const body = Buffer.concat(req.body);
      const same = (f: Flow) => f.request.method === req.method && f.request.url === `http://${state.authority}${req.target}`;
      const bodyAgrees = (f: Flow, exact: boolean) => {
        const got = f.request.body.bytes;
        if (!f.request.body.captureComplete) return body.subarray(0, got.length).equals(got.subarray(0, Math.min(got.length, body.length)));
        return exact ? got.equals(body) : got.subarray(0, body.length).equals(body);
      };
      let i = flows.findIndex((f, k) => used[k] === 0 && same(f) && bodyAgrees(f, req.complete));
      if (i < 0 && !req.complete) i = flows.findIndex((f, k) => used[k] === 0 && same(f) && bodyAgrees(f, false));
      if (i < 0 && req.bodyBytes === 0) {
        // A bodyless request sent again on a fresh connection after the server closed a reused one.
        i = flows.findIndex((f) => same(f) && f.request.body.bytesSeen === 0);
        if (i >= 0) {
          stats.retried++;
          stats.retriedMethods[req.method] = (stats.retriedMethods[req.method] ?? 0) + 1;
        }
      }
      if (i < 0) {
        this.fail(state, 'desync: the origin read a request davtap did not record', `origin read ${req.method} ${req.target} (${req.complete ? 'complete' : 'incomplete'}, body ${escape(body, 120)}); flows: ${flows.map(describe).join(' | ') || 'none'}`);
        continue;
      }
      used[i]!++;
    }
    // Never more flows than request heads sent (plus one refusal of what could not be read).
    const heads = (clientText.match(/\r\n\r\n|\n\n|\r\n\n|\n\r\n/g) ?? []).length;
    if (flows.length > heads + 1) this.fail(state, 'more flows than requests', `${flows.length} flows for ${heads} heads: ${flows.map(describe).join(' | ')}`);
    // Every answer davtap made itself is a flow without an upstream response.
    const received = Buffer.concat(state.received).toString('latin1');
    const own = (received.match(/\r\n\r\ndavtap: /g) ?? []).length;
    const unanswered = flows.filter((f) => f.response === null).length;
    if (own > unanswered) this.fail(state, 'an answer from davtap without its flow', `${own} answers from davtap, ${unanswered} flows without a response: ${flows.map(describe).join(' | ')}; received ${escape(Buffer.from(received, 'latin1'), 300)}`);
  }

  /** Runs `count` cases from `first`, in batches, checking after each. */
  async run(first: number, count: number, make: (index: number, targets: CaseTargets) => FuzzCase, batchSize = 200, onBatch?: () => void): Promise<void> {
    for (let at = first; at < first + count; at += batchSize) {
      const indexes = Array.from({ length: Math.min(batchSize, first + count - at) }, (_, i) => at + i);
      await this.batch(indexes, make);
      onBatch?.();
    }
  }
}

/** How to reproduce a run, for failure messages. */
export function reproduce(seed: number, cases: number): string {
  return `DAVTAP_FUZZ_SEED=${seed} DAVTAP_FUZZ_CASES=${cases}`;
}

export function formatFailures(failures: FuzzFailure[], max = 10): string {
  return failures
    .slice(0, max)
    .map((f) => {
      const replay = f.generated ? `\n    replay DAVTAP_FUZZ_SEED=${f.seed} DAVTAP_FUZZ_FROM=${f.index} DAVTAP_FUZZ_CASES=1 DAVTAP_FUZZ_MODE=${f.mode} DAVTAP_FUZZ_TRACE=1 npm run fuzz` : '';
      return `#${f.index} (${f.mode}) ${f.what}: ${f.detail}\n    request ${f.request}\n    notes ${f.notes.map((n) => JSON.stringify(n)).join(', ')}${replay}`;
    })
    .join('\n');
}

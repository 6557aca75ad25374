// Small pieces every export format shares: header lookup, body text-or-base64, the URL the client
// used, the davtap version, and writing files only their owner can read.
import { closeSync, existsSync, fchmodSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstHeader } from '../http/headers.js';
import { clientScheme } from '../analysis/request.js';
import type { Flow } from '../types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The body as text when it is valid UTF-8 without NUL bytes (XML, iCalendar, vCard, JSON…), else
 * as base64. Either way the exact bytes come back: ignoreBOM keeps a byte-order mark in the text.
 */
export function bodyText(bytes: Uint8Array): { text: string; encoding?: 'base64' } {
  if (bytes.length === 0) return { text: '' };
  if (!bytes.includes(0)) {
    try {
      return { text: utf8.decode(bytes) };
    } catch {
      /* not UTF-8: base64 below */
    }
  }
  return { text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), encoding: 'base64' };
}

/** The content coding the response declared (gzip, br, deflate), lower-cased, when one. */
export function contentCoding(flow: Flow): string | undefined {
  const ce = flow.response ? firstHeader(flow.response.rawHeaders, 'content-encoding') : undefined;
  const v = ce?.trim().toLowerCase();
  return v === undefined || v === '' || v === 'identity' ? undefined : v;
}

/**
 * The URL as the client used it: its Host header with the upstream URL's path, and the scheme the
 * client used (clientScheme: https for a TLS client of davtap's reverse listener). In reverse mode
 * the client talks to davtap, and the analyzer compares hrefs against that scheme and authority, so
 * an offline re-analysis must see the same ones.
 */
export function clientUrl(flow: Flow): string {
  try {
    const u = new URL(flow.request.url);
    const host = firstHeader(flow.request.rawHeaders, 'host');
    const scheme = clientScheme(flow.mode, flow.request.url, flow.client.tls !== undefined) ?? u.protocol.slice(0, -1);
    return host !== undefined && host.trim() !== '' ? `${scheme}://${host.trim()}${u.pathname}${u.search}` : u.href;
  } catch {
    return flow.request.url;
  }
}

/** Which side of a flow was TLS, as every export says it. */
export interface TlsSides {
  /** The client's connection to davtap was TLS (false also for flows recorded before davtap stored it). */
  clientTls: boolean;
  /** The name the client asked for in its TLS handshake (SNI), when it sent one. */
  clientSni: string | null;
  /** davtap's connection to the server was TLS (an https URL); null when the request named no server (refused). */
  upstreamTls: boolean | null;
}

export function tlsSides(flow: Flow): TlsSides {
  let upstreamTls: boolean | null = null;
  try {
    const protocol = new URL(flow.request.url).protocol;
    if (protocol === 'https:' || protocol === 'http:') upstreamTls = protocol === 'https:';
  } catch {
    /* a refused request's target is no URL */
  }
  const sni = flow.client.tls?.sni;
  return { clientTls: flow.client.tls !== undefined, clientSni: sni !== undefined && sni !== '' ? sni : null, upstreamTls };
}

/** `HTTP/1.1` from `1.1`, keeping an already prefixed value. */
export const httpVersion = (v: string): string => (/^HTTP\//i.test(v) ? v.toUpperCase() : `HTTP/${v}`);

let cachedVersion: string | undefined;

/** davtap's version from its package.json (src/ and dist/src/ sit at different depths). */
export function davtapVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'davtap' && typeof pkg.version === 'string') return (cachedVersion = pkg.version);
      } catch {
        /* keep looking upwards */
      }
    }
    dir = path.dirname(dir);
  }
  return (cachedVersion = 'unknown');
}

/**
 * A file only its owner can read or write (exports hold bodies and headers): created 0600, and
 * an existing file is narrowed to 0600 before anything is written into it. With `atomic`, the
 * bytes go to a temporary file beside it that `close()` renames into place and `abort()` removes,
 * so that a failed export never leaves half a HAR where a whole one was.
 */
export class PrivateFile {
  private fd: number;
  private readonly path: string;
  constructor(
    readonly file: string,
    mode = 0o600,
    private readonly atomic = false,
  ) {
    this.path = atomic ? path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`) : file;
    this.fd = openSync(this.path, 'w', mode);
    fchmodSync(this.fd, mode);
  }
  write(data: string | Uint8Array): void {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
  }
  /** Done: closes the file (and renames it into place when atomic). */
  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    if (this.atomic) renameSync(this.path, this.file);
  }
  /** Failed: closes the file; an atomic one is removed and the target left as it was. */
  abort(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    if (this.atomic) rmSync(this.path, { force: true });
  }
}

export function writePrivateFile(file: string, data: string | Uint8Array, mode = 0o600): void {
  const f = new PrivateFile(file, mode);
  try {
    f.write(data);
  } catch (err) {
    f.abort();
    throw err;
  }
  f.close();
}

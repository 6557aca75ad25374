// IP addresses and CIDR ranges, as bytes: which clients an allow-list (--allow-remote) admits.
// Pure: no sockets, no name resolution.
//
// An IPv4 client of a dual-stack listener ('::') arrives as an IPv4-mapped IPv6 address
// (::ffff:10.1.2.3); it is read as the IPv4 address it is, so that 10.0.0.0/8 admits it and
// ::ffff:127.0.0.1 counts as loopback.
import net from 'node:net';

export interface IpAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

export interface AddressRange extends IpAddress {
  /** Leading bits that must match: 0–32 (IPv4) or 0–128 (IPv6). */
  prefix: number;
  /** As written, for messages. */
  text: string;
}

function v4Bytes(text: string): Uint8Array | null {
  if (!net.isIPv4(text)) return null;
  return Uint8Array.from(text.split('.').map(Number));
}

function v6Bytes(text: string): Uint8Array | null {
  if (!net.isIPv6(text)) return null;
  let s = text;
  // A trailing dotted quad (::ffff:1.2.3.4, ::1.2.3.4) stands for the last two groups.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const q = v4Bytes(tail);
    if (!q) return null;
    s = `${s.slice(0, lastColon + 1)}${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const groups = halves.length > 1 ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  if (groups.length !== 8) return null;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    bytes[2 * i] = n >> 8;
    bytes[2 * i + 1] = n & 0xff;
  });
  return bytes;
}

/** ::ffff:a.b.c.d → a.b.c.d; any other address unchanged. */
function unmapped(address: IpAddress): IpAddress {
  const b = address.bytes;
  if (address.family === 6 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return { family: 4, bytes: b.slice(12) };
  }
  return address;
}

/** Parses an IPv4 or IPv6 address (a zone such as %eth0 is ignored); null when it is not one. */
export function parseAddress(text: string): IpAddress | null {
  const bare = text.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const v4 = v4Bytes(bare);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = v6Bytes(bare);
  return v6 ? unmapped({ family: 6, bytes: v6 }) : null;
}

/**
 * Parses `ADDRESS/PREFIX` or a single `ADDRESS` (a /32 or /128). Bits past the prefix are ignored
 * (10.1.2.3/8 is 10.0.0.0/8). A range of IPv4-mapped addresses (::ffff:10.0.0.0/104) is read as
 * the IPv4 range it covers. Null when the text is not a range.
 */
export function parseRange(text: string): AddressRange | null {
  const m = /^([^/]+?)(?:\/(\d{1,3}))?$/.exec(text.trim());
  if (!m || m[1]!.includes('%')) return null;
  const raw = m[1]!.replace(/^\[|\]$/g, '');
  const v4 = v4Bytes(raw);
  const v6 = v4 ? null : v6Bytes(raw);
  if (!v4 && !v6) return null;
  const family = v4 ? 4 : 6;
  const bits = family === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? bits : Number(m[2]);
  if (prefix > bits) return null;
  let range: AddressRange = { family, bytes: (v4 ?? v6)!, prefix, text: text.trim() };
  if (family === 6 && prefix >= 96) {
    const inner = unmapped(range);
    if (inner.family === 4) range = { ...range, family: 4, bytes: inner.bytes, prefix: prefix - 96 };
  }
  return range;
}

function prefixMatches(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

/** True when `address` lies in `range`. An IPv6 range also covers IPv4 clients by their mapped form. */
export function rangeContains(range: AddressRange, address: IpAddress): boolean {
  if (range.family === address.family) return prefixMatches(range.bytes, address.bytes, range.prefix);
  if (range.family === 6 && address.family === 4) {
    const mapped = new Uint8Array(16);
    mapped[10] = 0xff;
    mapped[11] = 0xff;
    mapped.set(address.bytes, 12);
    return prefixMatches(range.bytes, mapped, range.prefix);
  }
  return false;
}

const LOOPBACK: AddressRange[] = [parseRange('127.0.0.0/8')!, parseRange('::1')!];

/** 127.0.0.0/8, ::1 and ::ffff:127.x.y.z. False for host names: they could name anything. */
export function isLoopbackAddress(text: string): boolean {
  const address = parseAddress(text);
  return address !== null && LOOPBACK.some((r) => rangeContains(r, address));
}

/**
 * The admission rule for an allow-list: loopback clients always, others when inside one of the
 * ranges. An address that cannot be read is refused.
 */
export function clientAllowedBy(ranges: readonly AddressRange[]): (address: string) => boolean {
  return (text) => {
    const address = parseAddress(text);
    if (!address) return false;
    return LOOPBACK.some((r) => rangeContains(r, address)) || ranges.some((r) => rangeContains(r, address));
  };
}

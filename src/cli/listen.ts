// Parsing and checking of the proxy's addresses: --listen and --upstream.
import net from 'node:net';
import { UsageError } from '../errors.js';
import { isLoopbackAddress, parseRange, type AddressRange } from '../proxy/address-range.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Accepts HOST:PORT, [V6]:PORT, or a bare PORT (on 127.0.0.1). */
export function parseListen(text: string): ListenAddress {
  const bad = () =>
    new UsageError(`--listen: '${text}' is not HOST:PORT (examples: 127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080, 8080)`);
  let host = '127.0.0.1';
  let portText = text;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
    if (!net.isIPv6(host)) throw bad();
  } else if (text.includes(':')) {
    const i = text.lastIndexOf(':');
    host = text.slice(0, i);
    portText = text.slice(i + 1);
    if (!host || host.includes(':')) throw bad();
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad();
  const port = Number(portText);
  if (port > 65535) throw bad();
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

export function parseUpstream(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--upstream: '${text}' is not a URL (example: http://127.0.0.1:8081/dav/)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--upstream: '${text}' must be an http:// or https:// URL`);
  }
  if (url.username || url.password) {
    throw new UsageError(`--upstream: put credentials in the client, not in the URL ('${url.origin}${url.pathname}')`);
  }
  if (url.search || url.hash) throw new UsageError(`--upstream: '${text}' must not have a query or fragment`);
  return url;
}

/** True when the upstream is davtap's own listener: every request would loop. */
export function upstreamIsSelf(upstream: URL, listen: ListenAddress): boolean {
  if (listen.port === 0) return false;
  const port = Number(upstream.port || (upstream.protocol === 'https:' ? 443 : 80));
  const host = upstream.hostname.replace(/^\[|\]$/g, '');
  const loopback = (h: string) => h === 'localhost' || h === '::1' || h.startsWith('127.');
  const sameHost = host === listen.host || (loopback(host) && loopback(listen.host)) || listen.host === '0.0.0.0' || listen.host === '::';
  return sameHost && port === listen.port;
}

/** Reads every --allow-remote value: each a comma-separated list of CIDR ranges or single addresses. */
export function parseAllowRemote(values: readonly string[]): AddressRange[] {
  return values.flatMap((value) =>
    value.split(',').map((item) => {
      const range = parseRange(item);
      if (!range) {
        throw new UsageError(`--allow-remote: '${item.trim()}' is not an IP address or CIDR range (examples: 192.168.1.0/24, 10.0.0.7, fd00::/8)`);
      }
      return range;
    }),
  );
}

/**
 * Forward mode relays to any host for whoever can connect: on an address other hosts reach it
 * would be an open proxy (into this machine's loopback-only services too). It listens there only
 * with the clients named. Reverse mode reaches its one upstream only, so it needs no such consent.
 */
export function checkNotOpenProxy(listen: ListenAddress, forward: boolean, allowRemote: readonly AddressRange[] | undefined): void {
  if (!forward || allowRemote !== undefined || isLoopbackAddress(listen.host)) return;
  const where = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
  throw new UsageError(
    `forward mode on ${where} would be an open proxy for every host that reaches it: name the clients allowed with --allow-remote CIDR[,CIDR…] (loopback is always allowed), or listen on 127.0.0.1`,
  );
}

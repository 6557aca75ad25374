// Starts davtap's listener in reverse mode (--upstream) or forward mode (explicit proxy + MITM):
// one relay (wire/) in every mode, with the router of the mode.
import type net from 'node:net';
import tls from 'node:tls';
import { WireProxy, type RelayOptions, type WireProxyOptions } from './wire/proxy.js';
import type { ClientTls } from './wire/tunnel.js';
import { forwardRouter, reverseRouter, type Router } from './wire/routes.js';
import { ListenError } from '../errors.js';
import type { Mode } from '../types.js';
import { ensureCa, LeafIssuer, type CaInfo } from './ca.js';
import { ClientGate, type ClientAllowed } from './client-access.js';
import type { ProxyHooks } from './hooks.js';
import { isLoopbackAddress } from './address-range.js';

export type { BodyPace, Pace, ProxyHooks } from './hooks.js';
export type { ClientAllowed } from './client-access.js';

export interface ProxyOptions {
  listenHost: string;
  /** 0 picks a free port. */
  listenPort: number;
  /** Reverse mode when set. */
  upstream?: URL;
  /** Reverse mode: the address clients use when something sits in front of davtap (--public-url). */
  publicUrl?: URL;
  /**
   * Where davtap's CA lives: forward mode intercepts CONNECT tunnels with leaves it signs; in
   * reverse mode, when set, the listener also speaks TLS (a ClientHello on the first bytes) with
   * such leaves, unless `certs` gives the certificates to serve.
   */
  caDir?: string;
  /**
   * Reverse mode: the certificates (PEM with their key) the TLS listener serves instead of leaves
   * from the CA, for the host they name (by SNI) or for any (--cert [HOST=]FILE).
   */
  certs?: ServedCert[];
  insecureUpstream?: boolean;
  /** Verification against a private CA, and a client certificate, for TLS upstreams (PEM). */
  upstreamTls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  maxBody: number;
  maxRequestBody: number;
  upstreamTimeoutMs?: number;
  /** How long a client may take to send a request head, from its first byte (default 30 s; 0 = no limit). */
  headTimeoutMs?: number;
  /**
   * Which clients may use davtap, by address (client-access.ts); the others are answered 403 and
   * recorded. Default: loopback clients only in forward mode (never an open proxy), every client
   * in reverse mode (it reaches its one upstream only). The CLI builds it from --allow-remote
   * (address-range.ts: loopback always, plus the ranges given).
   */
  clientAllowed?: ClientAllowed;
  hooks: ProxyHooks;
  log?: (line: string) => void;
}

export interface ServedCert {
  /** The name (SNI) it is served for; undefined: for any other name, and for clients that send none. */
  host?: string;
  /** The certificate chain and its private key, PEM. */
  pem: string;
}

export interface RunningProxy {
  mode: Mode;
  host: string;
  port: number;
  /** http://host:port/ as a client would use it. */
  url: string;
  ca?: CaInfo;
  /** Time spent issuing each leaf certificate on the event loop (forward mode), in ms. */
  leafIssueMs(): number[];
  /** Stops listening, closes idle and active connections; resolves once every flow they cut has reached onFlow (bounded: 2 s). */
  close(): Promise<void>;
}

function listen(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      const why =
        err.code === 'EADDRINUSE' ? 'the address is already in use (another davtap or server on that port?)'
        : err.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)'
        : err.code === 'EADDRNOTAVAIL' ? 'no such local address'
        : err.message;
      reject(new ListenError(`cannot listen on ${where}: ${why}${err.code ? ` (${err.code})` : ''}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** How long a client may take to send one request head (a slowloris bound). */
export const DEFAULT_HEAD_TIMEOUT_MS = 30_000;

/** How long close() waits for exchanges cut by it to hand over their flows. */
const CLOSE_SETTLE_MS = 2_000;

export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const log = options.log ?? (() => {});
  const relayOptions: RelayOptions = {
    maxBody: options.maxBody,
    maxRequestBody: options.maxRequestBody,
    upstreamTimeoutMs: options.upstreamTimeoutMs ?? 120_000,
    headTimeoutMs: options.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS,
    insecureUpstream: options.insecureUpstream ?? false,
    ...(options.upstreamTls ? { upstreamTls: options.upstreamTls } : {}),
    hooks: options.hooks,
    log,
  };
  const mode: Mode = options.upstream ? 'reverse' : 'forward';
  const host = options.listenHost;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  let port = options.listenPort;
  let ca: CaInfo | undefined;
  let issuer: LeafIssuer | undefined;
  let router: Router;
  let tlsListener: WireProxyOptions['tlsListener'];
  let caPage: WireProxyOptions['caPage'];
  if (options.upstream) {
    const publicUrl = options.publicUrl ? { publicUrl: options.publicUrl } : {};
    router = reverseRouter(options.upstream, () => `${shownHost}:${port}`, { secure: false, ...publicUrl });
    const served = listenerTls(options, log);
    if (served) {
      ca = served.ca;
      issuer = served.issuer;
      const name = listenName(host);
      tlsListener = { tls: served.tls, router: reverseRouter(options.upstream, () => `${shownHost}:${port}`, { secure: true, ...publicUrl }), name };
    }
  } else {
    if (!options.caDir) throw new Error('forward mode needs a CA directory');
    const loaded = ensureCa(options.caDir);
    ca = loaded.info;
    if (ca.created) log(`davtap: ${ca.replacedBecause ? `replaced the CA (${ca.replacedBecause})` : 'created a new CA'}: ${ca.certPath}`);
    issuer = new LeafIssuer(loaded);
    caPage = { certPem: loaded.certPem, fingerprint256: loaded.info.fingerprint256 };
    router = forwardRouter({ host, port: () => port }, caPage);
  }
  const proxy = new WireProxy({ ...relayOptions, router, ...(issuer && !options.upstream ? { issuer } : {}), ...(tlsListener ? { tlsListener } : {}), ...(caPage ? { caPage } : {}) });
  const gate = gateFor(options);
  gate?.guard(proxy.server);
  await listen(proxy.server, host, options.listenPort);
  port = (proxy.server.address() as net.AddressInfo).port;
  return {
    mode,
    host,
    port,
    url: `http://${shownHost}:${port}/`,
    ...(ca ? { ca } : {}),
    leafIssueMs: () => issuer?.issueMs.slice() ?? [],
    close: () =>
      new Promise<void>((resolve) => {
        proxy.server.close(() => resolve());
        gate?.close();
        void proxy.close(CLOSE_SETTLE_MS);
      }).then(() => proxy.close(CLOSE_SETTLE_MS)),
  };
}

/** The name a leaf is issued for when a client sends no SNI: the listen host, or localhost for a wildcard address. */
function listenName(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === '' ? 'localhost' : host.replace(/^\[|\]$/g, '');
}

/**
 * What the reverse listener serves to TLS clients: the certificates given (--cert), or leaves from
 * the CA for the name asked (with the listen host, localhost, 127.0.0.1 and ::1 on every one).
 * None without either: the listener then speaks plain HTTP only.
 */
function listenerTls(options: ProxyOptions, log: (line: string) => void): { tls: ClientTls; issuer?: LeafIssuer; ca?: CaInfo } | undefined {
  if (options.certs && options.certs.length > 0) {
    const byHost = new Map<string, tls.SecureContext>();
    let fallback: tls.SecureContext | undefined;
    for (const c of options.certs) {
      const context = tls.createSecureContext({ cert: c.pem, key: c.pem });
      if (c.host === undefined) fallback ??= context;
      else byHost.set(c.host.toLowerCase(), context);
    }
    const any = fallback ?? byHost.values().next().value!;
    return { tls: { contextFor: (servername) => (servername && byHost.get(servername.toLowerCase())) || any } };
  }
  if (!options.caDir) return undefined;
  let loaded: ReturnType<typeof ensureCa>;
  try {
    loaded = ensureCa(options.caDir);
  } catch (err) {
    // The relay itself does not need the CA: without one, the listener speaks plain HTTP only.
    log(`davtap: no https on the listener, plain http only: ${(err as Error).message} (give a writable --ca-dir DIR, or --cert FILE)`);
    return undefined;
  }
  // A CA created or replaced is not announced here: the start-up line names the CA in reverse mode.
  const name = listenName(options.listenHost);
  const issuer = new LeafIssuer(loaded, { alsoNames: [name, 'localhost', '127.0.0.1', '::1'] });
  // The leaf most clients ask for is issued now, not on the event loop of a first client (a leaf
  // holds the event loop about 1.5 ms, bench/RESULTS.md ## ca; each other name is issued once, on
  // first use, and cached).
  issuer.contextFor(name);
  return { tls: { contextFor: (servername) => issuer.contextFor(servername ?? name) }, issuer, ca: loaded.info };
}

/** The admission check, or none when every client may connect (reverse mode's default). */
function gateFor(options: ProxyOptions): ClientGate | undefined {
  const mode: Mode = options.upstream ? 'reverse' : 'forward';
  const allowed = options.clientAllowed ?? (mode === 'forward' ? isLoopbackAddress : undefined);
  if (!allowed) return undefined;
  return new ClientGate({ mode, allowed, hooks: options.hooks, log: options.log ?? (() => {}) });
}

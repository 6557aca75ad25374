// Starts davtap's listener in reverse mode (--upstream) or forward mode (explicit proxy + MITM).
import http from 'node:http';
import type net from 'node:net';
import { WireReverseProxy } from './wire/reverse.js';
import { ListenError } from '../errors.js';
import type { Mode } from '../types.js';
import { Relay, type RelayOptions } from './relay.js';
import type { ProxyHooks } from './hooks.js';
import { reverseHandler } from './reverse.js';
import { ForwardProxy } from './forward.js';
import { ensureCa, LeafIssuer, type CaInfo } from './ca.js';
import { clientErrorHandler } from './client-errors.js';
import { answerHalfClosedClients } from './half-close.js';
import { ClientGate, type ClientAllowed } from './client-access.js';
import { isLoopbackAddress } from './address-range.js';
import { restoreMethod, shimMethods } from './method-shim.js';

export type { ProxyHooks } from './hooks.js';
export type { ClientAllowed } from './client-access.js';

export interface ProxyOptions {
  listenHost: string;
  /** 0 picks a free port. */
  listenPort: number;
  /** Reverse mode when set. */
  upstream?: URL;
  /** Forward mode: where the interception CA lives. */
  caDir?: string;
  insecureUpstream?: boolean;
  maxBody: number;
  maxRequestBody: number;
  upstreamTimeoutMs?: number;
  /** How long a client may take to send a request head, from its first byte (default 30 s; 0 = no limit). */
  headTimeoutMs?: number;
  /**
   * Relays methods outside Node's parser table (ORDERPATCH, VERSION-CONTROL…) (default true):
   * reverse mode reads them itself (wire/), forward mode through the framing-aware shim in
   * method-shim.ts. False relays through Node without the shim in both modes; Node refuses such
   * methods, and davtap then answers 501 and records the request.
   */
  anyMethod?: boolean;
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

/**
 * node:http's own head deadline (its clientError ERR_HTTP_REQUEST_TIMEOUT becomes a recorded 408).
 * requestTimeout 0: uploads and downloads through a proxy may legitimately take longer than Node's
 * default five minutes; the upstream idle timeout covers a server that went silent.
 */
export function nodeServerTimeouts(headTimeoutMs: number): http.ServerOptions {
  if (headTimeoutMs <= 0) return { requestTimeout: 0, headersTimeout: 0 };
  return { requestTimeout: 0, headersTimeout: headTimeoutMs, connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(headTimeoutMs / 4))) };
}

/** How long close() waits for exchanges cut by it to hand over their flows. */
const CLOSE_SETTLE_MS = 2_000;

export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const log = options.log ?? (() => {});
  const anyMethod = options.anyMethod ?? true;
  // Reverse mode relays on raw sockets (wire/reverse.ts) unless fault injection, which rebuilds
  // responses, or node:http's method table (anyMethod false) is asked for.
  const relayOptions: RelayOptions = {
    maxBody: options.maxBody,
    maxRequestBody: options.maxRequestBody,
    upstreamTimeoutMs: options.upstreamTimeoutMs ?? 120_000,
    headTimeoutMs: options.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS,
    insecureUpstream: options.insecureUpstream ?? false,
    hooks: options.hooks,
    log,
  };
  const gate = gateFor(options);
  if (options.upstream && anyMethod && !options.hooks.injectFor) return startWireReverse(options, options.upstream, relayOptions, gate);
  const mode: Mode = options.upstream ? 'reverse' : 'forward';
  const relay = new Relay(mode, relayOptions);
  const server = http.createServer(nodeServerTimeouts(relayOptions.headTimeoutMs));
  server.on('clientError', clientErrorHandler(mode, options.hooks, log));
  answerHalfClosedClients(server);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    // Any method token is relayed, not only those in Node's table (method-shim.ts).
    if (anyMethod) shimMethods(s);
  });

  let ca: CaInfo | undefined;
  let issuer: LeafIssuer | undefined;
  let forward: ForwardProxy | undefined;
  if (options.upstream) {
    const relayReverse = reverseHandler(relay, options.upstream, `${options.listenHost}:${options.listenPort}`);
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      restoreMethod(req);
      relayReverse(req, res);
    };
    server.on('request', handler);
    server.on('checkContinue', handler);
  } else {
    if (!options.caDir) throw new Error('forward mode needs a CA directory');
    const loaded = ensureCa(options.caDir);
    ca = loaded.info;
    if (ca.created) log(`davtap: ${ca.replacedBecause ? `replaced the CA (${ca.replacedBecause})` : 'created a new CA'}: ${ca.certPath}`);
    issuer = new LeafIssuer(loaded);
    forward = new ForwardProxy(relay, issuer, { host: options.listenHost, port: () => port }, log, anyMethod);
    server.on('request', forward.onRequest);
    server.on('checkContinue', forward.onRequest);
    server.on('connect', forward.onConnect);
    forward.innerServer.on('clientError', clientErrorHandler(mode, options.hooks, log));
    forward.innerServer.on('connection', (s: net.Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
  }
  gate?.guard(server);

  await listen(server, options.listenHost, options.listenPort);
  const address = server.address() as net.AddressInfo;
  const port = address.port;
  const host = options.listenHost;
  const shownHost = host.includes(':') ? `[${host}]` : host;

  return {
    mode,
    host,
    port,
    url: `http://${shownHost}:${port}/`,
    ...(ca ? { ca } : {}),
    leafIssueMs: () => issuer?.issueMs.slice() ?? [],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        forward?.innerServer.close();
        for (const s of sockets) s.destroy();
        gate?.close();
        relay.close();
      }).then(() => relay.settled(CLOSE_SETTLE_MS)),
  };
}

/** The admission check, or none when every client may connect (reverse mode's default). */
function gateFor(options: ProxyOptions): ClientGate | undefined {
  const mode: Mode = options.upstream ? 'reverse' : 'forward';
  const allowed = options.clientAllowed ?? (mode === 'forward' ? isLoopbackAddress : undefined);
  if (!allowed) return undefined;
  return new ClientGate({ mode, allowed, hooks: options.hooks, log: options.log ?? (() => {}) });
}

async function startWireReverse(options: ProxyOptions, upstream: URL, relayOptions: RelayOptions, gate: ClientGate | undefined): Promise<RunningProxy> {
  const shownHost = options.listenHost.includes(':') ? `[${options.listenHost}]` : options.listenHost;
  let port = options.listenPort;
  const proxy = new WireReverseProxy({ ...relayOptions, upstream, listenAuthority: () => `${shownHost}:${port}` });
  gate?.guard(proxy.server);
  await listen(proxy.server, options.listenHost, options.listenPort);
  port = (proxy.server.address() as net.AddressInfo).port;
  return {
    mode: 'reverse',
    host: options.listenHost,
    port,
    url: `http://${shownHost}:${port}/`,
    leafIssueMs: () => [],
    close: () =>
      new Promise<void>((resolve) => {
        proxy.server.close(() => resolve());
        gate?.close();
        void proxy.close(CLOSE_SETTLE_MS);
      }).then(() => proxy.close(CLOSE_SETTLE_MS)),
  };
}

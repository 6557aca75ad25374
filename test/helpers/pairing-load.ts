// Pairing under concurrency, measured against ground truth the pairing never reads: the origin (a
// real WebDAV server, webdav-server) stamps every answer with a nonce of its own in a response
// header (X-Origin-Nonce: a counter), which an honest gateway passes on. A front flow is paired
// right when its back flow's answer carries the same nonce as the answer the client got; for a
// gateway that leaves bodies alone, the two response bodies must also be byte for byte equal.
// One path, /dav/nonce, is answered by the origin with the nonce in the body too: the same request
// from every client at once then gets a different answer each.
// The load: C clients, each on one keep-alive connection, in rounds started together; half the
// rounds send the same request from every client at the same moment (same method, target and
// body: only order and time can tell them apart), the others a request of each client's own.
import http from 'node:http';
import type net from 'node:net';
import webdav from 'webdav-server';
import { startSandwich, type Sandwich } from '../../src/sandwich/run.js';
import type { Flow } from '../../src/types.js';
import { firstHeader } from '../../src/http/headers.js';
import { startGateway, type GatewayBehaviour } from './gateway.js';

export const NONCE_HEADER = 'X-Origin-Nonce';
const NONCE_PATH = '/dav/nonce';
const FILES = 8;

export interface NonceOrigin {
  url: string;
  port: number;
  /** Answers sent so far (each with its own nonce). */
  answered(): number;
  close(): Promise<void>;
}

/**
 * webdav-server on 127.0.0.1 with /dav/docs/f0.txt … f7.txt; every answer carries a fresh nonce
 * header. With `jitterMs`, each request waits a random 0…jitterMs first, so that the same requests
 * sent together are answered in any order (the gateway's requests to the origin end out of order).
 */
export async function startNonceOrigin(options: { jitterMs?: number } = {}): Promise<NonceOrigin> {
  const dav = new webdav.v2.WebDAVServer({ requireAuthentification: false });
  await dav.setFileSystemAsync('/dav', new webdav.v2.VirtualFileSystem());
  let nonce = 0;
  const sockets = new Set<net.Socket>();
  let jitter = 0;
  const server = http.createServer((req, res) => {
    res.setHeader(NONCE_HEADER, String(++nonce));
    if (req.url === NONCE_PATH && req.method === 'GET') {
      const body = `nonce ${nonce}\n`;
      const answer = () => res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(body.length) }).end(body);
      if (jitter > 0) setTimeout(answer, Math.random() * jitter);
      else answer();
      return;
    }
    if (jitter > 0) setTimeout(() => dav.executeRequest(req, res), Math.random() * jitter);
    else dav.executeRequest(req, res);
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const agent = new http.Agent({ keepAlive: false });
  await send(agent, `${url}/dav/docs/`, 'MKCOL');
  for (let i = 0; i < FILES; i++) await send(agent, `${url}/dav/docs/f${i}.txt`, 'PUT', {}, `file ${i}\n`);
  jitter = options.jitterMs ?? 0;
  return {
    url,
    port,
    answered: () => nonce,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Reply {
  status: number;
}

function send(agent: http.Agent, url: string, method: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: body !== undefined ? { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } : headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${url}: no answer in 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

const PROPFIND_ALL = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';
const PROPFIND_SOME = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontentlength/></D:prop></D:propfind>';
const proppatch = (value: string) => `<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x-davtap:load"><D:set><D:prop><Z:v>${value}</Z:v></D:prop></D:set></D:propertyupdate>`;

interface LoadRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Round `round`'s request for client `c`: rounds 0, 2, 4 … are the same request from every client. */
export function loadRequest(round: number, c: number): LoadRequest {
  switch (round % 8) {
    case 0:
      return { method: 'PROPFIND', path: '/dav/docs/', headers: { Depth: '1', 'Content-Type': 'application/xml' }, body: PROPFIND_ALL };
    case 1:
      return { method: 'GET', path: `/dav/docs/f${c % FILES}.txt` };
    case 2:
      return { method: 'GET', path: '/dav/docs/f0.txt' };
    case 3:
      return { method: 'PROPPATCH', path: `/dav/docs/f${c % FILES}.txt`, headers: { 'Content-Type': 'application/xml' }, body: proppatch(`${c}-${round}`) };
    case 4:
      return { method: 'PROPFIND', path: '/dav/docs/f1.txt', headers: { Depth: '0', 'Content-Type': 'application/xml' }, body: PROPFIND_SOME };
    case 5:
      return { method: 'PROPFIND', path: `/dav/docs/f${c % FILES}.txt`, headers: { Depth: '0' } };
    case 6:
      return { method: 'GET', path: NONCE_PATH };
    default:
      return { method: 'PUT', path: `/dav/docs/p${c}.txt`, body: `${c}-${round}\n` };
  }
}

export interface PairingLoadOptions {
  /** Requests in all (rounded down to a multiple of `clients`). */
  requests: number;
  clients: number;
  /** The gateway between the legs: the Node test gateway with this behaviour, or a URL whose upstream is `backPort`. */
  gateway: { behaviour: GatewayBehaviour; holdMs?: number } | { url: string; backPort: number };
  /** The origin (started by the caller, shared between runs). */
  origin: NonceOrigin;
  windowMs?: number;
}

export interface PairingLoadResult {
  requests: number;
  clients: number;
  seconds: number;
  /** Front flows paired with a back flow whose answer is not the one the client got (nonce or body differs). */
  mismatched: number;
  /** Front flows the sandwich decided the gateway answered itself. */
  frontOnly: number;
  /** Back flows no front flow claimed. */
  backOnly: number;
  paired: number;
  /** Pairs whose request method, target or body differ between the legs (should be none). */
  requestMismatches: number;
  /** Pairs whose response bodies differ (for an honest gateway: a wrong pair, or a changed body). */
  bodyMismatches: number;
  /** Mismatched pairs whose two answers were the same bytes (the same request answered alike: nothing tells them apart). */
  alikeMismatches: number;
  /** Requests of the rounds where every client sent the same request at once. */
  identical: number;
  failedRequests: number;
}

const nonceOf = (f: Flow | undefined): string | undefined => (f?.response ? firstHeader(f.response.rawHeaders, NONCE_HEADER) : undefined);

/** Drives the load through a sandwich around the gateway and checks every pair against the origin's nonce. */
export async function runPairingLoad(opts: PairingLoadOptions): Promise<PairingLoadResult> {
  const gw = 'behaviour' in opts.gateway ? await startGateway(opts.gateway.behaviour) : undefined;
  const flows = new Map<string, Flow>();
  const pairs: { front: Flow; back: Flow | undefined }[] = [];
  let sandwich: Sandwich | undefined;
  const agents: http.Agent[] = [];
  try {
    sandwich = await startSandwich({
      front: { host: '127.0.0.1', port: 0 },
      back: { host: '127.0.0.1', port: 'backPort' in opts.gateway ? opts.gateway.backPort : 0 },
      gateway: new URL(gw ? gw.url : (opts.gateway as { url: string }).url),
      origin: new URL(opts.origin.url),
      legs: { maxBody: 1024 * 1024, maxRequestBody: 1024 * 1024 },
      windowMs: opts.windowMs ?? 5_000,
      hooks: { onFlow: (f) => void flows.set(f.id, f) },
      onPair: (front, back) => pairs.push({ front, back }),
    });
    if (gw) {
      gw.upstream = new URL(sandwich.back.url);
      gw.holdMs = ('holdMs' in opts.gateway ? opts.gateway.holdMs : undefined) ?? 0;
    }
    const front = sandwich.front.url.replace(/\/$/, '');
    const rounds = Math.floor(opts.requests / opts.clients);
    let failed = 0;
    let identical = 0;
    const t0 = performance.now();
    for (let c = 0; c < opts.clients; c++) agents.push(new http.Agent({ keepAlive: true, maxSockets: 1 }));
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) identical += opts.clients;
      await Promise.all(
        agents.map(async (agent, c) => {
          const r = loadRequest(round, c);
          try {
            await send(agent, `${front}${r.path}`, r.method, r.headers, r.body);
          } catch {
            failed++;
          }
        }),
      );
    }
    const total = rounds * opts.clients;
    const deadline = Date.now() + 30_000;
    while (pairs.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const seconds = (performance.now() - t0) / 1000;
    await sandwich.close();
    const s = sandwich.stats();
    let mismatched = 0;
    let requestMismatches = 0;
    let bodyMismatches = 0;
    let alikeMismatches = 0;
    for (const { front: f, back } of pairs) {
      if (!back) continue;
      const b = flows.get(back.id) ?? back;
      const fn = nonceOf(f);
      const sameBody = !!b.response && !!f.response && b.response.body.bytes.equals(f.response.body.bytes);
      if (fn === undefined || fn !== nonceOf(b)) {
        mismatched++;
        if (sameBody) alikeMismatches++;
      }
      if (b.request.method !== f.request.method || new URL(b.request.url).pathname !== new URL(f.request.url).pathname || !b.request.body.bytes.equals(f.request.body.bytes)) requestMismatches++;
      if (!sameBody) bodyMismatches++;
    }
    return { requests: total, clients: opts.clients, seconds, mismatched, frontOnly: s.frontOnly, backOnly: s.backOnly, paired: s.paired, requestMismatches, bodyMismatches, alikeMismatches, identical, failedRequests: failed };
  } finally {
    for (const a of agents) a.destroy();
    await sandwich?.close();
    await gw?.close();
  }
}

// A client connection whose first bytes decide how it is read: a TLS ClientHello (first byte 0x16,
// a handshake record) is terminated with a certificate davtap serves, so that the WebDAV exchanges
// inside are relayed and analysed like any other; anything else is plain HTTP. Two places use it:
// - CONNECT in forward mode: davtap answers 200, then serves the tunnel with a leaf from its CA for
//   the tunnel's host (the MITM);
// - the reverse-mode listener, when a certificate source is set: https and http on the same port,
//   as mitmproxy's reverse mode does.
// Either way the result is a client connection of its own, on the same relay.
import type net from 'node:net';
import tls from 'node:tls';
import type { Mode } from '../../types.js';
import { recordTlsFailure } from '../client-errors.js';
import { ClientConnection } from './connection.js';
import type { WireProxy } from './proxy.js';
import type { Router } from './routes.js';

/** How long a connection may wait for its first byte. */
const FIRST_BYTE_MS = 60_000;

/** The certificates davtap serves to TLS clients. */
export interface ClientTls {
  /** The context for the name a client asked for (SNI), or for none. */
  contextFor(servername: string | undefined): tls.SecureContext;
}

/** Where the connection leads, read or TLS-terminated, and what a failed handshake is recorded as. */
export interface FirstBytesPlan {
  plain: Router;
  secure: Router;
  tls: ClientTls | undefined;
  /** The request a failed handshake is recorded under (CONNECT host:port for a tunnel). */
  recordAs: { mode: Mode; method: string; target: string };
}

export function serveByFirstBytes(proxy: WireProxy, socket: net.Socket, peer: { address: string; port: number }, plan: FirstBytesPlan, first: Buffer | null): void {
  const start = (bytes: Buffer) => {
    socket.setTimeout(0);
    socket.off('timeout', onTimeout);
    socket.pause();
    if (bytes[0] === 0x16 && plan.tls) {
      socket.unshift(bytes);
      terminateTls(proxy, socket, peer, plan, plan.tls);
      return;
    }
    const connection = new ClientConnection(proxy, socket, plan.plain, peer);
    proxy.adopt(connection);
    connection.receive(bytes);
    socket.resume();
  };
  const onTimeout = () => socket.destroy();
  if (first && first.length > 0) {
    start(first);
    return;
  }
  // Until its first byte, the socket belongs to no client connection: the proxy holds it, so that
  // its close() ends it too, and a client that leaves without a byte (FIN) is closed at once.
  const waiting = proxy.holdUntilFirstByte(socket);
  const gone = () => socket.destroy();
  socket.setTimeout(FIRST_BYTE_MS);
  socket.on('timeout', onTimeout);
  socket.on('error', gone);
  socket.once('end', gone);
  socket.once('data', (bytes: Buffer) => {
    waiting.release();
    socket.off('error', gone);
    socket.off('end', gone);
    start(bytes);
  });
  socket.resume();
}

/** Codes of a connection that went away during the handshake without saying why: not recorded. */
const SILENT = new Set(['ECONNRESET', 'EPIPE', 'ERR_SSL_WRONG_VERSION_NUMBER']);

function terminateTls(proxy: WireProxy, socket: net.Socket, peer: { address: string; port: number }, plan: FirstBytesPlan, source: ClientTls): void {
  const { log, hooks } = proxy.options;
  let secure: tls.TLSSocket;
  try {
    secure = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: source.contextFor(undefined),
      ALPNProtocols: ['http/1.1'],
      SNICallback: (servername, cb) => {
        try {
          cb(null, source.contextFor(servername || undefined));
        } catch (err) {
          cb(err as Error, undefined);
        }
      },
    });
  } catch (err) {
    log(`davtap: no certificate for ${plan.recordAs.target}: ${(err as Error).message}`);
    socket.destroy();
    return;
  }
  let established = false;
  const client: { address: string; port: number; tls: { sni?: string } } = { ...peer, tls: {} };
  secure.once('secure', () => {
    established = true;
    const sni = secure.servername;
    if (typeof sni === 'string' && sni !== '') client.tls.sni = sni;
  });
  secure.on('error', (err: NodeJS.ErrnoException) => {
    const name = typeof secure.servername === 'string' && secure.servername !== '' ? secure.servername : plan.recordAs.target;
    log(`davtap: TLS with client ${peer.address}:${peer.port} for ${name} failed: ${err.message}`);
    if (!established && !SILENT.has(err.code ?? '')) {
      const alert = /ALERT_([A-Z_]+)$/.exec(err.code ?? '')?.[1]?.toLowerCase().replace(/_/g, ' ');
      const message = alert
        ? `the client rejected davtap's certificate for ${name} (TLS alert: ${alert}): make it trust davtap's CA (davtap ca prints where it is; certs/README.md says how, per platform)`
        : `TLS handshake with the client failed for ${name}: ${err.message}`;
      const sni = typeof secure.servername === 'string' && secure.servername !== '' ? { sni: secure.servername } : {};
      recordTlsFailure(hooks, log, plan.recordAs.mode, { ...peer, tls: sni }, plan.recordAs, err.code ?? 'ETLS', message);
    }
    secure.destroy();
  });
  proxy.adopt(new ClientConnection(proxy, secure, plan.secure, client, socket));
}

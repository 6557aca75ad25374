// CONNECT in forward mode: davtap answers 200 and reads what the client sends through the tunnel.
// A TLS ClientHello is terminated with a leaf certificate from davtap's CA (ca.ts), so that the
// WebDAV exchanges inside are relayed and analysed like any other; anything else is plain HTTP
// sent through the tunnel and served as is. Either way the tunnel is a client connection of its
// own, on the same relay, with a router for the tunnel's origin.
import type net from 'node:net';
import tls from 'node:tls';
import { ClientConnection } from './connection.js';
import type { WireProxy } from './proxy.js';
import { tunnelRouter } from './routes.js';

/** How long an open tunnel may wait for its first byte. */
const FIRST_BYTE_MS = 60_000;

export function openTunnel(proxy: WireProxy, socket: net.Socket, peer: { address: string; port: number }, target: { host: string; port: number }, first: Buffer | null): void {
  const { log, issuer } = proxy.options;
  const start = (bytes: Buffer) => {
    socket.setTimeout(0);
    socket.off('timeout', onTimeout);
    socket.pause();
    // A TLS ClientHello starts with 0x16 (a handshake record).
    if (bytes[0] === 0x16 && issuer) {
      socket.unshift(bytes);
      let secure: tls.TLSSocket;
      try {
        secure = new tls.TLSSocket(socket, {
          isServer: true,
          secureContext: issuer.contextFor(target.host),
          SNICallback: (servername, cb) => {
            try {
              cb(null, issuer.contextFor(servername || target.host));
            } catch (err) {
              cb(err as Error, undefined);
            }
          },
        });
      } catch (err) {
        log(`davtap: no certificate for ${target.host}: ${(err as Error).message}`);
        socket.destroy();
        return;
      }
      secure.on('error', (err) => {
        log(`davtap: TLS with client for ${target.host} failed: ${err.message}`);
        secure.destroy();
      });
      proxy.adopt(new ClientConnection(proxy, secure, tunnelRouter(target.host, target.port, true), peer, socket));
      return;
    }
    const connection = new ClientConnection(proxy, socket, tunnelRouter(target.host, target.port, false), peer);
    proxy.adopt(connection);
    connection.receive(bytes);
    socket.resume();
  };
  const onTimeout = () => socket.destroy();
  if (first && first.length > 0) {
    start(first);
    return;
  }
  socket.setTimeout(FIRST_BYTE_MS);
  socket.on('timeout', onTimeout);
  socket.on('error', () => socket.destroy());
  socket.once('data', start);
  socket.resume();
}

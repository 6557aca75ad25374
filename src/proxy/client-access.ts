// Who may use davtap: the check at connection accept, in front of the relay in every mode.
//
// Why at accept and not per request: a refused connection never reaches an HTTP parser, a relay or
// a CONNECT tunnel, so no path through davtap can forget the check. The gate reads the first
// request head itself, only to answer it 403 and record it as a flow; nothing is relayed.
import type net from 'node:net';
import type { Mode } from '../types.js';
import type { ProxyHooks } from './hooks.js';
import { recordRefusal, textReply } from './client-errors.js';
import { findHeadEnd } from '../http/message.js';

/** Decides by the client's address (as the socket reports it) whether it may use davtap. */
export type ClientAllowed = (address: string) => boolean;

/** The outcome code of a flow refused because of its client's address. */
export const CLIENT_REFUSED_CODE = 'EREMOTE';

/** How long a refused client may take to send its request head before it is answered anyway. */
const HEAD_WAIT_MS = 5_000;
/** How long a refused connection stays open after the answer, so the client reads it before the close. */
const LINGER_MS = 2_000;
/** The most of a refused client's head that is read and recorded. */
const MAX_HEAD = 16 * 1024;

export interface ClientGateOptions {
  mode: Mode;
  allowed: ClientAllowed;
  hooks: ProxyHooks;
  log: (line: string) => void;
}

export class ClientGate {
  /** The refused connections still open, each with what records its flow. */
  private readonly refused = new Map<net.Socket, () => void>();

  constructor(private readonly options: ClientGateOptions) {}

  /**
   * Puts the check in front of `server`: its 'connection' listeners (the HTTP server's own, the
   * relay's) are moved behind it and see only admitted clients. Call once every listener is on.
   */
  guard(server: net.Server): void {
    const listeners = server.listeners('connection') as Array<(socket: net.Socket) => void>;
    server.removeAllListeners('connection');
    server.on('connection', (socket: net.Socket) => {
      if (this.admits(socket)) for (const listener of listeners) listener.call(server, socket);
      else this.refuse(socket);
    });
  }

  admits(socket: net.Socket): boolean {
    const address = socket.remoteAddress;
    return address !== undefined && this.options.allowed(address);
  }

  /** Ends the refused connections still open; their flows are recorded before this returns. */
  close(): void {
    for (const [socket, record] of this.refused) {
      record();
      socket.destroy();
    }
  }

  /** Answers the connection's first request 403, records it, and closes the connection. */
  private refuse(socket: net.Socket): void {
    const { mode, hooks, log } = this.options;
    const client = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    let head = Buffer.alloc(0);
    let answered = false;
    let recorded = false;
    const message = `${client.address || 'this client'} is not among the clients allowed to use this proxy (--allow-remote)`;
    const record = () => {
      if (recorded) return;
      recorded = true;
      const end = findHeadEnd(head);
      recordRefusal(hooks, log, mode, client, head.toString('latin1', 0, end >= 0 ? end : head.length), CLIENT_REFUSED_CODE, message);
    };
    this.refused.set(socket, record);
    const answer = () => {
      if (answered) return;
      answered = true;
      clearTimeout(headTimer);
      // A TLS ClientHello (first byte 0x16) cannot be answered in plain text: the connection is closed.
      if (head[0] === 0x16 || !socket.writable) socket.destroy();
      else {
        socket.end(textReply(403, 'Forbidden', `forbidden: ${message}`, true));
        setTimeout(() => socket.destroy(), LINGER_MS).unref();
      }
      record();
    };
    const headTimer = setTimeout(answer, HEAD_WAIT_MS);
    headTimer.unref();
    socket.on('data', (chunk: Buffer) => {
      // After the answer, what the client still sends (a request body) is read and dropped, so
      // that unread bytes do not turn the close into a reset that could discard the 403.
      if (answered) return;
      head = Buffer.concat([head, chunk]).subarray(0, MAX_HEAD);
      if (head[0] === 0x16 || head.length >= MAX_HEAD || findHeadEnd(head) >= 0) answer();
    });
    socket.on('end', () => {
      answer();
      socket.end();
    });
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      clearTimeout(headTimer);
      this.refused.delete(socket);
      record();
    });
  }
}

// The half-close rule of the raw-socket relay (wire/reverse.ts), for the node:http servers that
// still carry forward mode and --inject: a client that shuts its sending side after whole requests
// (shutdown(SHUT_WR), `nc -N`) still reads, so its requests are answered before the connection
// ends; a FIN while a response is already streaming is a client that went away (a half-closed one
// cannot be told from a closed one then, and a stalled upstream would hold the flow open).
import type http from 'node:http';
import type net from 'node:net';

const EMPTY = Buffer.alloc(0);
/** How long after the answer a client that sent FIN has to reset it, if it had closed altogether. */
const RESET_WINDOW_MS = 100;

export function answerHalfClosedClients(server: http.Server): void {
  // Node's server aborts every request of a connection at the client's FIN unless this is set;
  // with it, it answers them and ends the connection after the last.
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  const answering = new Map<net.Socket, Set<http.ServerResponse>>();
  const track = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    let set = answering.get(socket);
    if (!set) {
      const fresh = new Set<http.ServerResponse>();
      answering.set(socket, fresh);
      set = fresh;
      socket.once('close', () => answering.delete(socket));
      socket.on('end', () => {
        for (const r of fresh) if (r.headersSent && !r.writableFinished) socket.destroy();
      });
    }
    set.add(res);
    res.once('close', () => set.delete(res));
  };
  server.prependListener('request', track);
  server.prependListener('checkContinue', track);
}

/**
 * Before the end of an answer to a client that sent FIN: one that only half-closed reads it; one
 * that closed altogether (it gave up waiting) resets the bytes it was sent, within a round trip.
 * An empty write after that window fails on a reset socket (EPIPE) and sends nothing otherwise:
 * `then` runs only when the client is still there (else its socket closes with the error, and the
 * exchange records the client's departure).
 */
export function whenClientStillThere(socket: net.Socket, then: () => void): void {
  if (!socket.readableEnded) {
    then();
    return;
  }
  setTimeout(() => {
    if (socket.destroyed) return;
    socket.write(EMPTY, (err) => {
      if (!err) then();
    });
  }, RESET_WINDOW_MS).unref();
}

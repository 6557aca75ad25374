// A client on a raw socket, for tests that write exact bytes and read exactly what comes back.
import net from 'node:net';
import type { ExecutionContext } from 'ava';

export interface RawClient {
  socket: net.Socket;
  /** Everything received so far. */
  text(): string;
  /** Resolves once the received text satisfies `done` (bounded: 5 s). */
  until(done: (text: string) => boolean): Promise<string>;
  closed: Promise<void>;
}

export async function rawClient(t: ExecutionContext, port: number): Promise<RawClient> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  t.teardown(() => socket.destroy());
  return { socket, ...readRaw(socket) };
}

/** Everything a socket (plain or TLS) receives, and waits on it. */
export function readRaw(socket: net.Socket): Omit<RawClient, 'socket'> {
  let received = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1');
    for (const w of waiters.splice(0)) w();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    text: () => received,
    closed,
    async until(done) {
      const deadline = Date.now() + 5_000;
      while (!done(received)) {
        if (Date.now() > deadline) throw new Error(`no match after 5 s; received: ${JSON.stringify(received)}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return received;
    },
  };
}

// Starts a server on a free loopback port for one test, and at the test's end closes it with every
// connection it still has (server.close() alone would wait for kept-alive ones).
import type net from 'node:net';

export async function listenForTest(t: { teardown(fn: () => Promise<void> | void): void }, server: net.Server): Promise<number> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

// A real WebDAV server in-process (the webdav-server package) on 127.0.0.1 and a free port.
import http from 'node:http';
import type net from 'node:net';
import webdav from 'webdav-server';

export interface DavServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startDavServer(): Promise<DavServer> {
  const dav = new webdav.v2.WebDAVServer({ requireAuthentification: false });
  await dav.setFileSystemAsync('/dav', new webdav.v2.VirtualFileSystem());
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => dav.executeRequest(req, res));
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// An origin answering PROPFIND with a Depth-infinity listing of a given size (the large-body part
// of bench/perf.bench.ts and its profile, bench/perf-profile-large.ts).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An origin answering PROPFIND with a Depth-infinity style 207 of `bytes` (Content-Length framed,
 * each `<response>` an Apache-style file with its props), generated once up front so that the
 * origin itself is not what limits the rate; written as fast as the connection drains.
 */
export async function startListingOrigin(bytes: number): Promise<{ url: string; close(): Promise<void> }> {
  const open = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n';
  const close = '</D:multistatus>\n';
  const one = (i: number) =>
    `<D:response><D:href>/tree/dir-${Math.floor(i / 1000)}/file-${i}.txt</D:href><D:propstat><D:prop><D:resourcetype/>` +
    `<D:getcontentlength>${i % 9000}</D:getcontentlength><D:getlastmodified>Mon, 07 Dec 2026 10:00:00 GMT</D:getlastmodified>` +
    `<D:getetag>"${i.toString(16)}-5f1a2b3c"</D:getetag><D:getcontenttype>text/plain</D:getcontenttype></D:prop>` +
    `<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`;
  const parts: Buffer[] = [Buffer.from(open)];
  let size = parts[0]!.length + close.length;
  for (let i = 0; size < bytes; ) {
    let piece = '';
    while (piece.length < 1024 * 1024 && size + piece.length < bytes) piece += one(i++);
    parts.push(Buffer.from(piece));
    size += piece.length;
  }
  parts.push(Buffer.from(close));
  const body = Buffer.concat(parts);
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': String(body.length) });
    let at = 0;
    let ended = false;
    res.on('close', () => (ended = true));
    const pump = () => {
      while (!ended && at < body.length) {
        const piece = body.subarray(at, at + 256 * 1024);
        at += piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!ended) res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

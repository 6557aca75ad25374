// A large 207 Multi-Status saved as a raw HTTP response (chunked, as a server streams a listing),
// for `davtap check` at scale. Deterministic: the same size gives the same bytes. Shaped like
// Apache mod_dav's allprop answer (about 500 bytes per response), with some failures so that the
// partial-failure rules have evidence to cap: every 10th resource a 404 propstat (MS502), every
// 1,000th a whole-resource 403 (MS501).
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

function response(i: number): string {
  const href = i === 0 ? '/dav/big/' : `/dav/big/file-${String(i).padStart(7, '0')}.txt`;
  if (i > 0 && i % 1000 === 0) return `<D:response>\n<D:href>${href}</D:href>\n<D:status>HTTP/1.1 403 Forbidden</D:status>\n</D:response>\n`;
  const missing = i > 0 && i % 10 === 0 ? `<D:propstat>\n<D:prop>\n<D:quota-used-bytes/>\n</D:prop>\n<D:status>HTTP/1.1 404 Not Found</D:status>\n</D:propstat>\n` : '';
  return (
    `<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/">\n<D:href>${href}</D:href>\n<D:propstat>\n<D:prop>\n` +
    (i === 0 ? '<lp1:resourcetype><D:collection/></lp1:resourcetype>\n' : `<lp1:resourcetype/>\n<lp1:getcontentlength>${(i * 37) % 9000}</lp1:getcontentlength>\n`) +
    `<lp1:creationdate>2026-11-21T05:02:49Z</lp1:creationdate>\n<lp1:getlastmodified>Sat, 21 Nov 2026 05:02:49 GMT</lp1:getlastmodified>\n` +
    `<lp1:getetag>"${(i * 7919).toString(16)}-660c2620c6273"</lp1:getetag>\n<D:getcontenttype>text/plain</D:getcontenttype>\n` +
    `<D:lockdiscovery/>\n</D:prop>\n<D:status>HTTP/1.1 200 OK</D:status>\n</D:propstat>\n${missing}</D:response>\n`
  );
}

export interface Big207 {
  bytes: number;
  responses: number;
}

/**
 * Writes a raw 207 to `file`: `responses` responses, or as many as fill about `bytes` bytes of
 * file (whichever is given). Each chunk of the chunked framing holds 128 responses.
 */
export async function writeBig207(file: string, size: { responses?: number; bytes?: number }): Promise<Big207> {
  const out = createWriteStream(file);
  let written = 0;
  const put = async (text: string) => {
    written += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  };
  const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
  await put('HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml; charset="utf-8"\r\nTransfer-Encoding: chunked\r\n\r\n');
  await put(chunk('<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:" xmlns:ns0="DAV:">\n'));
  let i = 0;
  const more = () => (size.responses !== undefined ? i < size.responses : written < (size.bytes ?? 0));
  while (more()) {
    let text = '';
    for (let k = 0; k < 128 && more(); k++) text += response(i++);
    await put(chunk(text));
  }
  await put(chunk('</D:multistatus>\n') + '0\r\n\r\n');
  out.end();
  await once(out, 'close');
  return { bytes: written, responses: i };
}

// Every WebDAV method through davtap, in reverse and in forward mode, against a real WebDAV
// server in-process: the client must see what it sees talking to the server directly.
import test, { type ExecutionContext } from 'ava';
import { startDavServer } from '../helpers/webdav.js';
import { startTestProxy } from '../helpers/proxy.js';
import { curl } from '../helpers/curl.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const propfindBody = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/><D:resourcetype/><D:displayname/></D:prop></D:propfind>';
const proppatchBody = '<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example"><D:set><D:prop><Z:color>blue</Z:color></D:prop></D:set></D:propertyupdate>';
const lockBody = '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>davtap test</D:owner></D:lockinfo>';
const reportBody = '<?xml version="1.0" encoding="utf-8"?><D:expand-property xmlns:D="DAV:"/>';
const searchBody = '<?xml version="1.0" encoding="utf-8"?><D:searchrequest xmlns:D="DAV:"/>';

interface Step {
  name: string;
  args: (base: string) => string[];
}

// A session a WebDAV client would run, ending where it began (so direct and proxied runs match).
const session = (dir: string): Step[] => [
  { name: 'OPTIONS', args: (b) => ['-X', 'OPTIONS', `${b}/dav/`] },
  { name: 'MKCOL', args: (b) => ['-X', 'MKCOL', `${b}/dav/${dir}/`] },
  { name: 'PUT', args: (b) => ['-X', 'PUT', '--data-binary', 'hello davtap\n', `${b}/dav/${dir}/a.txt`] },
  { name: 'GET', args: (b) => [`${b}/dav/${dir}/a.txt`] },
  { name: 'HEAD', args: (b) => ['-I', `${b}/dav/${dir}/a.txt`] },
  { name: 'PROPFIND', args: (b) => ['-X', 'PROPFIND', '-H', 'Depth: 1', '-H', 'Content-Type: application/xml', '--data-binary', propfindBody, `${b}/dav/${dir}/`] },
  { name: 'PROPFIND (no body)', args: (b) => ['-X', 'PROPFIND', '-H', 'Depth: 0', `${b}/dav/${dir}/a.txt`] },
  { name: 'PROPPATCH', args: (b) => ['-X', 'PROPPATCH', '-H', 'Content-Type: application/xml', '--data-binary', proppatchBody, `${b}/dav/${dir}/a.txt`] },
  { name: 'COPY', args: (b) => ['-X', 'COPY', '-H', `Destination: ${b}/dav/${dir}/b.txt`, `${b}/dav/${dir}/a.txt`] },
  { name: 'MOVE', args: (b) => ['-X', 'MOVE', '-H', `Destination: ${b}/dav/${dir}/c.txt`, `${b}/dav/${dir}/b.txt`] },
  { name: 'GET moved', args: (b) => [`${b}/dav/${dir}/c.txt`] },
  { name: 'LOCK', args: (b) => ['-X', 'LOCK', '-H', 'Timeout: Second-60', '-H', 'Content-Type: application/xml', '--data-binary', lockBody, `${b}/dav/${dir}/c.txt`] },
  { name: 'REPORT', args: (b) => ['-X', 'REPORT', '-H', 'Depth: 0', '--data-binary', reportBody, `${b}/dav/${dir}/`] },
  { name: 'SEARCH', args: (b) => ['-X', 'SEARCH', '--data-binary', searchBody, `${b}/dav/${dir}/`] },
  { name: 'unknown method', args: (b) => ['-X', 'PURGE', `${b}/dav/${dir}/`] },
  { name: 'DELETE', args: (b) => ['-X', 'DELETE', `${b}/dav/${dir}/a.txt`] },
  { name: 'PROPFIND after', args: (b) => ['-X', 'PROPFIND', '-H', 'Depth: 1', `${b}/dav/${dir}/`] },
];

/** Status and body of each step, with the per-run parts (base URL, lock tokens, dates) normalized. */
async function run(t: ExecutionContext, base: string, dir: string, extra: string[] = [], otherBase = base): Promise<string[]> {
  const out: string[] = [];
  let lockToken = '';
  for (const step of session(dir)) {
    const r = await curl([...extra, '-w', '\n%{http_code}', ...step.args(base)]);
    t.is(r.code, 0, `${step.name}: ${r.stderr}`);
    let text = r.stdout.toString();
    const token = /(?:opaquelocktoken|urn:uuid):[0-9a-f-]+/.exec(text)?.[0];
    if (token) lockToken = token;
    text = text
      .split(base).join('BASE')
      // Reverse mode relays hrefs as the server wrote them, with the upstream's address.
      .split(otherBase).join('BASE')
      .replace(/<D:getlastmodified>[^<]*<\/D:getlastmodified>|<D:creationdate>[^<]*<\/D:creationdate>|<D:getetag>[^<]*<\/D:getetag>/gi, '')
      .replace(/Date: .*\r\n|Last-Modified: .*\r\n|ETag: .*\r\n/gi, '')
      // Connection management belongs to each hop (RFC 9110 §7.6.1): davtap's own, not relayed.
      .replace(/^(?:Connection|Keep-Alive): .*\r\n/gim, '')
      .replace(/(?:opaquelocktoken|urn:uuid):[0-9a-f-]+/g, 'TOKEN')
      .replace(/nonce="[^"]*"/g, 'nonce=N')
      .replace(/opaque="[^"]*"/g, 'opaque=O')
      .replace(/<D:timeout>[^<]*<\/D:timeout>/gi, '');
    out.push(`${step.name}: ${text}`);
  }
  t.truthy(lockToken, 'the LOCK step returned a lock token');
  // Unlock, so the run leaves nothing behind.
  const unlock = await curl([...extra, '-X', 'UNLOCK', '-H', `Lock-Token: <${lockToken}>`, '-w', '%{http_code}', `${base}/dav/${dir}/c.txt`]);
  out.push(`UNLOCK: ${unlock.stdout.toString()}`);
  return out;
}

test('every method gives the same result direct and through reverse mode', async (t) => {
  const server = await startDavServer();
  t.teardown(() => server.close());
  const direct = await run(t, server.url, 'r');
  const proxy = await startTestProxy(t, { upstream: new URL(server.url) });
  const proxied = await run(t, proxy.url.replace(/\/$/, ''), 'r2', [], server.url);
  t.deepEqual(proxied.map((s) => s.replace(/\br2\b/g, 'r')), direct);
  const flows = await proxy.waitForFlows(18);
  t.deepEqual(
    [...new Set(flows.map((f) => f.request.method))].sort(),
    ['COPY', 'DELETE', 'GET', 'HEAD', 'LOCK', 'MKCOL', 'MOVE', 'OPTIONS', 'PROPFIND', 'PROPPATCH', 'PURGE', 'PUT', 'REPORT', 'SEARCH', 'UNLOCK'],
  );
  t.true(flows.every((f) => f.outcome.kind === 'complete'));
  const propfind = flows.find((f) => f.request.method === 'PROPFIND' && f.response?.status === 207)!;
  t.true(propfind.response!.body.bytes.includes('<D:multistatus'.replace('D:', '')) || propfind.response!.body.bytes.includes('multistatus'));
});

test('every method gives the same result direct and through forward mode', async (t) => {
  const server = await startDavServer();
  t.teardown(() => server.close());
  const caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-ca-'));
  t.teardown(() => fs.rmSync(caDir, { recursive: true, force: true }));
  const direct = await run(t, server.url, 'f');
  const proxy = await startTestProxy(t, { caDir });
  const proxied = await run(t, server.url, 'f2', ['-x', proxy.url]);
  t.deepEqual(proxied.map((s) => s.replace(/\bf2\b/g, 'f')), direct);
  const flows = await proxy.waitForFlows(18);
  t.true(flows.every((f) => f.mode === 'forward' && f.outcome.kind === 'complete'));
  t.true(flows.every((f) => f.request.url.startsWith(server.url)));
});

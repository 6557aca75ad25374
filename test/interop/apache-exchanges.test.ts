// Single exchanges with Apache mod_dav that a relay gets wrong easily, direct vs through davtap in
// reverse mode: a gzip-compressed 207 (Apache compresses 207s only with SetOutputFilter DEFLATE), a
// streamed (chunked) 207, and a DELETE refused with 424 and a multistatus body because a member is
// locked. Status, framing, Content-Encoding and body bytes must be the same either way.
import test from 'ava';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { request, startApache, type ApacheServer } from '../helpers/apache.js';
import { startDavtap, type DavtapProcess } from '../helpers/davtap-process.js';

let apache: ApacheServer | undefined;
let davtap: DavtapProcess | undefined;
let work = '';
const FILES = 300;

const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getetag/></D:prop></D:propfind>\n';
const LOCK_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>' +
  '<D:locktype><D:write/></D:locktype><D:owner>interop</D:owner></D:lockinfo>\n';

test.before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'davtap-exchanges-'));
  apache = await startApache();
  await apache.mkcol('/many/');
  await apache.mkcol('/locked/');
  await apache.put('/locked/member.txt', 'locked member\n');
  for (let i = 0; i < FILES; i++) await writeFile(path.join(apache.dataDir, 'many', `f${i}.txt`), `${i}\n`);
  // Apache's ETags are weak (W/"…") for a second after a write: age the files so that both runs
  // see the same (strong) ETags whatever the timing.
  const past = new Date(Date.now() - 60_000);
  for (let i = 0; i < FILES; i++) await utimes(path.join(apache.dataDir, 'many', `f${i}.txt`), past, past);
  await utimes(path.join(apache.dataDir, 'locked', 'member.txt'), past, past);
  davtap = await startDavtap(['--upstream', apache.url, '--listen', '127.0.0.1:0', '--no-ui', '--db', path.join(work, 'davtap.db')]);
});

test.after.always(async () => {
  await davtap?.stop();
  await apache?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

type Answer = Awaited<ReturnType<typeof request>>;

/** The parts of a response a relay must keep. */
function kept(a: Answer) {
  return {
    status: a.status,
    contentEncoding: a.headers['content-encoding'],
    contentType: a.headers['content-type'],
    transferEncoding: a.headers['transfer-encoding'],
    contentLength: a.headers['content-length'],
    body: a.body.toString('base64'),
  };
}

async function both(method: string, p: string, headers: Record<string, string>, body?: string): Promise<[Answer, Answer]> {
  const direct = await request(new URL(p, apache!.url).href, method, { headers, body });
  const via = await request(`${davtap!.url}${p}`, method, { headers, body });
  return [direct, via];
}

test.serial('a gzip-compressed Depth 1 207 reaches the client compressed and byte-identical', async (t) => {
  const [direct, via] = await both('PROPFIND', '/many/', { Depth: '1', 'Accept-Encoding': 'gzip', 'Content-Type': 'application/xml' }, PROPFIND_BODY);
  t.is(direct.status, 207);
  t.is(direct.headers['content-encoding'], 'gzip', 'the Apache config compresses 207s');
  t.is(gunzipSync(direct.body).toString().match(/<D:response[\s>]/g)?.length, FILES + 1);
  t.deepEqual(kept(via), kept(direct));
});

test.serial('a large streamed (chunked) 207 stays chunked and byte-identical', async (t) => {
  const [direct, via] = await both('PROPFIND', '/many/', { Depth: '1', 'Content-Type': 'application/xml' }, PROPFIND_BODY);
  t.is(direct.status, 207);
  t.is(direct.headers['content-encoding'], undefined);
  t.is(direct.headers['transfer-encoding'], 'chunked', 'mod_dav streams a large multistatus');
  t.is(direct.body.toString().match(/<D:response[\s>]/g)?.length, FILES + 1);
  t.deepEqual(kept(via), kept(direct));
});

test.serial('DELETE over a locked member is refused with 424 and the same multistatus, and deletes nothing', async (t) => {
  const lock = await request(new URL('/locked/member.txt', apache!.url).href, 'LOCK', {
    headers: { 'Content-Type': 'application/xml', Timeout: 'Second-60' },
    body: LOCK_BODY,
  });
  t.is(lock.status, 200);
  const [direct, via] = await both('DELETE', '/locked/', {});
  t.is(direct.status, 424);
  t.regex(direct.body.toString(), /<D:href>\/locked\/member\.txt<\/D:href>\s*<D:status>HTTP\/1\.1 423 Locked<\/D:status>/);
  t.deepEqual(kept(via), kept(direct));
  t.is((await request(new URL('/locked/member.txt', apache!.url).href, 'GET')).status, 200);
});

test.serial('davtap prints one line per exchange above, and counts every resource of both 207s, gzip or not', async (t) => {
  // A flow's line is written when the flow is recorded, just after the response: allow a moment.
  // `0/301 failed`: the analyzer saw all 301 <response>s, through a decoded copy of the gzip body.
  const analysed = new RegExp(`\\bPROPFIND\\b.*\\b207\\b.*\\b0/${FILES + 1} failed`);
  const complete = (ls: string[]) => ls.filter((l) => analysed.test(l)).length >= 2 && ls.some((l) => /\bDELETE\b.*\b424\b/.test(l));
  let lines: string[] = [];
  for (let i = 0; i < 40; i++) {
    lines = davtap!.stdout().split('\n').filter((l) => l.trim() !== '');
    if (complete(lines)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.true(lines.filter((l) => analysed.test(l)).length >= 2, lines.join('\n'));
  t.true(lines.some((l) => /\bDELETE\b.*\b424\b/.test(l)), lines.join('\n'));
});

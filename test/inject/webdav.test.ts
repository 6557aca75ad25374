// Injection in front of a real WebDAV server (the webdav-server package): which flows are injected
// (--inject-filter, the default of every 207), and that everything else stays byte-identical.
import test, { type ExecutionContext } from 'ava';
import { startDavServer } from '../helpers/webdav.js';
import { curl } from '../helpers/curl.js';
import { headerOf, rules, splitResponse, startInjectingProxy } from './harness.js';

async function davWithFiles(t: ExecutionContext, files: number) {
  const server = await startDavServer();
  t.teardown(() => server.close());
  for (let i = 0; i < files; i++) {
    const r = await curl(['-X', 'PUT', '--data-binary', `content of file ${i}\n`, `${server.url}/dav/f${i}.txt`]);
    if (r.code !== 0) throw new Error(`PUT failed: ${r.stderr}`);
  }
  return server;
}

const propfindArgs = (url: string) => ['-i', '-X', 'PROPFIND', '-H', 'Depth: 1', '-H', 'Content-Type: application/xml', '--data-binary', '<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>', url];

/** The body the server itself sends, without davtap in between, with volatile dates masked. */
const stable = (b: Buffer) => b.toString().replace(/<([\w:]*)(getlastmodified|creationdate)>[^<]*</g, '<$1$2>…<');

test('by default only 207s are injected: a GET through the same proxy is byte-identical and unmarked', async (t) => {
  const server = await davWithFiles(t, 3);
  const p = await startInjectingProxy(t, server.url, 'html');
  const get = await curl(['-i', `${p.url}/dav/f1.txt`]);
  t.is(get.code, 0, get.stderr);
  t.is(splitResponse(get.stdout).body.toString(), 'content of file 1\n');
  const pf = await curl(propfindArgs(`${p.url}/dav/`));
  t.is(pf.code, 0, pf.stderr);
  const { head } = splitResponse(pf.stdout);
  t.regex(head, /^HTTP\/1\.1 207/);
  t.is(headerOf(head, 'content-type'), 'text/html; charset=utf-8');
  const flows = await p.waitForFlows(2);
  const byMethod = Object.fromEntries(flows.map((f) => [f.request.method, f]));
  t.is(byMethod.GET!.injected, undefined);
  t.is(byMethod.PROPFIND!.injected, 'html');
  t.true(rules(byMethod.PROPFIND!).includes('MS108'));
  t.deepEqual(rules(byMethod.GET!), []);
});

test('--inject-filter picks the flows: only the matching URL is cut, the other PROPFIND equals the direct answer', async (t) => {
  const server = await davWithFiles(t, 4);
  const p = await startInjectingProxy(t, server.url, 'truncate:responses=2:keep-length', { filter: '~m PROPFIND & ~u /dav/$' });
  const direct = await curl(propfindArgs(`${server.url}/dav/f2.txt`));
  const relayed = await curl(propfindArgs(`${p.url}/dav/f2.txt`));
  t.is(relayed.code, 0);
  t.is(stable(splitResponse(relayed.stdout).body), stable(splitResponse(direct.stdout).body));
  const cut = await curl(propfindArgs(`${p.url}/dav/`));
  t.is(cut.code, 0, cut.stderr);
  const { head, body } = splitResponse(cut.stdout);
  t.is(headerOf(head, 'content-length'), String(body.length));
  t.regex(body.toString(), /<\/(\w+:)?response>$/);
  const flows = await p.waitForFlows(2);
  const injected = flows.filter((f) => f.injected !== undefined);
  t.is(injected.length, 1);
  t.is(injected[0]!.request.target, '/dav/');
  t.is(injected[0]!.analysis!.resources.length, 2);
  // The cut adds MS006 to what the server's own answers raise (its absolute hrefs on the backend's
  // authority are reported whether injected or not).
  const clean = flows.find((f) => f.injected === undefined)!;
  t.false(rules(clean).includes('MS006'));
  t.deepEqual(rules(injected[0]!), [...new Set(['MS006', ...rules(clean)])].sort());
});

test('strip-ns by URI on the real server\'s Multi-Status: the client can no longer resolve DAV:, MS104', async (t) => {
  const server = await davWithFiles(t, 2);
  const p = await startInjectingProxy(t, server.url, 'strip-ns:DAV:');
  const r = await curl(propfindArgs(`${p.url}/dav/`));
  t.is(r.code, 0, r.stderr);
  const { head, body } = splitResponse(r.stdout);
  t.false(/xmlns(:\w+)?="DAV:"/.test(body.toString()));
  const length = headerOf(head, 'content-length');
  if (length !== undefined) t.is(Number(length), body.length);
  const [flow] = await p.waitForFlows(1);
  t.regex(body.toString(), /^<\?xml[^>]*\?><D:multistatus>/);
  t.true(rules(flow!).includes('MS104'), rules(flow!).join());
  t.true(flow!.analysis!.findings.every((f) => f.injected === 'strip-ns:DAV:'));
});

test('rewrite-href on the real server\'s answer points every href at the backend, MS303 and MS304', async (t) => {
  const server = await davWithFiles(t, 2);
  const p = await startInjectingProxy(t, server.url, 'rewrite-href:http://10.0.0.7:8080/internal');
  const r = await curl(propfindArgs(`${p.url}/dav/`));
  t.is(r.code, 0, r.stderr);
  const hrefs = [...splitResponse(r.stdout).body.toString().matchAll(/<(?:\w+:)?href>([^<]*)</g)].map((m) => m[1]!);
  t.is(hrefs.length, 3);
  t.true(hrefs.every((h) => h.startsWith('http://10.0.0.7:8080/internal/dav/')), hrefs.join());
  const [flow] = await p.waitForFlows(1);
  const leaks = flow!.analysis!.findings.filter((f) => f.rule === 'MS304');
  t.is(leaks.length, 1);
  t.is(leaks[0]!.evidence.count, 3);
  t.regex(String(leaks[0]!.evidence.href), /^http:\/\/10\.0\.0\.7:8080\/internal\/dav\//);
  t.is(leaks[0]!.injected, 'rewrite-href:http://10.0.0.7:8080/internal');
  t.true(rules(flow!).includes('MS303'));
});

test('a keep-alive connection survives a rewritten response: the next request on it is relayed untouched', async (t) => {
  const server = await davWithFiles(t, 1);
  const p = await startInjectingProxy(t, server.url, 'gzip-no-header');
  // One curl, two transfers on one connection: the PROPFIND (rewritten) then a GET (not a 207).
  const r = await curl(['-X', 'PROPFIND', '-H', 'Depth: 0', `${p.url}/dav/`, '-o', '/dev/null', '--next', `${p.url}/dav/f0.txt`, '-w', '%{num_connects}']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.toString(), 'content of file 0\n0');
  const flows = await p.waitForFlows(2);
  t.deepEqual(flows.map((f) => f.injected ?? '-'), ['gzip-no-header', '-']);
});

test('forward mode injects too: curl -x through davtap gets the HTML page in place of the Multi-Status', async (t) => {
  const server = await davWithFiles(t, 1);
  const p = await startInjectingProxy(t, null, 'html', { filter: '~m PROPFIND' });
  const r = await curl(['-x', p.url, ...propfindArgs(`${server.url}/dav/`)]);
  t.is(r.code, 0, r.stderr);
  const { head, body } = splitResponse(r.stdout);
  t.regex(head, /^HTTP\/1\.1 207/);
  t.regex(body.toString(), /^<!DOCTYPE html>/);
  const get = await curl(['-x', p.url, `${server.url}/dav/f0.txt`]);
  t.is(get.stdout.toString(), 'content of file 0\n');
  const flows = await p.waitForFlows(2);
  t.is(flows[0]!.mode, 'forward');
  t.deepEqual(flows.map((f) => f.injected ?? '-'), ['html', '-']);
  t.true(rules(flows[0]!).includes('MS108'));
});

// Intercept in the relay: a request matching the filter is held (its body waits in davtap, the
// server sees nothing) while other flows go on; resuming sends it as it was, killing answers 502.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Interceptor } from '../../src/proxy/intercept.js';
import { curl } from '../helpers/curl.js';
import { startTestProxy } from '../helpers/proxy.js';
import { startDavServer } from '../helpers/webdav.js';

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const status = async (args: string[]) => (await curl(['-o', '/dev/null', '-w', '%{http_code}', ...args])).stdout.toString();

test('a held PUT is not written until resumed, other flows pass meanwhile, and resume sends its body whole', async (t) => {
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  const intercept = new Interceptor();
  intercept.setFilter((r) => r.method === 'PUT', '~m PUT');
  const proxy = await startTestProxy(t, { upstream: new URL(`${dav.url}/`), hooks: { interceptRequest: intercept.interceptRequest } });
  const body = 'held body '.repeat(5000);

  const put = curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '--data-binary', body, `${proxy.url}dav/held.txt`]);
  await until(() => intercept.size === 1, 'the PUT to be held');
  const [held] = intercept.list();
  t.is(held!.method, 'PUT');
  t.regex(held!.url, /\/dav\/held\.txt$/);
  // The server has not seen it, and another client is not blocked.
  t.is(await status([`${dav.url}/dav/held.txt`]), '404');
  t.is(await status(['-X', 'PROPFIND', '-H', 'Depth: 0', `${proxy.url}dav/`]), '207');
  t.is(proxy.flows.length, 1, 'only the PROPFIND is over');

  t.true(intercept.resume(held!.id));
  t.false(intercept.resume(held!.id), 'a request is resumed once');
  t.is((await put).stdout.toString(), '201');
  t.is((await curl([`${dav.url}/dav/held.txt`])).stdout.toString(), body);
  const flows = await proxy.waitForFlows(2);
  const recorded = flows.find((f) => f.request.method === 'PUT')!;
  t.is(recorded.id, held!.id);
  t.is(recorded.response?.status, 201);
  t.is(recorded.request.body.bytesSeen, body.length);
});

test('a killed request is answered 502, never reaches the server, and is recorded as killed; A releases all', async (t) => {
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  const intercept = new Interceptor();
  let changes = 0;
  intercept.onChange = () => changes++;
  intercept.setFilter((r) => r.method === 'MKCOL');
  const proxy = await startTestProxy(t, { upstream: new URL(`${dav.url}/`), hooks: { interceptRequest: intercept.interceptRequest } });

  const killed = curl(['-sS', '-w', '\n%{http_code}', '-X', 'MKCOL', `${proxy.url}dav/never/`]);
  await until(() => intercept.size === 1, 'the MKCOL to be held');
  t.true(intercept.kill(intercept.list()[0]!.id));
  const out = (await killed).stdout.toString();
  t.regex(out, /502$/);
  t.regex(out, /killed in davtap/);
  t.is(await status(['-X', 'PROPFIND', '-H', 'Depth: 0', `${dav.url}/dav/never/`]), '404');
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.outcome.code, 'EKILLED');

  const a = curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'MKCOL', `${proxy.url}dav/a/`]);
  const b = curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'MKCOL', `${proxy.url}dav/b/`]);
  await until(() => intercept.size === 2, 'two MKCOLs to be held');
  t.is(intercept.resumeAll(), 2);
  t.is((await a).stdout.toString(), '201');
  t.is((await b).stdout.toString(), '201');
  // Without a filter nothing new is held.
  intercept.setFilter(null);
  t.is(await status(['-X', 'MKCOL', `${proxy.url}dav/c/`]), '201');
  t.true(changes >= 6);
});

test('an edited held request: the relay reads its chunked body whole while holding it, then sends the replacement in its place and records it', async (t) => {
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  const intercept = new Interceptor();
  intercept.setFilter((r) => r.method === 'PUT');
  const proxy = await startTestProxy(t, { upstream: new URL(`${dav.url}/`), maxRequestBody: 4 * 1024 * 1024, hooks: { interceptRequest: intercept.interceptRequest } });
  // Larger than what the relay reads of a held request's client on its own (1 MiB).
  const body = 'chunked body\n'.repeat(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'davtap-intercept-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'body'), body);

  const put = curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${path.join(dir, 'body')}`, `${proxy.url}dav/a.txt`]);
  await until(() => intercept.size === 1, 'the PUT to be held');
  const held = intercept.request(intercept.list()[0]!.id);
  // What goes upstream: reverse mode's Host, the path on the server.
  t.is(held!.upstream.target, '/dav/a.txt');
  t.is((await held!.readBody()).toString(), body, 'the payload, de-chunked');
  t.is(await status([`${dav.url}/dav/a.txt`]), '404', 'reading the body sends nothing');

  t.true(intercept.edit(held!.id, { method: 'PUT', target: '/dav/b.txt', rawHeaders: ['Host', new URL(dav.url).host, 'Content-Length', '6'], body: Buffer.from('edited') }));
  t.false(intercept.resume(held!.id), 'decided once');
  t.is((await put).stdout.toString(), '201');
  t.is((await curl([`${dav.url}/dav/b.txt`])).stdout.toString(), 'edited');
  t.is(await status([`${dav.url}/dav/a.txt`]), '404');
  const [flow] = await proxy.waitForFlows(1);
  t.is(flow!.request.target, '/dav/b.txt');
  t.regex(flow!.request.url, /\/dav\/b\.txt$/);
  t.is(flow!.request.body.bytes.toString(), 'edited');
  t.is(flow!.response?.status, 201);
});

test("a held request's body larger than --max-request-body cannot be read for an edit; resumed, it is still sent whole", async (t) => {
  const dav = await startDavServer();
  t.teardown(() => dav.close());
  const intercept = new Interceptor();
  intercept.setFilter((r) => r.method === 'PUT');
  const proxy = await startTestProxy(t, { upstream: new URL(`${dav.url}/`), maxRequestBody: 1000, hooks: { interceptRequest: intercept.interceptRequest } });
  const body = 'x'.repeat(100_000);
  const put = curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '--data-binary', body, `${proxy.url}dav/big.txt`]);
  await until(() => intercept.size === 1, 'the PUT to be held');
  const held = intercept.request(intercept.list()[0]!.id);
  await t.throwsAsync(held!.readBody(), { message: /larger than --max-request-body \(1,000 bytes\): it cannot be edited whole/ });
  t.true(intercept.resume(held!.id));
  t.is((await put).stdout.toString(), '201');
  t.is((await curl([`${dav.url}/dav/big.txt`])).stdout.toString().length, body.length);
});

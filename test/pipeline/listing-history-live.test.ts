// MS403 across listings in the live proxy: the real proxy in-process, its pipeline worker and a
// real database; a scripted origin for the cases a real server will not produce on demand, and
// the webdav-server package for a file deleted behind the proxy's back.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Pipeline } from '../../src/pipeline/pipeline.js';
import type { ProxyHooks } from '../../src/proxy/index.js';
import { openReader } from '../../src/store/index.js';
import type { Finding } from '../../src/types.js';
import { curl } from '../helpers/curl.js';
import { response, startOrigin } from '../helpers/origin.js';
import { startTestPipeline } from '../helpers/pipeline.js';
import { startTestProxy } from '../helpers/proxy.js';
import { startDavServer } from '../helpers/webdav.js';

interface Live {
  pipeline: Pipeline;
  hooks: ProxyHooks;
  dbPath: string;
  lines: string[];
  logs: string[];
  waitForFlows(n: number): Promise<void>;
}

async function live(t: ExecutionContext): Promise<Live> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-history-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dbPath = path.join(dir, 'flows.db');
  const lines: string[] = [];
  const logs: string[] = [];
  const { pipeline, hooks, waitForFlows } = await startTestPipeline(t, { dbPath, maxBody: 1024 * 1024, lines: true, onLines: (ls) => lines.push(...ls), log: (l) => logs.push(l) });
  return { pipeline, hooks, dbPath, lines, logs, waitForFlows };
}

function multistatus(self: string, members: string[]): string {
  const r = (href: string) => `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:getcontentlength>1</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`;
  return `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n${r(self)}${members.map(r).join('')}</D:multistatus>\n`;
}

function recorded(dbPath: string, t: ExecutionContext) {
  const store = openReader(dbPath);
  t.teardown(() => store.close());
  return store.listFlows({ order: 'asc' }).map((row) => ({ row, findings: store.findingsFor(row.id) }));
}

const rules = (findings: Finding[]) => findings.map((f) => f.rule);

test('worker: a cut or paginated listing neither raises nor resets the history; the next whole listing that lost a member gets MS403', async (t) => {
  const full = multistatus('/dav/', ['/dav/a.txt', '/dav/b.txt', '/dav/c.txt']);
  const cut = Buffer.from(multistatus('/dav/', ['/dav/a.txt', '/dav/c.txt']));
  const script = [
    (s: Socket) => s.write(response(207, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(full) }, full)),
    // Declared longer than sent, then closed: MS001 (and no MS403 on top of it).
    (s: Socket) => {
      s.write(response(207, { 'Content-Type': 'application/xml', 'Content-Length': cut.length + 500 }, cut.subarray(0, cut.length - 40)));
      s.end();
    },
    (s: Socket) => {
      const page = multistatus('/dav/', ['/dav/a.txt']);
      s.write(response(207, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(page), 'X-NC-Paginate': 'true', 'X-NC-Paginate-Total': '3' }, page));
    },
    (s: Socket) => {
      const shrunk = multistatus('/dav/', ['/dav/a.txt', '/dav/c.txt']);
      s.write(response(207, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(shrunk) }, shrunk));
    },
  ];
  let served = 0;
  const origin = await startOrigin((_req, socket) => script[served++]!(socket));
  t.teardown(() => origin.close());
  const { pipeline, hooks, dbPath, lines, logs, waitForFlows } = await live(t);
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), hooks });
  for (let i = 0; i < script.length; i++) {
    const headers = i === 2 ? ['-H', 'X-NC-Paginate: true'] : [];
    await curl(['-s', '-o', '/dev/null', '-X', 'PROPFIND', '-H', 'Depth: 1', ...headers, `${proxy.url}dav/`]);
  }
  await waitForFlows(script.length);
  await proxy.close();
  await pipeline.close();
  t.deepEqual(logs, []);

  const flows = recorded(dbPath, t);
  t.deepEqual(flows.map((f) => f.row.status), [207, 207, 207, 207]);
  t.false(rules(flows[0]!.findings).includes('MS403'));
  t.true(rules(flows[1]!.findings).includes('MS001'), JSON.stringify(rules(flows[1]!.findings)));
  t.false(rules(flows[1]!.findings).includes('MS403'));
  t.false(rules(flows[2]!.findings).includes('MS403'));
  const ms403 = flows[3]!.findings.filter((f) => f.rule === 'MS403');
  t.is(ms403.length, 1);
  t.is(ms403[0]!.severity, 'warning');
  t.deepEqual(ms403[0]!.evidence['missing'], ['/dav/b.txt']);
  t.like(ms403[0]!.evidence, { previousMembers: 3, members: 2, previousFlow: flows[0]!.row.id });
  t.regex(ms403[0]!.message, /versus the listing seen at \d\d:\d\d:\d\d \(\d+ s ago\)/);
  // Counted like any analyzer finding: in the record and in the flow line.
  t.is(flows[3]!.row.findings.warning, flows[3]!.findings.filter((f) => f.severity === 'warning').length);
  t.regex(lines[3]!, /W\d/);
});

test('end to end: a file deleted on the origin behind the proxy raises MS403 on the next listing; a DELETE through the proxy does not', async (t) => {
  const server = await startDavServer();
  t.teardown(() => server.close());
  const { pipeline, hooks, dbPath, waitForFlows } = await live(t);
  const proxy = await startTestProxy(t, { upstream: new URL(server.url), hooks });
  const via = (...args: string[]) => curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', ...args]);
  const codes: string[] = [];
  codes.push((await via('-X', 'MKCOL', `${proxy.url}dav/sync/`)).stdout.toString());
  for (const name of ['a.txt', 'b.txt', 'c.txt']) codes.push((await via('-X', 'PUT', '--data-binary', name, `${proxy.url}dav/sync/${name}`)).stdout.toString());
  const listing = () => via('-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/sync/`);
  codes.push((await listing()).stdout.toString());
  // Behind davtap's back: straight to the origin.
  codes.push((await via('-X', 'DELETE', `${server.url}/dav/sync/b.txt`)).stdout.toString());
  codes.push((await listing()).stdout.toString());
  // Through davtap: explained.
  codes.push((await via('-X', 'DELETE', `${proxy.url}dav/sync/c.txt`)).stdout.toString());
  codes.push((await listing()).stdout.toString());
  t.deepEqual(codes.map(Number), [201, 201, 201, 201, 207, 200, 207, 200, 207]);
  await waitForFlows(8);
  await proxy.close();
  await pipeline.close();

  const flows = recorded(dbPath, t);
  t.deepEqual(flows.map((f) => f.row.method), ['MKCOL', 'PUT', 'PUT', 'PUT', 'PROPFIND', 'PROPFIND', 'DELETE', 'PROPFIND']);
  const [first, second, third] = flows.filter((f) => f.row.method === 'PROPFIND');
  t.false(rules(first!.findings).includes('MS403'));
  const found = second!.findings.find((f) => f.rule === 'MS403');
  t.truthy(found, JSON.stringify(rules(second!.findings)));
  t.deepEqual(found!.evidence['missing'], ['/dav/sync/b.txt']);
  t.regex(found!.message, /3 members then, 2 members now; 1 missing without a DELETE or MOVE through davtap: \/dav\/sync\/b\.txt/);
  t.false(rules(third!.findings).includes('MS403'), JSON.stringify(third!.findings.map((f) => f.message)));
});

test('worker: a listing that ends while a DELETE through davtap is still in flight does not raise MS403 for what it deletes', async (t) => {
  let deleteArrived!: () => void;
  const arrived = new Promise<void>((resolve) => (deleteArrived = resolve));
  let releaseDelete!: () => void;
  const released = new Promise<void>((resolve) => (releaseDelete = resolve));
  let listings = 0;
  const origin = await startOrigin(async (req, socket) => {
    if (req.method === 'DELETE') {
      // The server has acted (the next listing lacks b.txt) but answers only later.
      deleteArrived();
      await released;
      socket.write(response(204, {}, ''));
      return;
    }
    const body = multistatus('/dav/', listings++ === 0 ? ['/dav/a.txt', '/dav/b.txt'] : ['/dav/a.txt']);
    socket.write(response(207, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) }, body));
  });
  t.teardown(() => origin.close());
  const { pipeline, hooks, dbPath, logs, waitForFlows } = await live(t);
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), hooks });
  const listing = () => curl(['-s', '-o', '/dev/null', '-X', 'PROPFIND', '-H', 'Depth: 1', `${proxy.url}dav/`]);
  await listing();
  const deleting = curl(['-s', '-o', '/dev/null', '-X', 'DELETE', `${proxy.url}dav/b.txt`]);
  await arrived;
  await listing();
  await waitForFlows(2);
  releaseDelete();
  await deleting;
  await waitForFlows(3);
  await proxy.close();
  await pipeline.close();
  t.deepEqual(logs, []);
  const flows = recorded(dbPath, t);
  t.deepEqual(flows.map((f) => `${f.row.method} ${f.row.status}`), ['PROPFIND 207', 'PROPFIND 207', 'DELETE 204']);
  t.deepEqual(flows.flatMap((f) => rules(f.findings)).filter((r) => r === 'MS403'), []);
});

// The client's TLS (Flow.client.tls) crosses the worker boundary: in the packed tail of a streamed
// flow, in a whole flow, and into the store and the flow lines the worker writes.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serialize, deserialize } from 'node:v8';
import { pack, unpack, type FlowTail, type PipelineEvent } from '../../src/pipeline/pipeline-protocol.js';
import { openReader } from '../../src/store/index.js';
import type { Flow, FlowStart } from '../../src/types.js';
import { startTestPipeline } from '../helpers/pipeline.js';

const tail = (client: Flow['client']): FlowTail => ({
  id: 'f1',
  client,
  timings: { start: 1000, firstByte: 1003, end: 1009 },
  outcome: { kind: 'complete' },
  requestBody: { bytesSeen: 0, captureComplete: true },
  response: { body: { bytesSeen: 10, captureComplete: true }, decoded: null, informational: [], rawTrailers: [] },
});

const roundTrip = (ev: PipelineEvent): PipelineEvent => unpack(deserialize(serialize(pack(ev))) as ReturnType<typeof pack>);

test('a streamed flow\'s packed tail keeps the client\'s TLS and SNI, and a plain client stays without', (t) => {
  for (const client of [
    { address: '127.0.0.1', port: 5123, tls: { sni: 'dav.example' } },
    { address: '::1', port: 5124, tls: {} },
    { address: '127.0.0.1', port: 5125 },
  ]) {
    const back = roundTrip({ k: 'flow', tail: tail(client), requestBody: [0, 0], response: 'streamed', responseLength: 10, decoded: null });
    t.true(back.k === 'flow');
    const got = (back as Extract<PipelineEvent, { k: 'flow' }>).tail!.client;
    t.deepEqual(got, client);
    t.is('tls' in got, 'tls' in client);
  }
});

const start0 = Date.UTC(2026, 0, 1, 10, 0, 0);
const body = Buffer.from('<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response></D:multistatus>');

function exchange(id: string, client: Flow['client']): { start: FlowStart; flow: Flow } {
  const request: Flow['request'] = {
    method: 'PROPFIND',
    url: 'http://127.0.0.1:8081/dav/',
    target: '/dav/',
    httpVersion: '1.1',
    rawHeaders: ['Host', 'dav.example', 'Depth', '0'],
    body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true },
  };
  const head = { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml', 'Content-Length', String(body.length)], framing: 'content-length' as const, declaredLength: body.length };
  const timings = { start: start0, firstByte: start0 + 2, end: start0 + 5 };
  return {
    start: { id, mode: 'reverse', timings: { ...timings, end: null }, request, response: head },
    flow: {
      id,
      mode: 'reverse',
      client,
      timings,
      request,
      // The hooks keep streamed bodies themselves: the relay hands over no copy.
      response: { ...head, body: { bytes: Buffer.alloc(0), bytesSeen: body.length, captureComplete: true }, decoded: null, informational: [], rawTrailers: [] },
      outcome: { kind: 'complete' },
    },
  };
}

test('through the worker: streamed and whole flows are stored and printed with their client\'s TLS', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-tls-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dbPath = path.join(dir, 'flows.db');
  const lines: string[] = [];
  const logs: string[] = [];
  const { pipeline, hooks } = await startTestPipeline(t, { dbPath, maxBody: 1 << 20, lines: true, onLines: (ls) => lines.push(...ls), log: (l) => logs.push(l) });

  // Two streamed flows (a response head arrived), one TLS with SNI, one plain.
  const streamed = [exchange('s-tls', { address: '127.0.0.1', port: 6001, tls: { sni: 'dav.example' } }), exchange('s-plain', { address: '127.0.0.1', port: 6002 })];
  for (const { start, flow } of streamed) {
    hooks.onResponseStart!(start);
    hooks.onResponseChunk!(flow.id, body);
    hooks.onFlow(flow);
  }
  // A whole flow (no response head: the upstream refused), TLS without SNI.
  const refused = exchange('w-tls', { address: '127.0.0.1', port: 6003, tls: {} }).flow;
  hooks.onFlow({ ...refused, response: null, outcome: { kind: 'error', code: 'ECONNREFUSED' } });
  const stats = await pipeline.close();
  t.is(stats.written, 3);
  t.deepEqual(logs, []);

  const store = openReader(dbPath);
  t.teardown(() => store.close());
  t.deepEqual(store.getFlow('s-tls')!.client, { address: '127.0.0.1', port: 6001, tls: { sni: 'dav.example' } });
  t.deepEqual(store.getFlow('s-plain')!.client, { address: '127.0.0.1', port: 6002 });
  t.deepEqual(store.getFlow('w-tls')!.client, { address: '127.0.0.1', port: 6003, tls: {} });
  t.true(store.getFlow('s-tls')!.analysis !== undefined, 'the streamed flow was analyzed as usual');

  t.is(lines.length, 3);
  t.regex(lines.find((l) => l.includes('207') && l.includes('{tls'))!, / {2}\{tls: dav\.example\}$/);
  t.is(lines.filter((l) => l.includes('{tls')).length, 2);
  t.regex(lines.find((l) => l.includes('ECONNREFUSED'))!, /error\(ECONNREFUSED\) {2}\{tls\}$/);
});

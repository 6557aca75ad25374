// The scheme the client used, for the analyzer's request context and the exports' client URL: in
// reverse mode https when the client spoke TLS to davtap's listener, whatever the upstream speaks;
// in forward mode the scheme of the URL the client named. The start event that opens a streamed
// analysis carries it across the worker boundary.
import test from 'ava';
import { serialize, deserialize } from 'node:v8';
import { clientScheme } from '../../src/analysis/request.js';
import { requestContextOf } from '../../src/pipeline/live.js';
import { pack, unpack, type PipelineEvent } from '../../src/pipeline/pipeline-protocol.js';
import { clientUrl } from '../../src/export/common.js';
import type { Flow, FlowStart } from '../../src/types.js';

test('clientScheme: reverse mode follows the client connection, forward mode the URL', (t) => {
  t.is(clientScheme('reverse', 'http://127.0.0.1:8081/dav/', true), 'https');
  t.is(clientScheme('reverse', 'https://dav.example/dav/', false), 'http');
  t.is(clientScheme('forward', 'https://dav.example/dav/', true), 'https');
  t.is(clientScheme('forward', 'http://dav.example/dav/', false), 'http');
  t.is(clientScheme('forward', 'not a url', false), undefined);
});

const request: Flow['request'] = {
  method: 'PROPFIND',
  url: 'http://127.0.0.1:8081/dav/?x=1',
  target: '/dav/?x=1',
  httpVersion: '1.1',
  rawHeaders: ['Host', 'localhost:8443', 'Depth', '0'],
  body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true },
};

test('the analyzer sees the scheme and authority the client used', (t) => {
  t.like(requestContextOf(request, 'reverse', true), { scheme: 'https', authority: 'localhost:8443' });
  t.like(requestContextOf(request, 'reverse', false), { scheme: 'http', authority: 'localhost:8443' });
});

test('a streamed flow\'s start event carries the client\'s TLS across the worker boundary', (t) => {
  const start: FlowStart = {
    id: 'f1',
    mode: 'reverse',
    clientTls: true,
    timings: { start: 1, firstByte: 2, end: null },
    request,
    response: { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: [], framing: 'content-length', declaredLength: 0 },
  };
  const roundTrip = (ev: PipelineEvent) => unpack(deserialize(serialize(pack(ev))) as ReturnType<typeof pack>);
  const back = roundTrip({ k: 'start', start, requestBody: [0, 0], analyze: true }) as Extract<PipelineEvent, { k: 'start' }>;
  t.is(back.start.clientTls, true);
  const { clientTls: _drop, ...plain } = start;
  const plainBack = roundTrip({ k: 'start', start: plain, requestBody: [0, 0], analyze: true }) as Extract<PipelineEvent, { k: 'start' }>;
  t.false('clientTls' in plainBack.start);
});

test('exports: the client URL of a TLS client of the reverse listener is https, with its Host', (t) => {
  const flow = (tls: boolean): Flow => ({
    id: 'f1',
    mode: 'reverse',
    client: { address: '127.0.0.1', port: 5000, ...(tls ? { tls: { sni: 'localhost' } } : {}) },
    timings: { start: 1, firstByte: 2, end: 3 },
    request,
    response: null,
    outcome: { kind: 'complete' },
  });
  t.is(clientUrl(flow(true)), 'https://localhost:8443/dav/?x=1');
  t.is(clientUrl(flow(false)), 'http://localhost:8443/dav/?x=1');
});

import test from 'ava';
import { flowLine } from '../../src/pipeline/flow-line.js';
import { skippedAnalysis } from '../../src/pipeline/live.js';
import { createRedactor } from '../../src/redact/index.js';
import type { Flow } from '../../src/types.js';

const base: Flow = {
  id: 'x',
  mode: 'reverse',
  client: { address: '127.0.0.1', port: 1 },
  timings: { start: Date.UTC(2026, 0, 1, 10, 0, 0), firstByte: null, end: Date.UTC(2026, 0, 1, 10, 0, 0) + 12 },
  request: { method: 'PROPFIND', url: 'http://127.0.0.1:8081/dav/a%20b/', target: '/dav/a%20b/', httpVersion: '1.1', rawHeaders: [], body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true } },
  response: null,
  outcome: { kind: 'error', code: 'ECONNREFUSED' },
};

test('a flow without a response shows --- and its outcome code', (t) => {
  t.regex(flowLine(base), / {2}PROPFIND {2}--- {2}\/dav\/a%20b\/ {2}- {2}12ms {2}error\(ECONNREFUSED\)$/);
});

test('an analyzed flow shows failed/resources and the finding counts', (t) => {
  const flow: Flow = {
    ...base,
    outcome: { kind: 'complete' },
    analysis: { findings: [], resources: [], summary: { resources: 120, failedResources: 3, byStatus: {}, findings: { error: 1, warning: 0, info: 2 }, text: '' } },
  };
  t.regex(flowLine(flow), /\[3\/120 failed; E1 I2\]$/);
});

test('a flow whose analysis was skipped says so instead of 0/0', (t) => {
  const flow: Flow = { ...base, outcome: { kind: 'complete' }, analysis: skippedAnalysis('analysis', 300 * 1024 * 1024, 20_001) };
  t.regex(flowLine(flow), /\[not analyzed: davtap was behind\]$/);
  t.notRegex(flowLine(flow), /0\/0 failed/);
});

test('credentials in the path are masked unless the redactor is off (--show-secrets)', (t) => {
  const flow: Flow = { ...base, request: { ...base.request, url: 'http://127.0.0.1:8081/dav/a;jsessionid=J1/?token=T1&depth=1', target: '/dav/a;jsessionid=J1/?token=T1&depth=1' } };
  const masked = flowLine(flow);
  t.regex(masked, / \/dav\/a;jsessionid=%5Bredacted%5D\/\?token=%5Bredacted%5D&depth=1 /);
  t.false(masked.includes('T1') || masked.includes('J1'));
  t.regex(flowLine(flow, createRedactor({ enabled: false })), / \/dav\/a;jsessionid=J1\/\?token=T1&depth=1 /);
});

test('in forward mode the line names the origin, as mitmdump does; in reverse mode the path alone', (t) => {
  const forward: Flow = { ...base, mode: 'forward', request: { ...base.request, method: 'GET', url: 'http://127.0.0.1:8081/dav/a%20b/?x=1' } };
  t.regex(flowLine(forward), / {2}GET {2}--- {2}http:\/\/127\.0\.0\.1:8081\/dav\/a%20b\/\?x=1 {2}- /);
  const tunnelled: Flow = { ...forward, request: { ...forward.request, url: 'https://user:pw@dav.example.org/remote.php/dav/' } };
  t.regex(flowLine(tunnelled), / {2}https:\/\/dav\.example\.org\/remote\.php\/dav\/ {2}/);
  t.false(flowLine(tunnelled).includes('pw'), 'no user information');
  t.regex(flowLine({ ...forward, mode: 'reverse' }), / {2}GET {2}--- {2}\/dav\/a%20b\/\?x=1 {2}- /);
});

test('in forward mode a refused request whose target is no URL is shown as sent', (t) => {
  const refused: Flow = { ...base, mode: 'forward', request: { ...base.request, url: '/dav/' }, outcome: { kind: 'error', code: 'EFORWARD' } };
  t.regex(flowLine(refused), / {2}PROPFIND {2}--- {2}\/dav\/ {2}- /);
});

test('in forward mode credentials in the URL are masked as in reverse mode', (t) => {
  const flow: Flow = { ...base, mode: 'forward', request: { ...base.request, url: 'http://h.example:81/dav/?token=T1' } };
  t.regex(flowLine(flow), / http:\/\/h\.example:81\/dav\/\?token=%5Bredacted%5D /);
  t.false(flowLine(flow).includes('T1'));
});

test('a TLS client connection is marked at the end of the line, with its SNI name; a plain one is not', (t) => {
  const plain: Flow = { ...base, outcome: { kind: 'complete' } };
  const line = flowLine(plain);
  t.false(line.includes('{tls'));
  const tls: Flow = { ...plain, client: { ...plain.client, tls: { sni: 'dav.example' } } };
  t.is(flowLine(tls), `${line}  {tls: dav.example}`, 'the rest of the line is unchanged');
  t.is(flowLine({ ...plain, client: { ...plain.client, tls: {} } }), `${line}  {tls}`);
  // After the analysis and the injection, whatever they say.
  const analyzed: Flow = {
    ...tls,
    injected: 'truncate:bytes=80',
    analysis: { findings: [], resources: [], summary: { resources: 2, failedResources: 1, byStatus: {}, findings: { error: 1, warning: 0, info: 0 }, text: '' } },
  };
  t.regex(flowLine(analyzed), / {2}\[1\/2 failed; E1\] {2}\{injected: truncate:bytes=80\} {2}\{tls: dav\.example\}$/);
  // An SNI name is what the client sent: no control characters reach the terminal.
  t.regex(flowLine({ ...plain, client: { ...plain.client, tls: { sni: 'a\u001b[2Jb\n' } } }), /\{tls: a\?\[2Jb\?\}$/);
});

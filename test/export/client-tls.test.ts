// Every export says which side of a flow was TLS: the client's connection to davtap (with its SNI
// name) and davtap's to the server (the URL's scheme), read back from the store.
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildHar, createRedactor, exportJsonl, exportReport, type JsonlRecord } from '../../src/export/index.js';
import type { Flow } from '../../src/types.js';
import { tempDir } from '../store/temp.js';
import { captureFlow, refusedFlow, storeWith } from './flows.js';
import { harViolations } from './har-schema.js';

/** A TLS client (SNI) to an https upstream, a plain client to a plain upstream, a TLS client without SNI whose request was refused. */
function flows(): Flow[] {
  const tls = captureFlow('apache-propfind-d1-allprop', 0, { clientHost: 'dav.example:8443' });
  tls.client = { ...tls.client, tls: { sni: 'dav.example' } };
  tls.request = { ...tls.request, url: tls.request.url.replace(/^http:/, 'https:') };
  const plain = captureFlow('nginx-propfind-d1-named', 1);
  const refused = refusedFlow(2);
  refused.client = { ...refused.client, tls: {} };
  refused.request = { ...refused.request, url: '/dav/' };
  return [tls, plain, refused];
}

const expected = [
  { clientTls: true, clientSni: 'dav.example', upstreamTls: true },
  { clientTls: false, clientSni: null, upstreamTls: false },
  { clientTls: true, clientSni: null, upstreamTls: null },
];

test('HAR: _davtap says which side was TLS, and the document stays valid HAR 1.2', async (t) => {
  const given = flows();
  const { store } = await storeWith(t, given);
  const har = buildHar(given.map((f) => store.getFlow(f.id)!), createRedactor());
  t.deepEqual(
    har.log.entries.map((e) => ({ clientTls: e._davtap.clientTls, clientSni: e._davtap.clientSni, upstreamTls: e._davtap.upstreamTls })),
    expected,
  );
  t.is(har.log.entries[0]!.request.url.slice(0, 8), 'https://', 'the request URL keeps the upstream scheme');
  // (The refused request's target is no URL, which HAR cannot hold in request.url: left out here.)
  t.deepEqual(harViolations({ log: { ...har.log, entries: har.log.entries.slice(0, 2) } }), []);
});

test('JSON lines: clientTls, clientSni and upstreamTls on every record', async (t) => {
  const { store } = await storeWith(t, flows());
  let out = '';
  t.is(exportJsonl(store, {}, (l) => (out += l)), 3);
  const records = out.trimEnd().split('\n').map((l) => JSON.parse(l) as JsonlRecord);
  t.deepEqual(
    records.map((r) => ({ clientTls: r.clientTls, clientSni: r.clientSni, upstreamTls: r.upstreamTls })),
    expected,
  );
});

test('report bundle: each flow\'s section has a TLS line, findings.json the same fields', async (t) => {
  const { store } = await storeWith(t, flows());
  const dir = path.join(tempDir(t), 'bundle');
  exportReport(store, {}, dir, {}, { now: new Date('2026-11-21T07:00:00Z') });
  const md = readFileSync(path.join(dir, 'report.md'), 'utf8');
  const section = (n: string) => md.split(`## ${n} · `)[1]!.split('\n## ')[0]!;
  t.regex(section('001'), /^- TLS: client to davtap over TLS \(SNI `dav\.example`\), davtap to server over TLS \(https\)$/m);
  t.regex(section('002'), /^- TLS: client to davtap plain HTTP, davtap to server plain HTTP$/m);
  t.regex(section('003'), /^- TLS: client to davtap over TLS \(no SNI\), davtap to server none \(not relayed\)$/m);
  const json = JSON.parse(readFileSync(path.join(dir, 'findings.json'), 'utf8')) as { flows: { clientTls: boolean; clientSni: string | null; upstreamTls: boolean | null }[] };
  t.deepEqual(
    json.flows.map((f) => ({ clientTls: f.clientTls, clientSni: f.clientSni, upstreamTls: f.upstreamTls })),
    expected,
  );
});

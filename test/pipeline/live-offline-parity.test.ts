// One answer, live or offline: every raw capture under test/fixtures (.http, with its .req when it
// has one) is served byte for byte by a raw origin through the real proxy and its live analysis,
// and checked with `davtap check`; both must report the same findings (rule, severity, blame,
// root cause, message). Fixtures that stand for another transport end (a reset, a timeout: their .json) or
// for the proxy's payload form are left out: bytes and a close cannot reproduce them.
import test from 'ava';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';
import { createLivePipeline } from '../../src/pipeline/live.js';
import type { Finding, Flow } from '../../src/types.js';
import { startOrigin } from '../helpers/origin.js';
import { startTestProxy } from '../helpers/proxy.js';
import { rawClient } from '../helpers/raw-client.js';

const root = new URL('../fixtures/', import.meta.url).pathname;

interface Fixture {
  name: string;
  http: string;
  req?: string;
}

/** A bare listing request for captures recorded without theirs. */
const DEFAULT_REQUEST = 'PROPFIND /dav/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nDepth: 1\r\n\r\n';

function fixtures(): Fixture[] {
  const out: Fixture[] = [];
  for (const dir of readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    const base = path.join(root, dir.name);
    for (const file of readdirSync(base).filter((f) => f.endsWith('.http')).sort()) {
      const stem = path.join(base, file.slice(0, -'.http'.length));
      const meta = existsSync(`${stem}.json`) ? (JSON.parse(readFileSync(`${stem}.json`, 'utf8')) as { transport?: { outcome?: string; closeKind?: string }; bodyForm?: string; limits?: unknown }) : {};
      const t = meta.transport;
      if (meta.bodyForm === 'payload' || meta.limits !== undefined || (t && (t.outcome !== 'complete' || (t.closeKind !== undefined && t.closeKind !== 'fin')))) continue;
      out.push({ name: `${dir.name}/${file}`, http: `${stem}.http`, ...(existsSync(`${stem}.req`) ? { req: `${stem}.req` } : {}) });
    }
  }
  return out;
}

// Messages are compared too, except MS002's: live, the relay's wire core names the framing error
// it stopped at (its code); offline, the analyzer describes the chunk state it read.
const comparable = (findings: readonly Finding[]) =>
  findings
    .map((f) => `${f.rule} ${f.severity} ${f.blame}${f.consequenceOf !== undefined ? ` (consequence of ${f.consequenceOf})` : ''}${f.rule === 'MS002' ? '' : `: ${f.message}`}`)
    .sort();

async function offline(http: string, req: string, cwd: string): Promise<Finding[]> {
  let out = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const io: CliIO = { stdout: sink((s) => (out += s)), stderr: sink(() => {}), env: {}, cwd };
  await main(['check', '--json', '--request', req, http], io);
  return (JSON.parse(out) as { results: { findings: Finding[] }[] }).results[0]?.findings ?? [];
}

test('every .http fixture gives the same findings through the live proxy as in davtap check', async (t) => {
  t.timeout(240_000);
  const all = fixtures();
  t.true(all.length > 200, `${all.length} fixtures`);
  // The cases that once differed are among them: a chunked message cut after its last chunk or
  // inside a trailer field (MS002), bytes after a Content-Length body (MS005).
  for (const name of ['rules/MS002.fire-4.http', 'rules/MS002.fire-5.http', 'rules/MS005.fire-2.http']) t.true(all.some((f) => f.name === name), name);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'davtap-parity-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let serving: Buffer = Buffer.alloc(0);
  const origin = await startOrigin((_req, socket) => {
    socket.end(serving);
  });
  t.teardown(() => origin.close());
  let flowDone: ((flow: Flow) => void) | undefined;
  const live = createLivePipeline({ onFlow: (flow) => flowDone?.(flow), log: () => {} });
  const proxy = await startTestProxy(t, { upstream: new URL(origin.url), hooks: live.hooks });
  const differ: string[] = [];
  for (const fx of all) {
    serving = readFileSync(fx.http);
    let request = fx.req !== undefined ? readFileSync(fx.req) : Buffer.from(DEFAULT_REQUEST);
    const reqFile = path.join(dir, 'request.http');
    writeFileSync(reqFile, request);
    // The proxy reads one request: a Connection: close keeps each exchange on its own connection.
    request = Buffer.from(request.toString('latin1').replace(/\r\n\r\n/, '\r\nConnection: close\r\n\r\n'), 'latin1');
    const done = new Promise<Flow>((resolve) => (flowDone = resolve));
    const client = await rawClient(t, proxy.port);
    client.socket.write(request);
    const flow = await Promise.race([done, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000))]);
    client.socket.destroy();
    if (!flow) {
      differ.push(`${fx.name}: no flow through the proxy within 10 s`);
      continue;
    }
    const liveFindings = comparable(flow.analysis?.findings ?? []);
    const checkFindings = comparable(await offline(fx.http, reqFile, dir));
    if (JSON.stringify(liveFindings) !== JSON.stringify(checkFindings)) differ.push(`${fx.name}:\n    live:  ${liveFindings.join(', ')}\n    check: ${checkFindings.join(', ')}`);
  }
  t.deepEqual(differ, [], `${differ.length} of ${all.length} fixtures differ`);
});

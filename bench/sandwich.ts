// npm run sandwich: the sandwich's acceptance run. Debian's nginx with a plain proxy_pass in front
// of Debian's Apache, davtap on both sides: litmus through the sandwich and through nginx alone,
// and the gateway differences found (none expected). Then a small Node gateway that rewrites hrefs
// and one that cuts 207s, each under a few PROPFINDs: every front flow must name MS804 and MS806.
// Prints one line: sandwich: honest=N findings, litmus=P/F (gateway alone P/F) rewrite=ok cut=ok
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSandwich } from '../src/sandwich/run.js';
import type { Finding } from '../src/types.js';
import { freePort, request, startApache } from '../test/helpers/apache.js';
import { startGateway, type GatewayBehaviour } from '../test/helpers/gateway.js';
import { comparable, runLitmus, type LitmusRun } from '../test/interop/litmus.js';
import { startNginx } from '../test/interop/nginx/nginx.js';

const legs = { maxBody: 64 * 1024 * 1024, maxRequestBody: 1024 * 1024 };
const counts = (r: LitmusRun) => `${r.results.filter((x) => x.outcome === 'pass').length}/${r.results.filter((x) => x.outcome === 'fail').length}`;

async function honest(scratch: string, originUrl: string, originPort: number): Promise<{ findings: number; through: LitmusRun; alone: LitmusRun; same: boolean }> {
  const back = await freePort();
  const nginx = await startNginx([
    { name: 'alone', config: `location / {\n    proxy_pass http://127.0.0.1:${originPort};\n}` },
    { name: 'sandwiched', config: `location / {\n    proxy_pass http://127.0.0.1:${back};\n}` },
  ]);
  const differences: Finding[] = [];
  const sandwich = await startSandwich({ front: { host: '127.0.0.1', port: 0 }, back: { host: '127.0.0.1', port: back }, gateway: new URL(nginx.urls.sandwiched!), origin: new URL(originUrl), legs, hooks: { onFlow: () => {} }, onPair: (_f, _b, d) => differences.push(...d) });
  try {
    const alone = await runLitmus(nginx.urls.alone!, { cwd: scratch });
    const through = await runLitmus(sandwich.front.url, { cwd: scratch });
    const same = JSON.stringify(comparable(through, sandwich.front.url)) === JSON.stringify(comparable(alone, nginx.urls.alone!));
    return { findings: differences.length, through, alone, same };
  } finally {
    await sandwich.close();
    await nginx.stop();
  }
}

/** 'ok' when every PROPFIND's front flow carries `rule` as a root cause with blame gateway. */
async function broken(behaviour: GatewayBehaviour, rule: string, originUrl: string): Promise<string> {
  const gw = await startGateway(behaviour);
  const seen: Finding[][] = [];
  const sandwich = await startSandwich({ front: { host: '127.0.0.1', port: 0 }, back: { host: '127.0.0.1', port: 0 }, gateway: new URL(gw.url), origin: new URL(originUrl), legs, hooks: { onFlow: () => {} }, onPair: (f, _b, d) => f.request.method === 'PROPFIND' && seen.push(d) });
  gw.upstream = new URL(sandwich.back.url);
  try {
    for (let i = 0; i < 5; i++) await request(`${sandwich.front.url}litmus/`, 'PROPFIND', { headers: { Depth: '1' } }).catch(() => undefined);
    for (let i = 0; i < 200 && seen.length < 5; i++) await new Promise((r) => setTimeout(r, 50));
  } finally {
    await sandwich.close();
    await gw.close();
  }
  const ok = seen.length === 5 && seen.every((d) => d.some((f) => f.rule === rule && f.consequenceOf === undefined && f.blame === 'gateway'));
  return ok ? 'ok' : `FAILED (${seen.map((d) => d.map((f) => f.rule).join('+') || 'none').join(', ')})`;
}

const scratch = mkdtempSync(path.join(tmpdir(), 'davtap-sandwich-run-'));
const apache = await startApache({ accessLog: false });
let code = 0;
try {
  await apache.mkcol('/litmus/');
  for (let i = 0; i < 5; i++) await apache.put(`/litmus/f${i}.txt`, `file ${i}\n`);
  const h = await honest(scratch, apache.url, apache.port);
  const rewrite = await broken('rewrite-hrefs', 'MS804', apache.url);
  const cut = await broken('cut', 'MS806', apache.url);
  console.log(`sandwich: honest=${h.findings} findings, litmus=${counts(h.through)} (gateway alone ${counts(h.alone)}) rewrite=${rewrite} cut=${cut}${h.same ? '' : ' (litmus results differ test by test)'}`);
  if (h.findings !== 0 || !h.same || rewrite !== 'ok' || cut !== 'ok') code = 1;
} finally {
  await apache.stop();
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(code);

// The sandwich around a real gateway: Debian's nginx with a plain proxy_pass in front of Debian's
// Apache mod_dav, davtap on both sides of it. litmus through the sandwich passes and fails exactly
// the tests it passes and fails through the same nginx alone, and no gateway difference is found.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSandwich } from '../../src/sandwich/run.js';
import type { Finding } from '../../src/types.js';
import { freePort, startApache, type ApacheServer } from '../helpers/apache.js';
import { comparable, runLitmus } from './litmus.js';
import { startNginx, type NginxGateway } from './nginx/nginx.js';

let apache: ApacheServer;
let nginx: NginxGateway;
let scratch: string;
let back: number;

test.before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'davtap-sandwich-nginx-'));
  apache = await startApache({ accessLog: false });
  back = await freePort();
  nginx = await startNginx([
    { name: 'alone', config: `location / {\n    proxy_pass http://127.0.0.1:${apache.port};\n}` },
    { name: 'sandwiched', config: `location / {\n    proxy_pass http://127.0.0.1:${back};\n}` },
  ]);
});

test.after.always(async () => {
  await nginx?.stop();
  await apache?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

test('litmus through the sandwich around an honest nginx: the same results as through nginx alone, zero gateway differences', async (t) => {
  const differences: Finding[] = [];
  const sandwich = await startSandwich({
    front: { host: '127.0.0.1', port: 0 },
    back: { host: '127.0.0.1', port: back },
    gateway: new URL(nginx.urls.sandwiched!),
    origin: new URL(apache.url),
    legs: { maxBody: 64 * 1024 * 1024, maxRequestBody: 1024 * 1024 },
    hooks: { onFlow: () => {} },
    onPair: (_f, _b, d) => differences.push(...d),
  });
  t.teardown(() => sandwich.close());
  const alone = await runLitmus(nginx.urls.alone!, { cwd: scratch });
  const through = await runLitmus(sandwich.front.url, { cwd: scratch });
  await sandwich.close();
  t.true(alone.results.length > 40, `${alone.results.length} litmus tests`);
  t.deepEqual(comparable(through, sandwich.front.url), comparable(alone, nginx.urls.alone!));
  t.deepEqual(differences.map((d) => `${d.rule} ${d.message}`), []);
  const s = sandwich.stats();
  t.true(s.paired > 40, JSON.stringify(s));
  t.is(s.differing, 0);
  const passed = (r: typeof alone) => `${r.results.filter((x) => x.outcome === 'pass').length}/${r.results.filter((x) => x.outcome === 'fail').length}`;
  t.log(`sandwich: honest=${differences.length} findings, litmus=${passed(through)} (gateway alone ${passed(alone)}); pairs ${s.paired}, front only ${s.frontOnly}, back only ${s.backOnly}`);
});

import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { exportHar, exportJsonl, exportReport } from '../../src/export/index.js';
import type { Flow } from '../../src/types.js';
import { tempDir } from '../store/temp.js';
import { captureFlow, storeWith } from './flows.js';

const secrets = ['dXNlcjpodW50ZXIy', 'sid-4711', 'theme-x', 'setcookie-0815', 'QS-TOKEN-1', 'QS-SIG-2', 'custom-secret-3', 'proxy-pass-4', 'dest-token-5'];

// The redactor itself is tested in test/redact/; these tests follow secrets through every file.

async function secretStore(t: Parameters<typeof tempDir>[0]) {
  const flow = captureFlow('apache-propfind-d1-allprop', 0, {
    requestHeaders: [
      'Authorization', 'Basic dXNlcjpodW50ZXIy',
      'Cookie', 'sid=sid-4711; theme=theme-x',
      'Proxy-Authorization', 'Basic proxy-pass-4',
      'X-Custom-Auth', 'custom-secret-3',
      'Destination', 'http://127.0.0.1/dav/b?token=dest-token-5',
    ],
    responseHeaders: ['Set-Cookie', 'sess=setcookie-0815; HttpOnly'],
    query: '?token=QS-TOKEN-1&sig=QS-SIG-2&depth=1',
  });
  return storeWith(t, [flow]);
}

/** Every file of every format, as text. */
async function exportEverything(t: Parameters<typeof tempDir>[0], redact: { enabled?: boolean; names?: string[] }, flows?: Flow[]): Promise<Map<string, string>> {
  const { store } = flows ? await storeWith(t, flows) : await secretStore(t);
  const dir = tempDir(t);
  exportHar(store, {}, path.join(dir, 'x.har'), redact);
  exportReport(store, {}, path.join(dir, 'bundle'), redact);
  let jsonl = '';
  exportJsonl(store, {}, (l) => (jsonl += l), redact, { bodies: true });
  const out = new Map<string, string>([['jsonl', jsonl], ['x.har', readFileSync(path.join(dir, 'x.har'), 'latin1')]]);
  for (const f of readdirSync(path.join(dir, 'bundle'))) out.set(`bundle/${f}`, readFileSync(path.join(dir, 'bundle', f), 'latin1'));
  return out;
}

test('no secret survives in any file of any export format: HAR, report, raw files, curl, JSON lines', async (t) => {
  const files = await exportEverything(t, { names: ['X-Custom-Auth'] });
  t.true(files.size >= 9);
  for (const [name, text] of files) for (const s of secrets) t.false(text.includes(s), `${s} in ${name}`);
  // Names stay, so a reader sees what was sent.
  t.regex(files.get('bundle/001-request.http')!, /^Authorization: \[redacted\]\r$/m);
  t.regex(files.get('bundle/001-request.http')!, /^X-Custom-Auth: \[redacted\]\r$/m);
  t.regex(files.get('bundle/001-response.http')!, /^Set-Cookie: \[redacted\]\r$/m);
  t.regex(files.get('bundle/001-request.http')!, /^PROPFIND \/dav\/\?token=%5Bredacted%5D&sig=%5Bredacted%5D&depth=1 HTTP\/1\.1\r$/m);
  t.regex(files.get('bundle/001-replay.sh')!, /\?token=%5Bredacted%5D&sig=%5Bredacted%5D&depth=1/);
});

test('with --no-redact every secret is exported as recorded', async (t) => {
  const files = await exportEverything(t, { enabled: false });
  const raw = files.get('bundle/001-request.http')! + files.get('bundle/001-response.http')!;
  for (const s of secrets) {
    t.true(files.get('x.har')!.includes(s), `${s} in the HAR`);
    t.true(files.get('jsonl')!.includes(s), `${s} in the JSON lines`);
    t.true(raw.includes(s), `${s} in the raw files`);
  }
  t.regex(files.get('bundle/report.md')!, /\*\*Not redacted\*\*/);
});

// A 207 with a Location header is a tolerated variant (MS210), and the finding quotes the header:
// a pre-signed URL's secret then sits in a finding message, not only in a header.
function locationFlow(): Flow {
  return captureFlow('apache-propfind-d1-allprop', 0, {
    requestHeaders: ['X-Auth-Token', 'HEADER-SECRET-7'],
    responseHeaders: ['Location', 'http://x/a;jsessionid=PATH-SECRET-6?token=LOCATION-SECRET-5&x=1'],
  });
}
const findingSecrets = ['LOCATION-SECRET-5', 'PATH-SECRET-6', 'HEADER-SECRET-7'];

test('a finding that quotes a Location with a token (MS210) is redacted in HAR, report, findings.json and JSON lines', async (t) => {
  const flow = locationFlow();
  const ms210 = flow.analysis!.findings.find((f) => f.rule === 'MS210');
  t.truthy(ms210, 'the real analyzer reports the Location header on a 207');
  t.true(ms210!.message.includes('token=LOCATION-SECRET-5'), ms210!.message);
  t.true(JSON.stringify(ms210!.evidence).includes('LOCATION-SECRET-5'), 'the evidence quotes it too');

  const files = await exportEverything(t, {}, [flow]);
  for (const name of ['x.har', 'jsonl', 'bundle/report.md', 'bundle/findings.json']) t.true(files.has(name), name);
  for (const [name, text] of files) for (const s of findingSecrets) t.false(text.includes(s), `${s} in ${name}`);
  // The finding is still there, with its URL and the parameter's name.
  const record = JSON.parse(files.get('jsonl')!) as { findings: { rule: string; message: string }[] };
  t.regex(record.findings.find((f) => f.rule === 'MS210')!.message, /Location header on a 207 \(http:\/\/x\/a;jsessionid=%5Bredacted%5D\?token=%5Bredacted%5D&x=1\)/);
  t.regex(files.get('bundle/report.md')!, /MS210.*token=%5Bredacted%5D/);
  const har = JSON.parse(files.get('x.har')!) as { log: { entries: { _davtap: { findings: { rule: string; message: string }[] } }[] } };
  t.regex(har.log.entries[0]!._davtap.findings.find((f) => f.rule === 'MS210')!.message, /token=%5Bredacted%5D/);
});

test('with --no-redact the finding keeps the Location as recorded', async (t) => {
  const files = await exportEverything(t, { enabled: false }, [locationFlow()]);
  for (const name of ['x.har', 'jsonl', 'bundle/report.md', 'bundle/findings.json']) t.true(files.get(name)!.includes('token=LOCATION-SECRET-5'), name);
});

import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createRedactor, exportHar, exportJsonl, exportReport, REDACTED } from '../../src/export/index.js';
import { tempDir } from '../store/temp.js';
import { captureFlow, storeWith } from './flows.js';

test('credential headers lose their values and keep their names, order and case', (t) => {
  const r = createRedactor();
  const raw = ['Host', 'h', 'authorization', 'Bearer abc', 'Cookie', 'a=1; b=2', 'Proxy-Authorization', 'Basic x', 'Set-Cookie', 's=1', 'Depth', '1'];
  t.deepEqual(r.headers(raw), ['Host', 'h', 'authorization', REDACTED, 'Cookie', REDACTED, 'Proxy-Authorization', REDACTED, 'Set-Cookie', REDACTED, 'Depth', '1']);
  t.deepEqual(raw[3], 'Bearer abc', 'the input is not modified');
  t.true(r.redactsHeader('AUTHORIZATION'));
  t.false(r.redactsHeader('Depth'));
  // WebDAV's own tokens are not credentials, and a lock bug cannot be debugged without them.
  t.false(r.redactsHeader('Lock-Token'));
  t.is(r.headerValue('If', '(<opaquelocktoken:1234>)'), '(<opaquelocktoken:1234>)');
});

test('token-looking query parameters are redacted, the rest of the URL stays byte for byte', (t) => {
  const r = createRedactor();
  t.is(r.url('http://h/dav/?token=abc&Page=2&a%20b=c+d'), 'http://h/dav/?token=%5Bredacted%5D&Page=2&a%20b=c+d');
  t.is(r.url('/s?ACCESS_TOKEN=x&key=y&sig=z&signature=w&password=p&auth=q&keep'), '/s?ACCESS_TOKEN=%5Bredacted%5D&key=%5Bredacted%5D&sig=%5Bredacted%5D&signature=%5Bredacted%5D&password=%5Bredacted%5D&auth=%5Bredacted%5D&keep');
  // Longer names ending in a secret one: pre-signed S3 URLs, OAuth refresh tokens, API keys.
  t.is(r.url('/o?X-Amz-Signature=s&refresh_token=t&api_key=k&monkey=banana'), '/o?X-Amz-Signature=%5Bredacted%5D&refresh_token=%5Bredacted%5D&api_key=%5Bredacted%5D&monkey=banana');
  t.is(r.url('http://user:pa55@h:8080/p?x=1#frag'), 'http://user:%5Bredacted%5D@h:8080/p?x=1#frag'.replace('%5Bredacted%5D', REDACTED));
  t.is(r.url('https://ghp_abc123@h/repo'), `https://${REDACTED}@h/repo`);
  t.is(r.url('/plain/path'), '/plain/path');
  t.is(r.url('/a@b/c?x=1'), '/a@b/c?x=1', 'an @ in a path is not userinfo');
  t.is(r.headerValue('Destination', 'http://h/b?token=1'), 'http://h/b?token=%5Bredacted%5D');
});

test('--redact adds header and parameter names; --no-redact keeps everything', (t) => {
  const r = createRedactor({ names: ['X-Api-Key', 'session'] });
  t.deepEqual(r.headers(['x-api-key', 'k1', 'X-Other', 'v']), ['x-api-key', REDACTED, 'X-Other', 'v']);
  t.is(r.url('/p?session=abc&x=1'), '/p?session=%5Bredacted%5D&x=1');
  const off = createRedactor({ enabled: false });
  t.deepEqual(off.headers(['Authorization', 'Basic x']), ['Authorization', 'Basic x']);
  t.is(off.url('/p?token=abc'), '/p?token=abc');
  t.false(off.redactsHeader('Authorization'));
});

const secrets = ['dXNlcjpodW50ZXIy', 'sid-4711', 'theme-x', 'setcookie-0815', 'QS-TOKEN-1', 'QS-SIG-2', 'custom-secret-3', 'proxy-pass-4', 'dest-token-5'];

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
async function exportEverything(t: Parameters<typeof tempDir>[0], redact: { enabled?: boolean; names?: string[] }): Promise<Map<string, string>> {
  const { store } = await secretStore(t);
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

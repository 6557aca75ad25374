import test from 'ava';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRedactor, curlCommand, shellQuote } from '../../src/export/index.js';
import type { Flow } from '../../src/types.js';
import { withoutProxyEnv } from '../helpers/davtap-process.js';
import { tempDir } from '../store/temp.js';

interface Received {
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: string[];
  body: Buffer;
}

/** A node:http origin that records exactly what arrives. */
async function recorder(t: Parameters<typeof tempDir>[0]): Promise<{ origin: string; got: Received[] }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ method: req.method!, url: req.url!, httpVersion: req.httpVersion, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
      res.writeHead(207, { 'Content-Type': 'application/xml' }).end('<multistatus xmlns="DAV:"/>');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { origin: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, got };
}

function flowFor(origin: string, method: string, target: string, rawHeaders: string[], body = Buffer.alloc(0), httpVersion = '1.1'): Flow {
  return {
    id: 'f1',
    mode: 'reverse',
    client: { address: '127.0.0.1', port: 1 },
    timings: { start: 0, firstByte: 1, end: 2 },
    request: { method, url: `${origin}${target}`, target, httpVersion, rawHeaders, body: { bytes: body, bytesSeen: body.length, captureComplete: true } },
    response: null,
    outcome: { kind: 'complete' },
  };
}

function runSh(cmd: string, cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', cmd], { cwd, env: { ...withoutProxyEnv(), ...env }, timeout: 20_000 }, (err, _out, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stderr }),
    );
  });
}

const pairs = (raw: string[]) => raw.reduce<string[]>((acc, v, i) => (i % 2 === 0 ? [...acc, `${v}: ${raw[i + 1]}`] : acc), []);

test('the curl command sends the method, path, headers and body the client sent, minus hop-by-hop fields', async (t) => {
  const { origin, got } = await recorder(t);
  const dir = tempDir(t);
  const body = Buffer.from('<?xml version="1.0"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>\n');
  writeFileSync(path.join(dir, 'b.xml'), body);
  const headers = [
    'Host', 'davtap.local:8080', 'User-Agent', "Mozilla/5.0 (it's quoted)", 'Depth', '1', 'Content-Type', 'application/xml',
    'Connection', 'keep-alive, X-Hop', 'X-Hop', 'gone', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Content-Length', String(body.length),
    'Expect', '100-continue', 'Prefer', 'return=minimal', 'X-Empty', '', 'If', '(<urn:uuid:1>) ["etag"]',
  ];
  const cmd = curlCommand(flowFor(origin, 'PROPFIND', '/dav/a%20b/./c?x=[1]', headers, body), createRedactor(), { bodyFile: 'b.xml' });
  const r = await runSh(cmd, dir);
  t.is(r.code, 0, r.stderr);
  t.is(got.length, 1);
  const g = got[0]!;
  t.is(g.method, 'PROPFIND');
  // Dot segments and brackets arrive as recorded (--path-as-is, --globoff).
  t.is(g.url, '/dav/a%20b/./c?x=[1]');
  t.deepEqual(g.body, body);
  const sent = pairs(g.rawHeaders).filter((h) => !/^(Host|Content-Length|Connection):/i.test(h));
  // Same order and case as recorded; Connection, what it names, Keep-Alive, TE and Expect stay out;
  // curl's own Accept is not added because the client did not send one.
  t.deepEqual(sent, ["User-Agent: Mozilla/5.0 (it's quoted)", 'Depth: 1', 'Content-Type: application/xml', 'Prefer: return=minimal', 'X-Empty: ', 'If: (<urn:uuid:1>) ["etag"]']);
  t.is(pairs(g.rawHeaders).find((h) => h.startsWith('Content-Length'))!, `Content-Length: ${body.length}`);
});

test('without a recorded Content-Type or User-Agent, curl adds none of its own', async (t) => {
  const { origin, got } = await recorder(t);
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'body'), 'raw bytes');
  const r = await runSh(curlCommand(flowFor(origin, 'PUT', '/f', ['Host', 'x'], Buffer.from('raw bytes')), createRedactor(), { bodyFile: 'body' }), dir);
  t.is(r.code, 0, r.stderr);
  const names = got[0]!.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  t.false(names.includes('content-type'));
  t.false(names.includes('user-agent'));
  t.false(names.includes('accept'));
  t.is(got[0]!.body.toString(), 'raw bytes');
});

test('redacted headers are sent as [redacted], or from DAVTAP_<NAME> when the maintainer sets it', async (t) => {
  const { origin, got } = await recorder(t);
  const dir = tempDir(t);
  const flow = flowFor(origin, 'GET', '/p?token=abc&x=1', ['Authorization', 'Basic c2VjcmV0', 'Accept', '*/*']);
  const cmd = curlCommand(flow, createRedactor());
  t.false(cmd.includes('c2VjcmV0'));
  t.false(cmd.includes('abc'));
  await runSh(cmd, dir);
  await runSh(cmd, dir, { DAVTAP_AUTHORIZATION: 'Basic bWluZQ==' });
  t.is(got[0]!.rawHeaders[got[0]!.rawHeaders.indexOf('Authorization') + 1], '[redacted]');
  t.is(got[1]!.rawHeaders[got[1]!.rawHeaders.indexOf('Authorization') + 1], 'Basic bWluZQ==');
  t.is(got[0]!.url, '/p?token=%5Bredacted%5D&x=1');
  t.is(got[0]!.method, 'GET');
});

test('HEAD uses --head, HTTP/1.0 stays 1.0, and a base expression points the command elsewhere', async (t) => {
  const { origin, got } = await recorder(t);
  const dir = tempDir(t);
  const cmd = curlCommand(flowFor('http://127.0.0.1:9', 'HEAD', '/h', ['Host', 'x'], Buffer.alloc(0), '1.0'), createRedactor(), { baseExpr: '"$BASE"' });
  t.regex(cmd, / --head /);
  t.regex(cmd, / --http1\.0 /);
  const r = await runSh(cmd, dir, { BASE: origin });
  t.is(r.code, 0, r.stderr);
  t.is(got[0]!.method, 'HEAD');
  t.is(got[0]!.httpVersion, '1.0');
});

test('shell quoting survives quotes, dollars and backticks', async (t) => {
  const dir = tempDir(t);
  const nasty = `it's $HOME \`id\` "q" \\ end`;
  const out = path.join(dir, 'out');
  const r = await runSh(`printf '%s' ${shellQuote(nasty)} > ${shellQuote(out)}`, dir);
  t.is(r.code, 0);
  t.is(readFileSync(out, 'utf8'), nasty);
});

// The CA page (http://davtap.ca/ in forward mode), as the pure function the forward router calls:
// which targets it takes, what it serves, and that what it serves is the CA certificate itself.
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { caPageAnswer, caPagePath, pemToDer, type CaPageAnswer } from '../../src/proxy/ca-page.js';
import { ensureCa } from '../../src/proxy/ca.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-ca-page-'));
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));
const { info } = ensureCa(dir);
const caFile = fs.readFileSync(info.certPath);
const ca = { certPem: caFile.toString('utf8'), fingerprint256: info.fingerprint256 };

function header(a: CaPageAnswer, name: string): string | undefined {
  for (let i = 0; i < a.rawHeaders.length; i += 2) if (a.rawHeaders[i]!.toLowerCase() === name.toLowerCase()) return a.rawHeaders[i + 1];
  return undefined;
}

function get(target: string, method = 'GET'): CaPageAnswer {
  const a = caPageAnswer(method, target, ca);
  if (!a) throw new Error(`no answer for ${method} ${target}`);
  return a;
}

for (const target of [
  '/',
  '/davtap-ca.pem',
  'http://example.org/',
  'http://example.org/davtap-ca.pem',
  'http://davtap.ca.example.org/',
  'http://notdavtap.ca/',
  'http://example.org/?u=http://davtap.ca/',
  'http://example.org/@davtap.ca/',
  'davtap.ca:443',
  'davtap.ca:80',
  '*',
  'ftp://davtap.ca/',
  '',
]) {
  test(`not for davtap.ca, so null (the router relays or refuses it as usual): ${JSON.stringify(target)}`, (t) => {
    t.is(caPageAnswer('GET', target, ca), null);
    t.is(caPagePath(target), null);
  });
}

for (const [target, want] of [
  ['http://davtap.ca/', '/'],
  ['http://davtap.ca', '/'],
  ['http://DAVTAP.CA/', '/'],
  ['http://davtap.ca./', '/'],
  ['http://davtap.ca:80/', '/'],
  ['http://davtap.ca:8080/davtap-ca.pem', '/davtap-ca.pem'],
  ['http://user:pw@davtap.ca/davtap-ca.der', '/davtap-ca.der'],
  ['http://davtap.ca/davtap-ca.pem?x=1#frag', '/davtap-ca.pem'],
  ['https://davtap.ca/davtap-ca.der', '/davtap-ca.der'],
  ['HTTP://davtap.ca/other', '/other'],
] as const) {
  test(`for davtap.ca: ${target} → ${want}`, (t) => {
    t.is(caPagePath(target), want);
    t.not(caPageAnswer('GET', target, ca), null);
  });
}

test('the page: 200 HTML with the fingerprint, links to both files and the platforms', (t) => {
  const a = get('http://davtap.ca/');
  t.is(a.status, 200);
  t.is(a.reason, 'OK');
  t.is(header(a, 'Content-Type'), 'text/html; charset=utf-8');
  t.is(header(a, 'Content-Length'), String(a.body.length));
  t.is(header(a, 'Cache-Control'), 'no-store');
  const html = a.body.toString('utf8');
  t.true(html.startsWith('<!DOCTYPE html>'));
  t.true(html.includes(info.fingerprint256), 'fingerprint');
  t.true(html.includes('href="/davtap-ca.pem"'));
  t.true(html.includes('href="/davtap-ca.der"'));
  for (const platform of ['Debian/Ubuntu', 'Fedora', 'Firefox', 'macOS', 'Windows', 'Android', 'iOS', 'Java', 'Node.js', 'Python', 'curl', 'certs/README.md']) {
    t.true(html.includes(platform), platform);
  }
  t.true(html.includes('certutil -addstore Root'), 'the machine store for WebClient');
  t.false(html.includes('PRIVATE KEY'));
  t.deepEqual(get('http://davtap.ca/index.html').body, a.body);
});

test('the fingerprint is escaped as HTML', (t) => {
  const a = caPageAnswer('GET', 'http://davtap.ca/', { certPem: ca.certPem, fingerprint256: '<b>&"' });
  t.true(a!.body.toString().includes('&#60;b&#62;&#38;&#34;'));
  t.false(a!.body.toString().includes('<b>&"'));
});

test('/davtap-ca.pem is the CA file, byte for byte, as application/x-pem-file', (t) => {
  const a = get('http://davtap.ca/davtap-ca.pem');
  t.is(a.status, 200);
  t.is(header(a, 'Content-Type'), 'application/x-pem-file');
  t.is(header(a, 'Content-Disposition'), 'attachment; filename="davtap-ca.pem"');
  t.is(header(a, 'Content-Length'), String(caFile.length));
  t.deepEqual(a.body, caFile);
  t.false(a.body.toString().includes('PRIVATE KEY'));
});

test('/davtap-ca.der is the same certificate in DER, as application/x-x509-ca-cert', (t) => {
  const a = get('http://davtap.ca/davtap-ca.der');
  t.is(a.status, 200);
  t.is(header(a, 'Content-Type'), 'application/x-x509-ca-cert');
  t.is(header(a, 'Content-Disposition'), 'attachment; filename="davtap-ca.der"');
  t.is(header(a, 'Content-Length'), String(a.body.length));
  t.is(a.body[0], 0x30, 'a DER SEQUENCE, not text');
  const fromDer = new X509Certificate(a.body);
  const fromFile = new X509Certificate(caFile);
  t.is(fromDer.fingerprint256, info.fingerprint256);
  t.deepEqual(fromDer.raw, fromFile.raw);
  t.true(fromDer.ca);
  t.deepEqual(pemToDer(ca.certPem), fromFile.raw);
});

test('HEAD: the same status and headers as GET, Content-Length included, and no body', (t) => {
  for (const target of ['http://davtap.ca/', 'http://davtap.ca/davtap-ca.pem', 'http://davtap.ca/davtap-ca.der', 'http://davtap.ca/nothing']) {
    const g = get(target);
    const h = get(target, 'HEAD');
    t.is(h.status, g.status, target);
    t.deepEqual(h.rawHeaders, g.rawHeaders, target);
    t.is(h.body.length, 0, target);
    t.true(Number(header(h, 'Content-Length')) > 0, target);
  }
});

test('methods other than GET and HEAD: 405 with Allow, never relayed', (t) => {
  for (const method of ['POST', 'PUT', 'PROPFIND', 'DELETE', 'OPTIONS', 'get']) {
    const a = get('http://davtap.ca/davtap-ca.pem', method);
    t.is(a.status, 405, method);
    t.is(a.reason, 'Method Not Allowed');
    t.is(header(a, 'Allow'), 'GET, HEAD');
    t.is(header(a, 'Content-Length'), String(a.body.length));
    t.true(a.body.length > 0);
  }
});

test('unknown paths: 404', (t) => {
  for (const target of ['http://davtap.ca/nothing', 'http://davtap.ca/davtap-ca-key.pem', 'http://davtap.ca/davtap-ca.pem/', 'http://davtap.ca//davtap-ca.pem']) {
    const a = get(target);
    t.is(a.status, 404, target);
    t.is(a.reason, 'Not Found');
    t.is(header(a, 'Content-Type'), 'text/plain; charset=utf-8');
    t.is(header(a, 'Content-Length'), String(a.body.length));
    t.false(a.body.toString().includes('PRIVATE KEY'));
  }
});

test('every answer names each header once, with an even rawHeaders list', (t) => {
  for (const [method, target] of [['GET', 'http://davtap.ca/'], ['GET', 'http://davtap.ca/x'], ['POST', 'http://davtap.ca/'], ['HEAD', 'http://davtap.ca/davtap-ca.der']]) {
    const a = get(target!, method);
    t.is(a.rawHeaders.length % 2, 0);
    const names = a.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    t.is(new Set(names).size, names.length);
    t.false(names.includes('connection'), 'connection handling is the relay\'s');
  }
});

test('the module is pure: it imports nothing', (t) => {
  const source = fs.readFileSync(new URL('../../src/proxy/ca-page.ts', import.meta.url), 'utf8');
  t.notRegex(source, /^\s*import\s/m);
  t.notRegex(source, /\bimport\(/);
  t.notRegex(source, /\brequire\(/);
});

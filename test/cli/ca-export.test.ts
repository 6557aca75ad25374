// `davtap ca --export FILE --format pem|der` and the pointer to certs/README.md, as users run them:
// the built binary in a child process.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAVTAP_BIN, withoutProxyEnv } from '../helpers/davtap-process.js';

const certsReadme = fileURLToPath(new URL('../../certs/README.md', import.meta.url));

function davtap(args: string[]) {
  const r = spawnSync(process.execPath, [DAVTAP_BIN, ...args], { env: withoutProxyEnv(), timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-ca-export-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A CA directory with its CA created, and the CA file's bytes. */
function withCa(t: { teardown(fn: () => void): void }) {
  const dir = tempDir(t);
  const caDir = path.join(dir, 'ca');
  const r = davtap(['ca', '--ca-dir', caDir, '--path']);
  if (r.code !== 0) throw new Error(r.stderr);
  return { dir, caDir, pem: fs.readFileSync(path.join(caDir, 'davtap-ca.pem')) };
}

test('--export FILE writes the CA file as it is (PEM is the default), never the key', (t) => {
  const { dir, caDir, pem } = withCa(t);
  for (const [file, extra] of [['default.pem', []], ['explicit.pem', ['--format', 'pem']]] as const) {
    const target = path.join(dir, file);
    const r = davtap(['ca', '--ca-dir', caDir, '--export', target, ...extra]);
    t.is(r.code, 0, r.stderr);
    t.is(r.stderr, '');
    t.regex(r.stdout.toString(), new RegExp(`^wrote the CA certificate \\(PEM\\) to ${target} \\(SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}\\)\\n$`));
    t.deepEqual(fs.readFileSync(target), pem);
    t.false(fs.readFileSync(target, 'utf8').includes('PRIVATE KEY'));
    t.is(fs.statSync(target).mode & 0o777, 0o644);
  }
});

test('--format der writes the same certificate in DER', (t) => {
  const { dir, caDir, pem } = withCa(t);
  const target = path.join(dir, 'davtap-ca.der');
  const r = davtap(['ca', '--ca-dir', caDir, '--export', target, '--format', 'der']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout.toString(), /^wrote the CA certificate \(DER\) to /);
  const der = fs.readFileSync(target);
  t.is(der[0], 0x30, 'binary DER, not PEM text');
  t.false(der.includes('-----BEGIN'));
  const fromDer = new X509Certificate(der);
  const fromPem = new X509Certificate(pem);
  t.deepEqual(fromDer.raw, fromPem.raw);
  t.is(fromDer.fingerprint256, fromPem.fingerprint256);
  t.true(r.stdout.toString().includes(fromPem.fingerprint256));
  // The format is case-insensitive.
  const upper = path.join(dir, 'upper.der');
  t.is(davtap(['ca', '--ca-dir', caDir, '--export', upper, '--format', 'DER']).code, 0);
  t.deepEqual(fs.readFileSync(upper), der);
});

test('--export - writes the certificate alone to standard output, PEM or DER', (t) => {
  const { caDir, pem } = withCa(t);
  const p = davtap(['ca', '--ca-dir', caDir, '--export', '-']);
  t.is(p.code, 0, p.stderr);
  t.deepEqual(p.stdout, pem);
  t.is(p.stderr, '');
  const d = davtap(['ca', '--ca-dir', caDir, '--export', '-', '--format', 'der']);
  t.is(d.code, 0, d.stderr);
  t.deepEqual(d.stdout, new X509Certificate(pem).raw);
  t.is(d.stderr, '');
});

for (const [name, args, pattern] of [
  ['a bad format', ['--export', 'x.p12', '--format', 'p12'], /^davtap: ca: --format: 'p12' is not pem or der\n$/],
  ['--format without --export', ['--format', 'der'], /^davtap: ca: --format is for --export FILE\n$/],
  ['--export without a file', ['--export', ''], /^davtap: ca: --export needs a FILE/],
  ['--path with --export', ['--path', '--export', 'x.pem'], /^davtap: ca: --path and --export cannot be combined\n$/],
  ['--show with --path', ['--show', '--path'], /^davtap: ca: --show and --path cannot be combined\n$/],
  ['an unknown option', ['--pkcs12'], /^davtap: ca: Unknown option '--pkcs12'/],
] as const) {
  test(`${name}: one line, exit 2, nothing created`, (t) => {
    const dir = tempDir(t);
    const caDir = path.join(dir, 'ca');
    const r = davtap(['ca', '--ca-dir', caDir, ...args.map((a) => (a.includes('.') ? path.join(dir, a) : a))]);
    t.is(r.code, 2);
    t.regex(r.stderr, pattern);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.is(r.stdout.length, 0);
    t.false(fs.existsSync(caDir), 'the command line is checked before the CA is created');
  });
}

test('a file that cannot be written: one line, exit 2', (t) => {
  const { dir, caDir } = withCa(t);
  for (const target of [path.join(dir, 'missing', 'davtap-ca.pem'), dir]) {
    for (const format of ['pem', 'der']) {
      const r = davtap(['ca', '--ca-dir', caDir, '--export', target, '--format', format]);
      t.is(r.code, 2, target);
      t.regex(r.stderr, new RegExp(`^davtap: ca: cannot write ${target}: E[A-Z]+`));
      t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
      t.is(r.stdout.length, 0);
    }
  }
});

test('davtap ca points to certs/README.md in the install and the repository', (t) => {
  const { caDir } = withCa(t);
  const r = davtap(['ca', '--ca-dir', caDir]);
  t.is(r.code, 0, r.stderr);
  const out = r.stdout.toString();
  t.true(fs.existsSync(certsReadme));
  t.true(out.includes(`certs/README.md in davtap's install (${certsReadme}) and repository`), out);
  t.regex(out, /--format der/);
  t.regex(out, /certutil -addstore Root/);
  t.regex(out, /http:\/\/davtap\.ca\//);
  const help = davtap(['ca', '--help']);
  t.is(help.code, 0);
  t.true(help.stdout.toString().includes(certsReadme));
});

// The helper scripts of certs/: they parse (bash -n, and shellcheck when installed), and the
// system-store ones install, keep and remove the CA idempotently, run against a directory of the
// test's (DAVTAP_TRUST_ROOT) with a stand-in for update-ca-certificates / update-ca-trust that
// logs its calls. trust-nss.sh runs against real NSS databases when certutil is installed.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCa } from '../../src/proxy/ca.js';

const certsDir = fileURLToPath(new URL('../../certs/', import.meta.url));
/** The body trust-debian.sh and trust-fedora.sh source: read, never run on its own. */
const SOURCED = 'trust-system.sh';
const scripts = fs.readdirSync(certsDir).filter((f) => f.endsWith('.sh'));

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-certs-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function run(script: string, args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync('bash', [path.join(certsDir, script), ...args], { env, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the scripts are executable and parse (bash -n; shellcheck when installed)', (t) => {
  t.true(scripts.length >= 3, scripts.join(' '));
  for (const s of scripts) {
    const file = path.join(certsDir, s);
    if (s === SOURCED) {
      t.true(fs.readFileSync(file, 'utf8').includes('# shellcheck shell=bash'), s);
    } else {
      t.true((fs.statSync(file).mode & 0o111) !== 0, `${s} is executable`);
      t.true(fs.readFileSync(file, 'utf8').startsWith('#!/usr/bin/env bash\n'), s);
    }
    const r = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
  }
  if (!has('shellcheck')) {
    t.log('shellcheck not installed: skipped');
    return;
  }
  const r = spawnSync('shellcheck', ['-x', ...scripts.map((s) => path.join(certsDir, s))], { encoding: 'utf8', cwd: path.join(certsDir, '..') });
  t.is(r.status, 0, r.stdout + r.stderr);
});

for (const [script, store, name, update] of [
  ['trust-debian.sh', 'usr/local/share/ca-certificates', 'davtap.crt', 'update-ca-certificates'],
  ['trust-fedora.sh', 'etc/pki/ca-trust/source/anchors', 'davtap.pem', 'update-ca-trust'],
] as const) {
  test(`${script}: the default CA file into the store, once; a new CA replaces it; --remove takes it out, once`, (t) => {
    const dir = tempDir(t);
    const bin = path.join(dir, 'bin');
    const log = path.join(dir, 'update.log');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, update), `#!/bin/sh\necho "$0 $*" >> '${log}'\n`, { mode: 0o755 });
    const config = path.join(dir, 'config');
    const caDir = path.join(config, 'davtap', 'ca');
    const { certPem, info } = ensureCa(caDir);
    const env = { PATH: `${bin}:${process.env.PATH}`, HOME: dir, XDG_CONFIG_HOME: config, DAVTAP_TRUST_ROOT: path.join(dir, 'root') };
    const dest = path.join(dir, 'root', store, name);
    const calls = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').length : 0);

    const first = run(script, [], env);
    t.is(first.code, 0, first.stderr);
    t.regex(first.stdout, /^trusted /m);
    t.is(fs.readFileSync(dest, 'utf8'), certPem.replace(/\r/g, ''), 'the CA file with LF line ends');
    t.is(fs.statSync(dest).mode & 0o777, 0o644);
    t.is(calls(), 1);

    const again = run(script, [info.certPath], env);
    t.is(again.code, 0, again.stderr);
    t.regex(again.stdout, /already trusted/);
    t.is(calls(), 1, 'nothing to update');

    const other = ensureCa(path.join(dir, 'other-ca'));
    const replaced = run(script, [other.info.certPath], env);
    t.is(replaced.code, 0, replaced.stderr);
    t.is(fs.readFileSync(dest, 'utf8'), other.certPem.replace(/\r/g, ''));
    t.is(calls(), 2);

    const removed = run(script, ['--remove'], env);
    t.is(removed.code, 0, removed.stderr);
    t.regex(removed.stdout, /^removed /);
    t.false(fs.existsSync(dest));
    t.is(calls(), 3);
    const removedAgain = run(script, ['--remove'], env);
    t.is(removedAgain.code, 0);
    t.regex(removedAgain.stdout, /nothing to remove/);
    t.is(calls(), 3);
  });

  test(`${script}: a key, a missing file or a stray option is refused with exit 2`, (t) => {
    const dir = tempDir(t);
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, update), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const { info } = ensureCa(path.join(dir, 'ca'));
    const env = { PATH: `${bin}:${process.env.PATH}`, HOME: dir, DAVTAP_TRUST_ROOT: path.join(dir, 'root') };
    for (const [args, pattern] of [
      [[info.keyPath], /private key/],
      [[path.join(dir, 'missing.pem')], /cannot read/],
      [['--frobnicate'], /unknown option --frobnicate/],
      [[info.certPath, info.certPath], /one PEM file only/],
    ] as const) {
      const r = run(script, [...args], env);
      t.is(r.code, 2, args.join(' '));
      t.regex(r.stderr, pattern);
    }
    t.false(fs.existsSync(path.join(dir, 'root', store, name)));
    const help = run(script, ['--help'], env);
    t.is(help.code, 0);
    t.regex(help.stdout, /--remove/);
  });
}

const nssTest = has('certutil') ? test : test.skip;

nssTest('trust-nss.sh: every profile of the user, once; a new CA replaces the old; --remove', (t) => {
  const home = tempDir(t);
  const dbs = [path.join(home, '.pki', 'nssdb'), path.join(home, '.mozilla', 'firefox', 'abc.default-release'), path.join(home, '.thunderbird', 'xyz.default')];
  for (const db of dbs) {
    fs.mkdirSync(db, { recursive: true });
    const r = spawnSync('certutil', ['-N', '-d', `sql:${db}`, '--empty-password'], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
  }
  const config = path.join(home, '.config');
  const { info } = ensureCa(path.join(config, 'davtap', 'ca'));
  const env = { PATH: process.env.PATH, HOME: home, USER: 'tester' };
  const listed = (db: string) => spawnSync('certutil', ['-d', `sql:${db}`, '-L', '-n', 'davtap CA', '-a'], { encoding: 'utf8' });
  const trustOf = (db: string) => spawnSync('certutil', ['-d', `sql:${db}`, '-L'], { encoding: 'utf8' }).stdout;

  const first = run('trust-nss.sh', [], env);
  t.is(first.code, 0, first.stderr);
  for (const db of dbs) {
    t.true(first.stdout.includes(`trusted: ${db}`), first.stdout);
    t.regex(trustOf(db), /davtap CA\s+C,,/);
    t.is(listed(db).stdout.replace(/\r/g, '').trim(), fs.readFileSync(info.certPath, 'utf8').replace(/\r/g, '').trim());
  }
  const again = run('trust-nss.sh', [info.certPath], env);
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout.match(/already trusted/g)?.length, dbs.length);

  const other = ensureCa(path.join(home, 'other'));
  const replaced = run('trust-nss.sh', ['--db', dbs[1]!, other.info.certPath], env);
  t.is(replaced.code, 0, replaced.stderr);
  t.is(listed(dbs[1]!).stdout.replace(/\r/g, '').trim(), other.certPem.replace(/\r/g, '').trim());
  t.is(listed(dbs[0]!).stdout.replace(/\r/g, '').trim(), fs.readFileSync(info.certPath, 'utf8').replace(/\r/g, '').trim(), 'other databases untouched');

  const removed = run('trust-nss.sh', ['--remove'], env);
  t.is(removed.code, 0, removed.stderr);
  for (const db of dbs) {
    t.true(removed.stdout.includes(`removed: ${db}`), removed.stdout);
    t.not(listed(db).status, 0);
  }
  const removedAgain = run('trust-nss.sh', ['--remove'], env);
  t.is(removedAgain.stdout.match(/not trusted/g)?.length, dbs.length);
});

nssTest('trust-nss.sh: no database is not an error; a key is refused', (t) => {
  const home = tempDir(t);
  const { info } = ensureCa(path.join(home, 'ca'));
  const env = { PATH: process.env.PATH, HOME: home, USER: 'tester' };
  const none = run('trust-nss.sh', [info.certPath], env);
  t.is(none.code, 0, none.stderr);
  t.regex(none.stdout, /no NSS database found/);
  const db = path.join(home, '.pki', 'nssdb');
  fs.mkdirSync(db, { recursive: true });
  spawnSync('certutil', ['-N', '-d', `sql:${db}`, '--empty-password']);
  const key = run('trust-nss.sh', [info.keyPath], env);
  t.is(key.code, 2);
  t.regex(key.stderr, /private key/);
});

// What `npm ci` installs for users is the package's dependencies; devDependencies (webdav-server,
// tsx, ava…) are for tests and benchmarks. Product code (src/ and ui/) importing one would work in
// a development checkout and fail for a user (`davtap demo` included): every package src/ and ui/
// import is a dependency.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return sources(rel);
    return /\.ts$/.test(e.name) && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** The bare package names a module imports (static imports, re-exports, dynamic imports). */
function importedPackages(text: string): string[] {
  const specifiers = [
    ...[...text.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!),
  ];
  return specifiers
    .filter((s) => !s.startsWith('.') && !s.startsWith('/') && !s.startsWith('node:'))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!));
}

test('the import scan finds static, type-only, re-exported and dynamic imports of packages, not relative or node: ones', (t) => {
  const text = [
    "import { SaxesParser } from 'saxes';",
    "import type Database from 'better-sqlite3';",
    "export { x } from '@scope/pkg/sub';",
    "const m = await import('webdav-server');",
    "import './side-effect.js';",
    "import fs from 'node:fs';",
    "import { y } from '../y.js';",
  ].join('\n');
  t.deepEqual(importedPackages(text).sort(), ['@scope/pkg', 'better-sqlite3', 'saxes', 'webdav-server']);
});

test('src/ and ui/ import only packages that are dependencies, never devDependencies', (t) => {
  const offenders: string[] = [];
  let scanned = 0;
  for (const file of [...sources('src'), ...sources('ui')]) {
    scanned++;
    const text = readFileSync(path.join(root, file), 'utf8');
    for (const name of importedPackages(text)) {
      if (!(name in pkg.dependencies)) offenders.push(`${file}: ${name}${name in pkg.devDependencies ? ' (a devDependency)' : ''}`);
    }
  }
  t.true(scanned > 50);
  t.deepEqual(offenders, []);
});

// The one-relay acceptance line: how far davtap is from one raw-socket relay for every mode and one
// HTTP/1 wire core. `npm run one-relay` prints exactly one line:
//
//   one-relay: node-http-in-proxy=N shim=gone|present wire-files=N in K folder(s) pipeline-in-cli=N errors-doc-test=yes|no
//
// - node-http-in-proxy: files under src/proxy/ that import node:http or node:https (also as 'http',
//   'https'). Type-only imports count too: a relay that names node:http's types is still built
//   around node:http, and the goal is that src/proxy/ does not depend on it at all.
// - shim: whether src/proxy/method-shim.ts (node:http's stand-in method names) still exists.
// - wire-files: source files (src/, ui/) that find the end of a head, parse a chunk size or look a
//   header up by name in a raw header array, and K the folders they are in; the goal is one
//   folder, src/http/. The scan is the tests' (test/helpers/wire-core-scan.ts: the line patterns of
//   bench/lib/wire-core-scan.ts and a few more lookups), or those line patterns alone where that
//   helper is absent. BENCH_VERBOSE=1 lists the lines found on stderr.
// - pipeline-in-cli: files in src/cli/ named live, pipeline* or listing-history (the pipeline's
//   place is src/pipeline/).
// - errors-doc-test: yes when test/errors.test.ts exists and tests the README's exit table against
//   the exit statuses and error codes (judged by its content).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { scanWireCore } from './lib/wire-core-scan.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : /\.(?:ts|js|mjs)$/.test(name) ? [full] : [];
  });
}

/** import … from 'node:http' (type-only too), import 'node:https', import('http'), require('https'), export … from. */
const NODE_HTTP = /\b(?:import|export)\b[^;]*?\bfrom\s*['"](?:node:)?https?['"]|\bimport\s*['"](?:node:)?https?['"]|\b(?:import|require)\(\s*['"](?:node:)?https?['"]\s*\)/;

const nodeHttpInProxy = filesUnder(path.join(root, 'src/proxy')).filter((f) => NODE_HTTP.test(readFileSync(f, 'utf8'))).length;

const shim = existsSync(path.join(root, 'src/proxy/method-shim.ts')) ? 'present' : 'gone';

interface Hit {
  file: string;
  line: number;
  text: string;
}
const helper = path.join(root, 'test/helpers/wire-core-scan.ts');
const hits: Hit[] = existsSync(helper) ? ((await import(pathToFileURL(helper).href)) as { wireHits(root: string): Hit[] }).wireHits(root) : scanWireCore(root);
const wireFiles = [...new Set(hits.map((h) => h.file))];
const folders = new Set(wireFiles.map((f) => path.posix.dirname(f)));
if (process.env.BENCH_VERBOSE) for (const h of hits) process.stderr.write(`${h.file}:${h.line}: ${h.text}\n`);

const cliDir = path.join(root, 'src/cli');
const pipelineInCli = existsSync(cliDir) ? readdirSync(cliDir).filter((name) => /^(?:live|pipeline[^/]*|listing-history)\.(?:ts|js)$/.test(name)).length : 0;

function errorsDocTest(): 'yes' | 'no' {
  const file = path.join(root, 'test/errors.test.ts');
  if (!existsSync(file)) return 'no';
  const text = readFileSync(file, 'utf8');
  // It reads the README's exits block and holds it to the tables of src/errors.ts.
  const readsReadme = /README\.md/.test(text) && /exits:begin/.test(text);
  const againstTables = /\bexitStatuses\b/.test(text) && /\berrorCodes\b/.test(text);
  return readsReadme && againstTables && /\btest\(/.test(text) ? 'yes' : 'no';
}

process.stdout.write(
  `one-relay: node-http-in-proxy=${nodeHttpInProxy} shim=${shim} wire-files=${wireFiles.length} in ${folders.size} folder(s) pipeline-in-cli=${pipelineInCli} errors-doc-test=${errorsDocTest()}\n`,
);

// Lint rules, including the dependency direction of DESIGN.md: each layer may import only what
// sits below it, and each third-party package stays in the one layer that owns it.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const restrict = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });
const pkg = (name, owner) => ({ group: [name, `${name}/*`], message: `only ${owner} may import ${name}` });
const layer = (dir, who) => ({ group: [`**/${dir}/*`, `**/${dir}`], message: `${who} must not import ${dir}/` });

// Packages owned by a single layer.
const owned = [
  pkg('node-forge', 'src/proxy/ca.ts'),
  pkg('better-sqlite3', 'src/store/'),
  pkg('blessed', 'ui/'),
];
const except = (...names) => owned.filter((p) => !names.includes(p.group[0]));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/out/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  // Everything in src/ and ui/ by default: third-party packages only in their owner layer.
  { files: ['src/**/*.ts', 'ui/**/*.ts'], rules: restrict(owned) },
  // analysis/ is pure: types, errors, saxes and node:zlib only.
  {
    files: ['src/analysis/**/*.ts'],
    rules: restrict([
      ...owned,
      layer('proxy', 'analysis'), layer('tap', 'analysis'), layer('store', 'analysis'), layer('ui', 'analysis'),
      layer('cli', 'analysis'), layer('pipeline', 'analysis'), layer('export', 'analysis'), layer('verify', 'analysis'), layer('inject', 'analysis'), layer('readers', 'analysis'),
      // '/http' (anchored): a bare 'http' would also match davtap's own src/http/, which is pure and allowed.
      { group: ['node:*', '!node:zlib', 'fs', 'net', '/http', 'https', 'child_process'], message: 'analysis/ does no I/O (node:zlib only)' },
      { group: ['fast-xml-parser'], message: 'analysis/ parses with saxes only' },
    ]),
  },
  // http/ is the one HTTP/1 wire core (heads, header lookup, framing, chunk decoding): pure, so
  // that the relay, the analyzer, check, verify, the exports and the UI can all read bytes with it.
  {
    files: ['src/http/**/*.ts'],
    rules: restrict([
      ...owned,
      layer('proxy', 'http'), layer('tap', 'http'), layer('store', 'http'), layer('ui', 'http'), layer('cli', 'http'), layer('pipeline', 'http'),
      layer('export', 'http'), layer('verify', 'http'), layer('inject', 'http'), layer('analysis', 'http'), layer('redact', 'http'), layer('readers', 'http'),
      { group: ['node:*', 'fs', 'net', '/http', 'https', 'child_process'], message: 'http/ does no I/O' },
    ]),
  },
  // readers/ turns saved captures (raw .http files, HAR) into responses to analyze offline: pure,
  // so that check and the tests read them the same way without going through the CLI.
  {
    files: ['src/readers/**/*.ts'],
    rules: restrict([
      ...owned,
      layer('proxy', 'readers'), layer('tap', 'readers'), layer('store', 'readers'), layer('ui', 'readers'), layer('cli', 'readers'),
      layer('pipeline', 'readers'), layer('export', 'readers'), layer('verify', 'readers'), layer('inject', 'readers'),
      { group: ['node:*', '!node:zlib', 'fs', 'net', '/http', 'https', 'child_process'], message: 'readers/ does no I/O (node:zlib only)' },
    ]),
  },
  // redact/ is pure too: the exports, the UI and the flow lines share it, so it depends on none of them.
  {
    files: ['src/redact/**/*.ts'],
    rules: restrict([
      ...owned,
      layer('proxy', 'redact'), layer('tap', 'redact'), layer('store', 'redact'), layer('ui', 'redact'), layer('cli', 'redact'),
      layer('export', 'redact'), layer('verify', 'redact'), layer('inject', 'redact'), layer('analysis', 'redact'),
      { group: ['node:*', 'fs', 'net', '/http', 'https', 'child_process'], message: 'redact/ does no I/O' },
    ]),
  },
  { files: ['src/proxy/ca.ts'], rules: restrict([...except('node-forge'), layer('store', 'proxy'), layer('ui', 'proxy')]) },
  { files: ['src/proxy/**/*.ts', 'src/tap/**/*.ts'], ignores: ['src/proxy/ca.ts'], rules: restrict([...owned, layer('store', 'proxy'), layer('ui', 'proxy'), layer('pipeline', 'proxy'), layer('cli', 'proxy')]) },
  { files: ['src/store/**/*.ts'], rules: restrict([...except('better-sqlite3'), layer('proxy', 'store'), layer('ui', 'store'), layer('cli', 'store'), layer('pipeline', 'store')]) },
  // The UI reads the store and nothing else.
  {
    files: ['ui/**/*.ts'],
    rules: restrict([
      ...except('blessed'),
      layer('proxy', 'ui'), layer('tap', 'ui'), layer('cli', 'ui'), layer('inject', 'ui'), layer('verify', 'ui'), layer('pipeline', 'ui'),
    ]),
  },
  // The live pipeline (analysis and recording off the relay thread) sits below the composition
  // root: it uses the proxy's hook contract, the analyzer and the store, never a command or a view.
  {
    files: ['src/pipeline/**/*.ts'],
    rules: restrict([
      ...owned,
      layer('cli', 'pipeline'), layer('ui', 'pipeline'), layer('export', 'pipeline'), layer('verify', 'pipeline'), layer('inject', 'pipeline'),
    ]),
  },
  // replay/ re-sends recorded flows through the relay and records them: it gets the live analysis
  // from the composition root (cli/), and knows nothing of commands or views.
  { files: ['src/replay/**/*.ts'], rules: restrict([...owned, layer('cli', 'replay'), layer('ui', 'replay'), layer('pipeline', 'replay'), layer('export', 'replay'), layer('verify', 'replay'), layer('inject', 'replay')]) },
  // demo/ is parts (an origin, a client, the broken paths) that cli/demo.ts composes with the proxy.
  {
    files: ['src/demo/**/*.ts'],
    rules: restrict([...owned, layer('cli', 'demo'), layer('ui', 'demo'), layer('pipeline', 'demo'), layer('store', 'demo')]),
  },
  // Only cli/ composes layers; the others must not reach up into it.
  { files: ['src/export/**/*.ts', 'src/verify/**/*.ts', 'src/inject/**/*.ts'], rules: restrict([...owned, layer('cli', 'this layer'), layer('ui', 'this layer'), layer('pipeline', 'this layer')]) },
  { files: ['test/**/*.ts', 'bench/**/*.ts'], rules: { '@typescript-eslint/no-non-null-assertion': 'off' } },
);

// The faults --inject knows live in one table (faultCatalogue in src/inject/spec.ts). --help's fault
// list is generated from it and the README's fault table is written by hand: both are tested
// against the table in both directions, as is the parser, so that no fault is undocumented, no
// documented fault is gone, and no form is documented that the parser refuses.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { faultCatalogue, parseInjectSpec, specForms, InjectSpecError } from '../../src/inject/index.js';
import { command } from '../../src/cli/proxy.js';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

const forms = faultCatalogue.flatMap((f) => f.forms);
/** Each documented spelling → the form it belongs to. */
const bySpec = new Map(forms.flatMap((form) => form.specs.map((spec) => [spec, form] as const)));

/** The README's fault table: each row's specs, what the client gets, and the finding column. */
function readmeRows(): Array<{ specs: string[]; gets: string; finding: string }> {
  const begin = readme.indexOf('<!-- faults:begin -->');
  const end = readme.indexOf('<!-- faults:end -->');
  if (begin < 0 || end < begin) throw new Error('README has no faults:begin/faults:end section');
  const rows: Array<{ specs: string[]; gets: string; finding: string }> = [];
  for (const line of readme.slice(begin, end).split('\n')) {
    const m = /^\| (`[^|]+`) \| (.+) \| (.+) \|$/.exec(line);
    if (m) rows.push({ specs: [...m[1]!.matchAll(/`([^`]+)`/g)].map((s) => s[1]!), gets: m[2]!.trim(), finding: m[3]!.trim() });
  }
  return rows;
}

async function helpText(): Promise<string> {
  let text = '';
  const sink = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  const code = await command.run(['--help'], { stdout: sink, stderr: sink, cwd: process.cwd(), env: {} } as never);
  if (code !== 0) throw new Error(`--help exited ${code}`);
  return text;
}

/** --help's fault list: each entry's specs (split on ' | ') and its description. */
async function helpRows(): Promise<Array<{ specs: string[]; help: string }>> {
  const text = await helpText();
  const start = text.indexOf('\n', text.indexOf('findings attributed to the injection):')) + 1;
  const end = text.indexOf('\nRewrites buffer', start);
  if (start <= 0 || end < start) throw new Error('--help has no fault list');
  const rows: Array<{ specs: string[]; help: string }> = [];
  for (const line of text.slice(start, end).split('\n')) {
    const continued = /^ {3,}(\S.*)$/.exec(line);
    if (continued && rows.length > 0 && rows.at(-1)!.help === '') {
      rows.at(-1)!.help = continued[1]!;
      continue;
    }
    const m = /^ {2}(\S.*?)(?: {2,}(\S.*))?$/.exec(line);
    if (!m) throw new Error(`unexpected line in --help's fault list: ${JSON.stringify(line)}`);
    rows.push({ specs: m[1]!.split(' | '), help: m[2] ?? '' });
  }
  return rows;
}

/** A concrete spec for a documented form: placeholders filled, optional parts taken. */
function example(spec: string): string {
  return spec
    .replace('[:PORT]', ':8080')
    .replace('[/PREFIX]', '/base')
    .replace('[:ms=MS]', ':ms=5')
    .replace('HOST', 'backend.example')
    .replace(/=N\b/, '=2')
    .replace('BYTES', '10')
    .replace(/\bMS\b/, '5')
    .replace('LOCALNAME', 'propstat')
    .replace('PREFIX', 'D')
    .replace('URI', 'DAV:');
}

test('the README fault table lists exactly the forms of the catalogue, row by row, with their findings', (t) => {
  const rows = readmeRows();
  t.deepEqual(rows.map((r) => r.specs), forms.map((f) => [...f.specs]), 'the same forms, in the same rows and order');
  for (const row of rows) {
    const form = bySpec.get(row.specs[0]!);
    t.truthy(form, `README documents ${row.specs.join(', ')}, which is not in the catalogue`);
    if (form) t.is(row.finding, form.finding, `finding of ${row.specs.join(', ')}`);
    t.not(row.gets, '', `what the client gets from ${row.specs.join(', ')}`);
  }
  const documented = new Set(rows.flatMap((r) => r.specs));
  for (const spec of bySpec.keys()) t.true(documented.has(spec), `${spec} is in the catalogue but not in the README`);
});

test('--help lists exactly the forms of the catalogue, each with its description', async (t) => {
  const rows = await helpRows();
  t.deepEqual(rows.map((r) => r.specs), forms.map((f) => [...f.specs]));
  t.deepEqual(rows.map((r) => r.help), forms.map((f) => f.help));
  const listed = new Set(rows.flatMap((r) => r.specs));
  for (const spec of bySpec.keys()) t.true(listed.has(spec), `${spec} is in the catalogue but not in --help`);
  for (const spec of listed) t.true(bySpec.has(spec), `--help lists ${spec}, which is not in the catalogue`);
});

test('every documented form parses, and its fault name is the one of its grammar', (t) => {
  for (const entry of faultCatalogue) {
    const name = /^[a-z-]+/.exec(entry.grammar)![0];
    for (const form of entry.forms) {
      for (const spec of form.specs) {
        t.true(spec.startsWith(name), `${spec} under ${entry.grammar}`);
        t.notThrows(() => parseInjectSpec(example(spec)), `${spec} as ${example(spec)}`);
      }
    }
  }
});

test('the parser knows exactly the fault names of the catalogue, and its usage error lists every grammar', (t) => {
  const source = readFileSync(new URL('src/inject/spec.ts', root), 'utf8');
  const body = source.slice(source.indexOf('export function parseInjectSpec('), source.indexOf('export function parseInjectSpecs('));
  const parsed = new Set([...body.matchAll(/^\s+case '([a-z-]+)':/gm)].map((m) => m[1]!));
  const catalogued = new Set(faultCatalogue.map((f) => /^[a-z-]+/.exec(f.grammar)![0]));
  t.true(parsed.size >= 8, `found ${[...parsed].join(', ')}`);
  t.deepEqual([...parsed].sort(), [...catalogued].sort());
  t.deepEqual([...specForms], faultCatalogue.map((f) => f.grammar));
  const err = t.throws(() => parseInjectSpec('explode'), { instanceOf: InjectSpecError });
  for (const grammar of specForms) t.true(err!.message.includes(grammar), grammar);
});

// A CalDAV/CardDAV session with two real clients from Debian, against a server reached through
// davtap in reverse mode: python3-caldav (bench/interop/caldav-session.py: MKCALENDAR, PUTs,
// calendar-query, calendar-multiget, sync-collection, an address book with addressbook-query and
// -multiget) and vdirsyncer (discovery, creating a calendar and an address book, uploading the
// captures' objects, a changed, a deleted and a new item, then a fresh download of both
// collections). vdirsyncer ignores proxy settings, hence reverse mode for both.
//
// Debian packages: python3-caldav vdirsyncer (both run with /usr/bin/python3).
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openReader } from '../../src/store/index.js';
import { runTool } from '../../test/interop/clients.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OBJECTS = path.join(HERE, '../../test/fixtures/servers/payloads');
const SESSION = path.join(HERE, 'caldav-session.py');
export const PYTHON_BIN = '/usr/bin/python3';
export const VDIRSYNCER_BIN = '/usr/bin/vdirsyncer';

export interface CaldavSessionResult {
  /** One line per client step, for the report. */
  steps: string[];
  /** What went wrong (a client that failed, a step that got nothing back); empty when the session was whole. */
  problems: string[];
}

/** python3-caldav's session against `url` (davtap's reverse listener); `user` is the login (any password). */
export async function pythonCaldav(url: string, user: string, cwd: string): Promise<CaldavSessionResult> {
  if (!existsSync(PYTHON_BIN)) throw new Error(`${PYTHON_BIN} is not installed`);
  const run = await runTool(PYTHON_BIN, [SESSION, url, user, 'secret', OBJECTS], { cwd, env: { HOME: cwd }, timeoutMs: 120_000 });
  const problems: string[] = [];
  let out: Record<string, unknown> = {};
  try {
    out = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  } catch {
    problems.push(`python3-caldav printed no result (exit ${run.code}): ${run.stderr.trim().slice(-1_000)}`);
  }
  if (typeof out.failed === 'string') problems.push(`python3-caldav: ${out.failed}`);
  else if (run.code !== 0) problems.push(`python3-caldav exited ${run.code}: ${run.stderr.trim().slice(-1_000)}`);
  // What the session must have got back from a working server: 10 objects put and read back.
  const expect: [string, (v: unknown) => boolean][] = [
    ['put', (v) => v === 10],
    ['events', (v) => v === 8],
    ['date_search', (v) => typeof v === 'number' && v >= 6],
    ['todos', (v) => v === 1],
    ['journals', (v) => v === 1],
    ['multiget', (v) => v === 10],
    ['sync_initial', (v) => v === 10],
    ['put_vcards', (v) => v === 2],
    ['addressbook_multiget', (v) => v === 2],
  ];
  if (problems.length === 0) for (const [k, ok] of expect) if (!ok(out[k])) problems.push(`python3-caldav ${k}: got ${JSON.stringify(out[k])}`);
  const steps = Object.entries(out).map(([k, v]) => `python3-caldav ${k}: ${JSON.stringify(v).replaceAll(/127\.0\.0\.1:\d+/g, 'HOST')}`);
  return { steps, problems };
}

function vdirsyncerConfig(dir: string, url: string, user: string): string {
  const storage = (name: string, type: string, extra: string[]) => [`[storage ${name}]`, `type = "${type}"`, ...extra, ''];
  const remote = [`url = "${url}"`, `username = "${user}"`, 'password = "secret"'];
  return [
    '[general]',
    `status_path = "${path.join(dir, 'status')}/"`,
    '',
    '[pair cal]',
    'a = "cal_local"',
    'b = "cal_remote"',
    'collections = ["from a"]',
    'conflict_resolution = "a wins"',
    '',
    ...storage('cal_local', 'filesystem', [`path = "${path.join(dir, 'local/cal')}/"`, 'fileext = ".ics"']),
    // item_types makes vdirsyncer list with calendar-query (one per type) instead of PROPFIND.
    ...storage('cal_remote', 'caldav', [...remote, 'item_types = ["VEVENT", "VTODO", "VJOURNAL"]']),
    '[pair card]',
    'a = "card_local"',
    'b = "card_remote"',
    'collections = ["from a"]',
    'conflict_resolution = "a wins"',
    '',
    ...storage('card_local', 'filesystem', [`path = "${path.join(dir, 'local/card')}/"`, 'fileext = ".vcf"']),
    ...storage('card_remote', 'carddav', remote),
  ].join('\n');
}

/** A vCard 4.0 with a non-ASCII name and a note longer than a line, for the second sync. */
const NEW_CARD = [
  'BEGIN:VCARD',
  'VERSION:4.0',
  'UID:urn:uuid:9a1f2b3c-4d5e-4f60-8a7b-1c2d3e4f5a6b',
  'FN:Émilie Du Châtelet',
  'N:Du Châtelet;Émilie;;;',
  'BDAY:17061217',
  'ANNIVERSARY:--0612',
  `NOTE:${'Traductrice des Principia de Newton, physicienne et mathématicienne. '.repeat(3).trim()}`,
  'REV:20240105T080000Z',
  'END:VCARD',
  '',
].join('\r\n');

/** vdirsyncer: discover (creating both collections), sync up, change/delete/add locally and sync, then download afresh. */
async function vdirsyncer(url: string, user: string, cwd: string, collection: string): Promise<CaldavSessionResult> {
  if (!existsSync(VDIRSYNCER_BIN)) throw new Error(`${VDIRSYNCER_BIN} is not installed`);
  const dir = path.join(cwd, 'vdirsyncer');
  // Radicale keeps calendars and address books in one home: two names.
  const cal = path.join(dir, 'local/cal', `${collection}-calendar`);
  const card = path.join(dir, 'local/card', `${collection}-contacts`);
  for (const d of [cal, card, path.join(dir, 'status')]) await mkdir(d, { recursive: true });
  for (const f of ['weekly.ics', 'allday.ics', 'todo.ics', 'journal.ics']) await writeFile(path.join(cal, f), await readFile(path.join(OBJECTS, f)));
  for (const f of ['ada-3.vcf', 'zoe-4.vcf']) await writeFile(path.join(card, f), await readFile(path.join(OBJECTS, f)));
  const config = path.join(dir, 'config');
  await writeFile(config, vdirsyncerConfig(dir, url, user));
  const steps: string[] = [];
  const problems: string[] = [];
  const vds = async (step: string, args: string[], input = '') => {
    const r = await runTool(VDIRSYNCER_BIN, ['-c', config, ...args], { cwd, input, env: { HOME: cwd }, timeoutMs: 120_000 });
    const said = `${r.stdout}${r.stderr}`.trim();
    steps.push(`vdirsyncer ${step}: exit ${r.code}, ${said.split('\n').length} lines`);
    if (r.code !== 0 || /^(error|critical)/im.test(said)) problems.push(`vdirsyncer ${step} (exit ${r.code}): ${said.slice(-1_500)}`);
    return said;
  };
  // discover asks before creating a collection on the server: yes to each.
  await vds('discover', ['discover'], 'y\ny\ny\ny\n');
  const up = await vds('sync (upload)', ['sync']);
  if ((up.match(/uploading/g) ?? []).length !== 6) problems.push(`vdirsyncer uploaded ${(up.match(/uploading/g) ?? []).length} items, not 6`);
  // A changed event, a deleted journal, a new card.
  const allday = await readFile(path.join(cal, 'allday.ics'), 'utf8');
  await writeFile(path.join(cal, 'allday.ics'), allday.replace(/SUMMARY:[^\r\n]*/, 'SUMMARY:Schalttag — geändert'));
  await rm(path.join(cal, 'journal.ics'));
  await writeFile(path.join(card, 'emilie-4.vcf'), NEW_CARD);
  await vds('sync (changes)', ['sync']);
  // A fresh local copy: discovery finds both collections on the server, and everything comes back
  // down (listing, then multiget).
  await rm(path.join(dir, 'status'), { recursive: true, force: true });
  await rm(path.join(dir, 'local'), { recursive: true, force: true });
  for (const d of [cal, card, path.join(dir, 'status')]) await mkdir(d, { recursive: true });
  await vds('discover (again)', ['discover']);
  await vds('sync (download)', ['sync']);
  const got = (await readdir(cal)).length + (await readdir(card)).length;
  steps.push(`vdirsyncer downloaded ${got} items`);
  if (got !== 6) problems.push(`vdirsyncer downloaded ${got} items, not 6 (3 events/to-dos, 3 cards)`);
  return { steps, problems };
}

/** Both clients against `url` (davtap's reverse listener for the server's root). */
export async function caldavSession(url: string, user: string, cwd: string, collection: string): Promise<CaldavSessionResult> {
  const a = await pythonCaldav(url, user, cwd);
  const b = await vdirsyncer(url, user, cwd, collection);
  return { steps: [...a.steps, ...b.steps], problems: [...a.problems, ...b.problems] };
}

/**
 * REPORTs the session sent, by request body (root element), with how many were answered 207: shows
 * what it exercised. Read through the store, which knows where each schema keeps bodies.
 */
export function reportKinds(db: string): Map<string, { sent: number; multistatus: number }> {
  const store = openReader(db);
  try {
    const out = new Map<string, { sent: number; multistatus: number }>();
    for (const row of store.listFlows({ filter: '~m REPORT', order: 'asc', limit: 10_000 })) {
      const flow = store.getFlow(row.id);
      const body = flow?.request.body.bytes.toString('utf8') ?? '';
      const root = /<(?:[\w-]+:)?(calendar-query|calendar-multiget|sync-collection|addressbook-query|addressbook-multiget|free-busy-query|expand-property)\b/.exec(body)?.[1] ?? 'other';
      const k = out.get(root) ?? { sent: 0, multistatus: 0 };
      k.sent++;
      if (flow?.response?.status === 207) k.multistatus++;
      out.set(root, k);
    }
    return out;
  } finally {
    store.close();
  }
}

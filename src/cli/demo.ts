// `davtap demo`: davtap at work without a broken server of one's own. An in-process WebDAV/CalDAV/
// CardDAV origin (src/demo/origin.ts), the real proxy in reverse mode in front of it with a few
// paths broken on purpose by the inject engine (src/demo/faults.ts), and a scripted client
// (src/demo/script.ts) that makes a sync client's requests through it. The UI (or, with --no-ui,
// the flow lines and a findings summary) shows what davtap found; with the UI the demo stays up
// for the user's own client. The options live in one table (demoOptions): --help is generated from
// it and the README's table is tested against it (test/cli/demo.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDemoOrigin } from '../demo/origin.js';
import { brokenPaths, demoInjector } from '../demo/faults.js';
import { runScript } from '../demo/script.js';
import { summarize, summaryLines, type DemoFlow } from '../demo/summary.js';
import { openReader } from '../store/index.js';
import { parseCommandArgs, type OptionSpec } from './args.js';
import { parseListen } from './listen.js';
import { startProxySession } from './proxy.js';
import type { CliIO, Command } from './io.js';

export interface DemoOption {
  name: string;
  type: 'string' | 'boolean';
  /** The argument's name in --help and the README, for a 'string' option. */
  arg?: string;
  /** The default, in words (the README's second column). */
  default: string;
  help: string;
}

export const demoOptions: readonly DemoOption[] = [
  { name: 'listen', type: 'string', arg: 'HOST:PORT', default: '127.0.0.1 on a free port', help: 'where davtap listens, the demo\'s address for your own client (default 127.0.0.1 on a free port, printed at start)' },
  { name: 'no-ui', type: 'boolean', default: 'the UI, until you quit', help: 'run the scripted client, print the flow lines and a findings summary, and exit (without a terminal and without --no-ui, the flow lines are printed and the demo stays up until SIGINT)' },
  { name: 'db', type: 'string', arg: 'FILE', default: 'a new file in a temporary directory', help: 'SQLite file for the demo\'s flows (default: a new file in a temporary directory, printed at start)' },
];

/** What parseArgs reads: derived from demoOptions, so nothing is parsed that --help does not show. */
export const demoOptionSpec: OptionSpec = Object.fromEntries(demoOptions.map((o) => [o.name, { type: o.type }]));

/** Words into lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line];
}

function optionHelp(): string {
  const column = 22;
  const lines: string[] = [];
  for (const o of [...demoOptions, { name: 'help', type: 'boolean', default: '', help: 'show this help' } as DemoOption]) {
    const flag = `  ${o.name === 'help' ? '-h, ' : ''}--${o.name}${o.arg ? ` ${o.arg}` : ''}`;
    const [first, ...rest] = wrap(o.help, 100 - column);
    lines.push(flag.length < column ? `${flag.padEnd(column)}${first}` : `${flag}\n${' '.repeat(column)}${first}`);
    for (const more of rest) lines.push(' '.repeat(column) + more);
  }
  return lines.join('\n');
}

/** The broken paths for --help, the fault column two spaces past the longest request. */
function brokenPathLines(): string {
  const requests = brokenPaths.map((b) => `${b.method} ${b.path}${b.report ? ` (${b.report})` : ''}`);
  const width = Math.max(...requests.map((r) => r.length)) + 2;
  return brokenPaths.map((b, i) => `  ${requests[i]!.padEnd(width)}${b.inject} → ${b.rule}`).join('\n');
}

const help = () => `Usage: davtap demo [--listen HOST:PORT] [--no-ui] [--db FILE]

Shows davtap at work without a server of your own: starts a small WebDAV/CalDAV/CardDAV server
in-process (files and folders, a calendar, an address book), davtap in reverse mode in front of
it with a few paths broken on purpose (as --inject would), and a client that makes a sync
client's requests through it. The UI shows the findings; the demo stays up until you quit, so
point your own client at the address it prints (its WebDAV root is /).

Options:
${optionHelp()}

Broken on purpose:
${brokenPathLines()}
`;

interface DemoArgs {
  listen?: string;
  'no-ui'?: boolean;
  db?: string;
}

/** The demo's flows as the store recorded them, oldest first, with their findings. */
function recordedFlows(dbPath: string): DemoFlow[] {
  const store = openReader(dbPath);
  try {
    const rows = store.listFlows({ order: 'asc', limit: 10_000 });
    return rows.map((r) => ({
      method: r.method,
      path: r.path,
      status: r.status,
      injected: r.injected,
      findings: r.findings.error + r.findings.warning + r.findings.info > 0 ? store.findingsFor(r.id) : [],
    }));
  } finally {
    store.close();
  }
}

export const command: Command = {
  summary: 'a demo server with broken paths, davtap in front of it, and a client',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, help: wantsHelp } = parseCommandArgs<DemoArgs>('demo', args, demoOptionSpec);
    if (wantsHelp) {
      io.stdout.write(help());
      return 0;
    }
    const listen = parseListen(values.listen ?? '127.0.0.1:0');
    const withUi = values['no-ui'] !== true && io.stdout.isTTY === true;
    const tempDir = values.db === undefined ? mkdtempSync(path.join(os.tmpdir(), 'davtap-demo-')) : undefined;
    const dbPath = tempDir !== undefined ? path.join(tempDir, 'demo.db') : path.resolve(io.cwd, values.db!);

    const origin = await startDemoOrigin();
    let session;
    try {
      session = await startProxySession(
        {
          listen,
          upstream: origin.url,
          maxBody: 64 * 1024 * 1024,
          maxRequestBody: 1024 * 1024,
          upstreamTimeoutMs: 30_000,
          headTimeoutMs: 30_000,
          dbPath,
          // No CA: the demo speaks plain http and leaves nothing in the user's configuration.
          withUi,
          showSecrets: false,
          injectFor: demoInjector(),
          insecureUpstream: false,
          uiStatus: (proxy) => `demo: WebDAV/CalDAV/CardDAV at ${proxy.url} — point your own client there; q quits`,
        },
        io,
      );
    } catch (err) {
      await origin.close();
      // A demo that could not start leaves no temporary database behind.
      if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
      throw err;
    }
    const base = new URL(session.proxy.url);
    const aborted = new AbortController();
    void session.done.then(() => aborted.abort());
    session.say(`demo: the demo server (unbroken) is at ${origin.url.href}; davtap in front of it breaks ${brokenPaths.length} paths on purpose (see davtap demo --help)`);

    const summary = () => {
      for (const line of summaryLines(summarize(recordedFlows(dbPath), brokenPaths))) io.stdout.write(`${line}\n`);
      io.stdout.write(`demo: recorded in ${dbPath} (davtap ui --db ${dbPath} shows it)\n`);
    };
    if (values['no-ui'] === true) {
      session.say('demo: running the scripted client');
      await runScript({ base, signal: aborted.signal });
      const code = await session.stop();
      await origin.close();
      summary();
      return code;
    }

    // It stays up for the user's own client until the UI's q (or SIGINT, SIGTERM); without a
    // terminal it prints the flow lines meanwhile, as the proxy does, and the summary at the end.
    session.say(`demo: WebDAV/CalDAV/CardDAV at ${base.href} (try: curl -X PROPFIND -H 'Depth: 1' ${base.href}files/); recording to ${dbPath}`);
    // Paced in the UI, so that the flows can be seen arriving; it shows them within seconds.
    const script = runScript({ base, paceMs: withUi ? 150 : 0, signal: aborted.signal });
    const code = await session.done;
    await script;
    await origin.close();
    if (!withUi) summary();
    return code;
  },
};

// The composition root's entry: picks the command, runs it, turns errors into exit codes.
// The only place that catches everything.
import { DavtapError } from '../errors.js';
import { processIO, type CliIO, type Command } from './io.js';

// Each command lives in its own module, loaded only when used so that `davtap check` does not pay
// for the proxy's or the UI's start-up.
const commands: Record<string, () => Promise<Command>> = {
  proxy: async () => (await import('./proxy.js')).command,
  ca: async () => (await import('./ca.js')).command,
  ui: async () => (await import('./ui.js')).command,
  check: async () => (await import('./check.js')).command,
  rules: async () => (await import('./rules.js')).command,
  verify: async () => (await import('./verify.js')).command,
  export: async () => (await import('./export.js')).command,
  flows: async () => (await import('./flows.js')).command,
  replay: async () => (await import('./replay.js')).command,
  demo: async () => (await import('./demo.js')).command,
  sandwich: async () => (await import('./sandwich.js')).command,
};

export const version = '0.1.0';

function usage(): string {
  return [
    'davtap: an intercepting proxy for WebDAV, CalDAV and CardDAV that checks every 207 Multi-Status',
    '',
    'Usage: davtap [proxy] [options]      run the proxy (reverse with --upstream, forward without)',
    '       davtap <command> [options]',
    '',
    'Commands:',
    '  proxy    relay traffic and record flows (the default)',
    '  ca       show, export or regenerate the CA used to intercept HTTPS',
    '  ui       attach the live terminal UI to a database (--db FILE)',
    '  check    analyze saved 207 responses (.http, .xml, .har) offline',
  '  rules    print the rule catalogue: ids, categories, severities, blame (--json)',
    '  verify   compare a gateway\'s 207 answers with the origin\'s (--origin URL --via URL)',
    '  export   write flows as HAR, a bug-report bundle or JSON lines (credentials redacted)',
    '  flows    print the recorded flows, one line each with their findings (--filter, --json)',
    '  replay   send recorded requests again and compare the answers (exit 1 when one differs)',
    '  demo     a demo server with paths broken on purpose, davtap in front of it, and a client',
    '  sandwich watch a gateway from both sides with real traffic (--gateway URL --origin URL)',
    '',
    "Run 'davtap <command> --help' for a command's options. 'davtap --version' prints the version.",
    '',
  ].join('\n');
}

export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  try {
    const first = argv[0];
    if (first === '--version' || first === '-V') {
      io.stdout.write(`davtap ${version} (node ${process.version})\n`);
      return 0;
    }
    if (first === 'help' || (first === '--help' && argv.length === 1) || (first === '-h' && argv.length === 1)) {
      // The proxy is the default command, so its options belong on the first help page too.
      io.stdout.write(usage() + '\n');
      return await (await commands.proxy!()).run(['--help'], io);
    }
    const named = first !== undefined && !first.startsWith('-');
    if (named && !(first in commands)) {
      io.stderr.write(`davtap: unknown command '${first}' (commands: ${Object.keys(commands).join(', ')})\n`);
      return 2;
    }
    const name = named ? first : 'proxy';
    const command = await commands[name]!();
    return await command.run(named ? argv.slice(1) : argv, io);
  } catch (err) {
    if (err instanceof DavtapError) {
      io.stderr.write(`davtap: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr.write(`davtap: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 70;
  }
}

// Run when executed (bin/davtap imports this module), not when a test imports `main`.
const entry = process.argv[1] ?? '';
if (entry.endsWith('/bin/davtap') || entry.endsWith('cli/main.js') || entry.endsWith('cli/main.ts')) {
  // A reader that went away (`davtap export --jsonl - | head`, `davtap --no-ui | head`) is not a
  // crash: the proxy stops as on SIGTERM (every flow seen is committed), a one-shot command ends at
  // once with the status of a program killed by SIGPIPE (141), silently, as Unix tools do.
  // Each write after that fails too (EPIPE again, then a destroyed stream): only the first counts,
  // or the proxy would take the later ones for a second SIGTERM and exit without committing.
  let readerGone = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (readerGone) return;
    if (err.code !== 'EPIPE') throw err;
    readerGone = true;
    if (process.listenerCount('SIGTERM') > 0) process.kill(process.pid, 'SIGTERM');
    else process.exit(141);
  });
  const code = await main(process.argv.slice(2));
  // Commands that keep running (the proxy) resolve only when they are done.
  process.exitCode = code;
}

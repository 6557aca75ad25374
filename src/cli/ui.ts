// `davtap ui`: attach the terminal UI, read-only, to the database of a proxy running elsewhere
// (or to a database left behind by one).
import path from 'node:path';
import { DavtapError, UsageError } from '../errors.js';
import { filterHelp, parseFilter } from '../filter/index.js';
import { runUi } from '../../ui/app.js';
import { openStoreSource } from '../../ui/flow-source.js';
import { parseCommandArgs } from './args.js';
import { replayForUi } from './replay.js';
import { editForUi } from './edit.js';
import type { CliIO, Command } from './io.js';

const help = `Usage: davtap ui [--db FILE] [--filter EXPR] [--snapshot] [--no-follow] [--utc] [--show-secrets]

Shows the flows recorded in FILE and follows new ones as a proxy writes them (read-only: the
database is never modified).

Options:
  --db FILE        the database to show (default ./davtap.db)
  --filter EXPR    start with this filter, e.g. '~m PROPFIND & ~f truncation' (see below)
  --snapshot       do not poll for new flows
  --no-follow      do not keep the newest flow selected
  --utc            show times in UTC
  --show-secrets   show credentials as recorded (Authorization, cookies, token-like URL parameters,
                   also inside finding texts); masked as [redacted] by default
  -h, --help       this help

Keys: j/k move, Enter open, Tab next tab, / filter, ! findings view, F follow, ? help, q quit
(at once: the proxy writing the database runs elsewhere). Mouse: click selects a flow (a click on
the selected one opens it), the wheel scrolls. NO_COLOR set: no colours (severities read by letter).

${filterHelp()}
`;

interface UiFlags {
  db?: string;
  filter?: string;
  snapshot?: boolean;
  'no-follow'?: boolean;
  utc?: boolean;
  'show-secrets'?: boolean;
}

export const command: Command = {
  summary: 'attach the live terminal UI to a database',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, help: wantsHelp } = parseCommandArgs<UiFlags>('ui', args, {
      db: { type: 'string' },
      filter: { type: 'string' },
      snapshot: { type: 'boolean' },
      'no-follow': { type: 'boolean' },
      utc: { type: 'boolean' },
      'show-secrets': { type: 'boolean' },
    });
    if (wantsHelp) {
      io.stdout.write(help);
      return 0;
    }
    if (values.filter !== undefined) {
      try {
        parseFilter(values.filter);
      } catch (err) {
        throw new UsageError(`ui: --filter: ${err instanceof Error ? err.message.replace(/^filter: /, '') : String(err)}`);
      }
    }
    if (io.stdout.isTTY !== true) throw new DavtapError('USAGE', "ui: stdout is not a terminal (use 'davtap export' to read flows from a script)");
    const dbPath = path.resolve(io.cwd, values.db ?? 'davtap.db');
    const source = openStoreSource(dbPath, { showSecrets: values['show-secrets'] === true });
    try {
      await runUi({
        dbPath,
        source,
        live: values.snapshot !== true,
        follow: values['no-follow'] === true ? false : values.snapshot !== true,
        filter: values.filter,
        utc: values.utc === true,
        // https://no-color.org: any non-empty value turns colour off.
        color: io.env.NO_COLOR === undefined || io.env.NO_COLOR === '',
        screen: { output: io.stdout },
        // Replays are recorded in the same database (a writer of its own; the UI itself only reads).
        actions: { replay: replayForUi(dbPath, () => {}), edit: editForUi(dbPath, io.env, () => {}, { showSecrets: values['show-secrets'] === true }) },
      });
    } finally {
      source.close();
    }
    return 0;
  },
};

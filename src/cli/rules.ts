// `davtap rules`: the rule catalogue as davtap knows it (src/analysis/rules/, the table the README
// is tested against): every id with its category, default severity and blame, and its title.
import { rules } from '../analysis/rules/index.js';
import { UsageError } from '../errors.js';
import { parseCommandArgs } from './args.js';
import type { CliIO, Command } from './io.js';

const help = `Usage: davtap rules [--json]

Prints the rule catalogue: each rule's id, category, default severity, default blame and title.
Blame says whose fault a finding most likely is: server (its answer breaks the rule and arrived
intact), client (the request itself is wrong), gateway (two vantage points disagree, or the
transport points at a relay) or unknown. A finding may override its rule's defaults from its own
evidence (a cut at a relay's buffer size is the gateway's).

Options:
  --json   one JSON document: {"rules": [{"id", "category", "severity", "blame", "title"}, …]}
  -h, --help
`;

export const command: Command = {
  summary: 'print the rule catalogue (ids, categories, severities, blame)',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, positionals, help: wantsHelp } = parseCommandArgs<{ json?: boolean }>('rules', args, { json: { type: 'boolean' } }, true);
    if (wantsHelp) {
      io.stdout.write(help);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`rules: unexpected argument '${positionals[0]}' (see 'davtap rules --help')`);
    const all = Object.values(rules).sort((a, b) => a.id.localeCompare(b.id));
    if (values.json === true) {
      io.stdout.write(JSON.stringify({ rules: all.map((r) => ({ id: r.id, category: r.category, severity: r.severity, blame: r.blame, title: r.title })) }, null, 2) + '\n');
      return 0;
    }
    const width = (pick: (r: (typeof all)[number]) => string, head: string) => Math.max(head.length, ...all.map((r) => pick(r).length));
    const wCat = width((r) => r.category, 'category');
    const wSev = width((r) => r.severity, 'severity');
    const wBlame = width((r) => r.blame, 'blame');
    const line = (id: string, cat: string, sev: string, blame: string, title: string) => `${id.padEnd(5)}  ${cat.padEnd(wCat)}  ${sev.padEnd(wSev)}  ${blame.padEnd(wBlame)}  ${title}`;
    const out = [line('id', 'category', 'severity', 'blame', 'title'), ...all.map((r) => line(r.id, r.category, r.severity, r.blame, r.title))];
    io.stdout.write(out.join('\n') + '\n');
    return 0;
  },
};

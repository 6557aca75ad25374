// `davtap sandwich`: davtap on both sides of a gateway, watching real traffic. The composition
// root for the two relays (src/sandwich/run.ts), the recorder and the UI. The options live in one
// table (sandwichOptions): --help is generated from it and the README's table is tested against it.
import path from 'node:path';
import { UsageError } from '../errors.js';
import { startPipeline } from '../pipeline/pipeline.js';
import { defaultCaDir } from '../proxy/ca.js';
import type { LegMap } from '../sandwich/pairing.js';
import { startSandwich } from '../sandwich/run.js';
import type { Category, Finding, Severity } from '../types.js';
import { categories, reaches, severities, type FailOn } from '../verify/report.js';
import { parseCommandArgs, parseSize, type OptionSpec } from './args.js';
import type { CliIO, Command } from './io.js';
import { parseListen, parseUpstream } from './listen.js';
import { parseSeconds, type relayOptionSpec } from './proxy.js';
import { loadServedCerts, loadUpstreamTls } from './upstream-tls.js';
import { stopOnce } from './stop-once.js';
import { TerminalLog } from './terminal-log.js';

export interface SandwichOption {
  name: string;
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** The argument's name in --help and the README, for a 'string' option. */
  arg?: string;
  /** One line (or more, separated by \n) for --help. */
  help: string;
}

/**
 * The sandwich's options: --help is generated from this table, parseArgs reads exactly it, and
 * the README's table is tested against it (test/sandwich/options.test.ts). The relay options are
 * the proxy's (relayOptionSpec), described here for this command.
 */
export const sandwichOptions: readonly SandwichOption[] = [
  { name: 'listen', type: 'string', arg: 'HOST:PORT', help: 'where clients connect (the front leg; default 127.0.0.1:8080)' },
  { name: 'gateway', type: 'string', arg: 'URL', help: 'the gateway, as clients would use it (http(s), optionally a path prefix)' },
  { name: 'back-listen', type: 'string', arg: 'HOST:PORT', help: 'where the gateway connects (the back leg): its upstream' },
  { name: 'origin', type: 'string', arg: 'URL', help: 'the origin server behind the gateway' },
  {
    name: 'map',
    type: 'string',
    arg: 'FRONT_PREFIX=BACK_PREFIX',
    help: "a gateway that changes the path prefix: paths clients use under FRONT_PREFIX reach BACK\nunder BACK_PREFIX (nginx: location /dav/ { proxy_pass http://BACK/remote.php/dav/; } is\n--map /dav/=/remote.php/dav/). Pairs are found and hrefs compared through it",
  },
  { name: 'db', type: 'string', arg: 'FILE', help: 'SQLite file for flows and findings (default ./davtap.db)' },
  { name: 'no-ui', type: 'boolean', help: 'print one line per flow instead of the terminal UI' },
  { name: 'show-secrets', type: 'boolean', help: 'show credentials as recorded in the UI and the flow lines' },
  { name: 'max-body', type: 'string', arg: 'SIZE', help: 'response bytes captured per flow (default 64MiB)' },
  { name: 'max-request-body', type: 'string', arg: 'SIZE', help: 'request bytes captured per flow (default 1MiB)' },
  { name: 'ca-dir', type: 'string', arg: 'DIR', help: `davtap's CA, for https on both listeners (default ${defaultCaDir()})` },
  { name: 'cert', type: 'string', multiple: true, arg: 'FILE', help: 'serve this certificate (PEM with its key) to https clients of both\nlisteners instead of one from the CA; HOST=FILE for that name only' },
  { name: 'insecure-upstream', type: 'boolean', help: "do not verify the gateway's and the origin's TLS certificates" },
  { name: 'upstream-ca', type: 'string', arg: 'FILE', help: 'also trust the CAs in this PEM bundle for them' },
  { name: 'upstream-cert', type: 'string', arg: 'FILE', help: 'client certificate (PEM) for upstreams that ask for one' },
  { name: 'upstream-key', type: 'string', arg: 'FILE', help: 'its private key (PEM), if not in --upstream-cert' },
  { name: 'upstream-timeout', type: 'string', arg: 'SECONDS', help: 'give up on a silent gateway or origin after this long (default 120)' },
  { name: 'head-timeout', type: 'string', arg: 'SECONDS', help: "answer 408 to a slow client's request head (default 30)" },
  { name: 'window', type: 'string', arg: 'SECONDS', help: 'how long a front flow waits for its back flow (default 5)' },
  { name: 'duration', type: 'string', arg: 'SECONDS', help: 'stop after this long (CI); the exit status then follows --fail-on' },
  {
    name: 'fail-on',
    type: 'string',
    arg: 'LEVEL',
    help: 'with --duration: exit 1 when a gateway difference reaches LEVEL, a\nseverity (error, warning, info) or a category (truncation,\nstripped, …: its warnings and errors). Default: error',
  },
];

/** What parseArgs reads: derived from sandwichOptions, so nothing is parsed that --help does not show. */
export const sandwichOptionSpec: OptionSpec = Object.fromEntries(sandwichOptions.map((o) => [o.name, { type: o.type, ...(o.multiple ? { multiple: true } : {}) }]));

function optionHelp(): string {
  const width = 27;
  const lines: string[] = [];
  for (const o of [...sandwichOptions, { name: 'help', type: 'boolean', help: 'this help' } as SandwichOption]) {
    const flag = `  ${o.name === 'help' ? '-h, ' : ''}--${o.name}${o.arg ? ` ${o.arg}` : ''}`;
    const [first, ...rest] = o.help.split('\n');
    lines.push(flag.length < width ? `${flag.padEnd(width)}${first}` : `${flag}\n${' '.repeat(width)}${first}`);
    for (const more of rest) lines.push(' '.repeat(width) + more);
  }
  return lines.join('\n');
}

const help = () => `Usage: davtap sandwich --listen FRONT --gateway URL --back-listen BACK --origin URL [options]

Watches a gateway (nginx, Apache mod_proxy, Traefik, a WAF) with real traffic: davtap sits on both
sides of it. Clients talk to FRONT, davtap relays to the gateway; the gateway is configured to use
BACK as its upstream, and davtap relays that to the origin. Both legs are recorded, each front flow
is paired with the gateway's request to the origin (method, target, request body, time: nothing is
added to the requests), and the two answers are compared resource by resource: what the gateway
changed is a finding MS801–MS810 (blame gateway) on the front flow. A front flow without a back
flow is one the gateway answered itself (cache, authentication, an error page).

Options:
${optionHelp()}

Exit status: 0, or with --duration 1 when a difference reached --fail-on; 2 usage or I/O error.
`;

type SandwichArgs = { [K in keyof typeof relayOptionSpec]?: (typeof relayOptionSpec)[K] extends { multiple: true } ? string[] : (typeof relayOptionSpec)[K] extends { type: 'boolean' } ? boolean : string } & {
  listen?: string;
  gateway?: string;
  'back-listen'?: string;
  origin?: string;
  map?: string;
  window?: string;
  duration?: string;
  'fail-on'?: string;
};

function parseFailOn(text: string | undefined): FailOn {
  const v = (text ?? 'error').trim().toLowerCase();
  if ((severities as string[]).includes(v)) return { kind: 'severity', at: v as Severity };
  if ((categories as string[]).includes(v)) return { kind: 'category', category: v as Category };
  throw new UsageError(`sandwich: --fail-on '${text}' is neither a severity (${severities.join(', ')}) nor a category (${categories.join(', ')})`);
}

/** `--map /dav/=/remote.php/dav/`: both absolute paths, normalized with a trailing slash. */
export function parseLegMap(text: string): LegMap {
  const m = /^(\/[^=\s?#]*)=(\/[^=\s?#]*)$/.exec(text.trim());
  if (!m) throw new UsageError(`sandwich: --map '${text}' must be FRONT_PREFIX=BACK_PREFIX, both absolute paths (example: /dav/=/remote.php/dav/)`);
  const slash = (p: string): string => (p.endsWith('/') ? p : `${p}/`);
  return { front: slash(m[1]!), back: slash(m[2]!) };
}

function required(flag: string, text: string | undefined): string {
  if (text === undefined) throw new UsageError(`sandwich: ${flag} is required (see 'davtap sandwich --help')`);
  return text;
}

export const command: Command = {
  summary: 'watch a gateway from both sides with real traffic',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, help: wantsHelp } = parseCommandArgs<SandwichArgs>('sandwich', args, sandwichOptionSpec);
    if (wantsHelp) {
      io.stdout.write(help());
      return 0;
    }
    const front = parseListen(values.listen ?? '127.0.0.1:8080');
    const back = parseListen(required('--back-listen HOST:PORT', values['back-listen']));
    const gateway = parseUpstream(required('--gateway URL', values.gateway));
    const origin = parseUpstream(required('--origin URL', values.origin));
    if (front.port !== 0 && front.port === back.port && front.host === back.host) throw new UsageError('sandwich: --listen and --back-listen must be different addresses');
    const legMap = values.map !== undefined ? parseLegMap(values.map) : undefined;
    const failOn = parseFailOn(values['fail-on']);
    if (values['fail-on'] !== undefined && values.duration === undefined) throw new UsageError('sandwich: --fail-on needs --duration SECONDS (the run must end to have an exit status)');
    const durationMs = values.duration !== undefined ? parseSeconds('--duration', values.duration) : undefined;
    if (durationMs === 0) throw new UsageError('sandwich: --duration must be more than 0 seconds');
    const windowMs = parseSeconds('--window', values.window ?? '5');
    const maxBody = parseSize('--max-body', values['max-body'] ?? '64MiB');
    const maxRequestBody = parseSize('--max-request-body', values['max-request-body'] ?? '1MiB');
    const dbPath = path.resolve(io.cwd, values.db ?? 'davtap.db');
    const caDir = path.resolve(io.cwd, values['ca-dir'] ?? defaultCaDir(io.env));
    const certs = values.cert !== undefined ? loadServedCerts(values.cert, io.cwd) : undefined;
    const insecureUpstream = values['insecure-upstream'] ?? false;
    const upstreamTls = loadUpstreamTls({ ca: values['upstream-ca'], cert: values['upstream-cert'], key: values['upstream-key'], insecure: insecureUpstream }, io.cwd);
    const withUi = values['no-ui'] !== true && io.stdout.isTTY === true && durationMs === undefined;

    const terminal = new TerminalLog(io, withUi);
    const log = terminal.log;

    const pipeline = await startPipeline({ dbPath, maxBody, lines: !withUi, showSecrets: values['show-secrets'] === true, onLines: (lines) => io.stdout.write(lines.join('\n') + '\n'), log });
    const failing: Finding[] = [];
    let sandwich;
    try {
      sandwich = await startSandwich({
        front,
        back,
        gateway,
        origin,
        windowMs,
        ...(legMap ? { map: legMap } : {}),
        legs: {
          caDir,
          ...(certs ? { certs } : {}),
          insecureUpstream,
          ...(upstreamTls ? { upstreamTls } : {}),
          maxBody,
          maxRequestBody,
          upstreamTimeoutMs: parseSeconds('--upstream-timeout', values['upstream-timeout'] ?? '120'),
          headTimeoutMs: parseSeconds('--head-timeout', values['head-timeout'] ?? '30'),
        },
        hooks: pipeline.hooks,
        onPair: (_front, _back, differences) => {
          for (const d of differences) if (d.consequenceOf === undefined && reaches(d, failOn)) failing.push(d);
        },
        log,
      });
    } catch (err) {
      await pipeline.close();
      throw err;
    }
    const ready = `davtap sandwich: clients → ${sandwich.front.url} → gateway ${gateway.href}; gateway → ${sandwich.back.url} → origin ${origin.href}${legMap ? ` (paths under ${legMap.front} at the front are under ${legMap.back} at the back)` : ''}; recording to ${dbPath}`;
    if (withUi) terminal.keep(ready);
    else log(ready);

    const running = sandwich;
    const shutdown = async (): Promise<number> => {
      await running.close();
      const stats = await pipeline.close();
      terminal.release();
      const s = running.stats();
      io.stderr.write(
        `davtap sandwich: ${s.paired} pairs compared, ${s.differing} with gateway differences; ${s.frontOnly} front flows the gateway answered itself; ${s.backOnly} back flows no client request explains\n`,
      );
      const notRecorded = stats.failed + stats.dropped + stats.lost;
      if (notRecorded > 0) {
        io.stderr.write(`davtap: ${notRecorded} of ${stats.enqueued + stats.lost} flows were not recorded in ${dbPath}: ${stats.lastStoreError || 'the recording worker failed'}\n`);
        return 2;
      }
      if (durationMs !== undefined && failing.length > 0) {
        const first = failing[0]!;
        io.stderr.write(`davtap sandwich: ${failing.length} gateway differences reach --fail-on, e.g. ${first.message} [${first.rule} ${first.severity}]\n`);
        return 1;
      }
      return 0;
    };

    let timer: NodeJS.Timeout | undefined;
    const lifecycle = stopOnce(io, () => {
      if (timer) clearTimeout(timer);
      return shutdown();
    });
    const { stop } = lifecycle;
    if (durationMs !== undefined) timer = setTimeout(() => stop(), durationMs);
    if (withUi) {
      import('../../ui/app.js')
        .then(({ runUi }) =>
          runUi({
            dbPath,
            live: true,
            showSecrets: values['show-secrets'] === true,
            pendingWrites: () => pipeline.pending(),
            // Both relays run in this process: quitting the UI stops them, so q asks first (as the proxy's does).
            proxyRunning: true,
            run: { mode: 'sandwich', front: running.front.url, gateway: gateway.href, back: running.back.url, origin: origin.href },
            color: io.env.NO_COLOR === undefined || io.env.NO_COLOR === '',
            notice: terminal.notice,
            signal: lifecycle.signal,
          }),
        )
        .then(() => stop())
        .catch((err: unknown) => {
          terminal.keep(`davtap: the terminal UI failed: ${err instanceof Error ? err.message : String(err)}`);
          stop();
        });
    }
    return await lifecycle.done;
  },
};

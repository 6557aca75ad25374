// `davtap [proxy]`: the composition root that wires proxy → analysis → store → UI.
import path from 'node:path';
import { startProxy, type ProxyHooks, type RunningProxy, type ServedCert } from '../proxy/index.js';
import { checkUpstream, describeUpstreamCheck } from '../proxy/upstream-check.js';
import { defaultCaDir } from '../proxy/ca.js';
import { UsageError } from '../errors.js';
import { startPipeline } from '../pipeline/pipeline.js';
import { createInjector, faultHelp, headFilterCodes, parseHeadFilter, parseInjectSpecs } from '../inject/index.js';
import { parseCommandArgs, parseSize, type OptionSpec } from './args.js';
import { checkNotOpenProxy, parseAllowRemote, parseListen, parseUpstream, upstreamIsSelf, type ListenAddress } from './listen.js';
import { clientAllowedBy, isLoopbackAddress, type AddressRange } from '../proxy/address-range.js';
import { loadServedCerts, loadUpstreamTls } from './upstream-tls.js';
import { replayForUi } from './replay.js';
import { editForUi } from './edit.js';
import { interceptFilterOf, interceptForUi } from './intercept.js';
import { DEFAULT_PATIENCE_MS, Interceptor } from '../proxy/intercept.js';
import { parseFilter, type FilterNode } from '../filter/index.js';
import type { CliIO, Command } from './io.js';
import { stopOnce } from './stop-once.js';
import { TerminalLog } from './terminal-log.js';
import { openStore, type RunInfo } from '../store/index.js';

const help = `Usage: davtap [proxy] [options]

Relays WebDAV/CalDAV/CardDAV traffic without changing it, checks every 207 Multi-Status response,
and records each exchange.

Reverse mode (--upstream URL): clients talk to davtap as if it were the server.
Forward mode (no --upstream): davtap is an explicit HTTP proxy (curl -x, litmus --proxy=…);
HTTPS through CONNECT is intercepted with davtap's CA (see 'davtap ca').

Options:
  --upstream URL             relay to this http(s) URL, optionally with a path prefix
  --public-url URL           reverse mode: the address clients use when a TLS terminator, a port
                             forward or a container port sits in front of davtap
                             (https://dav.example.org:8443/, optionally with a path prefix);
                             Destination and If on it map to the upstream, Location back to it
  --listen HOST:PORT         where to listen (default 127.0.0.1:8080; port 0 picks a free one)
  --allow-remote CIDR[,CIDR…]
                             clients allowed besides loopback (ranges or addresses, repeatable);
                             others are answered 403. Forward mode needs it to listen on a
                             non-loopback address; reverse mode admits every client without it
  --db FILE                  SQLite file for flows and findings (default ./davtap.db)
  --max-db-size SIZE         prune the oldest bodies once the database is larger (default: no limit)
  --no-ui                    print one line per flow instead of the terminal UI
                             (the UI is the default when stdout is a terminal)
  --show-secrets             show credentials as recorded in the UI and the flow lines
                             (masked as [redacted] by default)
  --max-body SIZE            response bytes captured per flow (default 64MiB; relaying is never capped)
  --max-request-body SIZE    request bytes captured per flow (default 1MiB)
  --analyze-whole            a 207 arriving faster than davtap analyzes it is relayed at the
                             analysis's pace, and checked whole (default: relayed at full speed,
                             its analysis stopped where it fell behind, MS703)
  --ca-dir DIR               where davtap's CA lives (default ${defaultCaDir()}): it signs the
                             certificates of intercepted HTTPS (forward mode) and of the
                             listener's https (reverse mode)
  --cert FILE                reverse mode: serve this certificate (PEM with its key) to https
                             clients instead of one from the CA; HOST=FILE serves it for that
                             name only (by SNI); repeatable
  --insecure-upstream        do not verify the upstream's TLS certificate
  --upstream-ca FILE         also trust the CAs in this PEM bundle for upstream certificates
                             (added to Node's public CAs; verification stays on)
  --upstream-cert FILE       client certificate (PEM) for upstreams that ask for one (mTLS);
                             the file may hold the key too
  --upstream-key FILE        the client certificate's private key (PEM), if not in --upstream-cert
  --upstream-timeout SECONDS give up on an upstream silent for this long (default 120; 0 = never)
  --head-timeout SECONDS     answer 408 to a client whose request head is incomplete this long
                             after its first byte (default 30; 0 = never)
  --inject SPEC[,SPEC…]      act as a deliberately bad gateway for matching responses (see below)
  --inject-filter EXPR       which responses to inject, as a filter on what the response head
                             tells (${headFilterCodes()}, ! & |;
                             see 'davtap flows --help'); default: every 207
  --intercept EXPR           hold matching exchanges from the start, as the UI's i does (a request
                             filter holds requests; one naming a response code, ~s ~c ~hs ~bs ~ts
                             ~a ~q, holds responses too); needs the terminal UI, which releases
                             them: with --no-ui (or stdout not a terminal) it is refused
  --intercept-patience SECONDS
                             a held exchange whose client has waited longer is shown past its
                             patience (default 30); with the terminal UI only, as --intercept
  -h, --help                 show this help

Reverse mode changes only Host, Destination and If (requests) and Location, Content-Location
(responses) so that COPY, MOVE and redirects work; bodies are never rewritten (without --inject).

Fault injection (--inject, faults applied in the order given; injected flows are marked and their
findings attributed to the injection):
${faultHelp()}
Rewrites buffer the body (up to 32 MiB; larger bodies pass unchanged) and fix Content-Length.
`;

interface ProxyArgs {
  upstream?: string;
  'public-url'?: string;
  cert?: string[];
  listen?: string;
  'allow-remote'?: string[];
  db?: string;
  'max-db-size'?: string;
  'no-ui'?: boolean;
  'show-secrets'?: boolean;
  'max-body'?: string;
  'max-request-body'?: string;
  'analyze-whole'?: boolean;
  'ca-dir'?: string;
  'insecure-upstream'?: boolean;
  'upstream-ca'?: string;
  'upstream-cert'?: string;
  'upstream-key'?: string;
  'upstream-timeout'?: string;
  'head-timeout'?: string;
  inject?: string;
  'inject-filter'?: string;
  intercept?: string;
  'intercept-patience'?: string;
}

export function parseSeconds(flag: string, text: string): number {
  if (!/^\d+(\.\d+)?$/.test(text)) throw new UsageError(`${flag}: '${text}' is not a number of seconds`);
  return Math.round(Number(text) * 1000);
}

/** --public-url: where clients reach davtap through whatever sits in front of it. */
function parsePublicUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--public-url: '${text}' is not a URL (example: https://dav.example.org:8443/)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--public-url: '${text}' must be an http:// or https:// URL`);
  if (url.username || url.password) throw new UsageError(`--public-url: '${text}' must not carry credentials`);
  if (url.search || url.hash || text.includes('?') || text.includes('#')) throw new UsageError(`--public-url: '${text}' must not have a query or fragment`);
  return url;
}

function injectorOf(inject: string | undefined, filter: string | undefined) {
  if (inject === undefined) {
    if (filter !== undefined) throw new UsageError('--inject-filter needs --inject');
    return undefined;
  }
  return createInjector({ specs: parseInjectSpecs(inject), ...(filter !== undefined ? { filter: parseHeadFilter(filter) } : {}) });
}

/**
 * --intercept and --intercept-patience: holding needs someone to release what is held, the
 * terminal UI (a, A, X); without it they are refused rather than hold exchanges nobody can release.
 */
function interceptOption(text: string | undefined, patience: string | undefined, withUi: boolean): Pick<ProxySettings, 'intercept' | 'interceptPatienceMs'> {
  if (text === undefined && patience === undefined) return {};
  if (!withUi) {
    const flag = text !== undefined ? '--intercept' : '--intercept-patience';
    throw new UsageError(`${flag} needs the terminal UI, which releases what is held (a, A, X): not with --no-ui or when stdout is not a terminal`);
  }
  let node: FilterNode | undefined;
  if (text !== undefined) {
    try {
      node = parseFilter(text);
    } catch (err) {
      throw new UsageError(`--intercept: ${err instanceof Error ? err.message.replace(/^filter: /, '') : String(err)}`);
    }
  }
  return {
    ...(node ? { intercept: { node, text: text!.trim() } } : {}),
    ...(patience !== undefined ? { interceptPatienceMs: parseSeconds('--intercept-patience', patience) } : {}),
  };
}

/** The recording, UI and TLS options every relaying command takes (`proxy`, `sandwich`). */
export const relayOptionSpec = {
  db: { type: 'string' },
  'no-ui': { type: 'boolean' },
  'show-secrets': { type: 'boolean' },
  'max-body': { type: 'string' },
  'max-request-body': { type: 'string' },
  'ca-dir': { type: 'string' },
  cert: { type: 'string', multiple: true },
  'insecure-upstream': { type: 'boolean' },
  'upstream-ca': { type: 'string' },
  'upstream-cert': { type: 'string' },
  'upstream-key': { type: 'string' },
  'upstream-timeout': { type: 'string' },
  'head-timeout': { type: 'string' },
} satisfies OptionSpec;

/**
 * The proxy's options as parsed. The help text above and the README's options table are tested
 * against it (test/cli/proxy-options.test.ts): an option added here and not there fails.
 */
export const proxyOptionSpec = {
  upstream: { type: 'string' },
  'public-url': { type: 'string' },
  listen: { type: 'string' },
  'allow-remote': { type: 'string', multiple: true },
  'max-db-size': { type: 'string' },
  ...relayOptionSpec,
  'analyze-whole': { type: 'boolean' },
  inject: { type: 'string' },
  'inject-filter': { type: 'string' },
  intercept: { type: 'string' },
  'intercept-patience': { type: 'string' },
} satisfies OptionSpec;

/** Everything a running proxy is made of, as the command line gave it (or as `davtap demo` sets it). */
export interface ProxySettings {
  listen: ListenAddress;
  /** Reverse mode when set. */
  upstream?: URL;
  publicUrl?: URL;
  allowRemote?: AddressRange[];
  maxBody: number;
  maxRequestBody: number;
  /** A body analyzed more slowly than it arrives is relayed at the analysis's pace (--analyze-whole). */
  analyzeWhole?: boolean;
  upstreamTimeoutMs: number;
  headTimeoutMs: number;
  dbPath: string;
  /** Where the CA lives; without one (and without certs) the reverse listener speaks plain http only. */
  caDir?: string;
  certs?: ServedCert[];
  maxDbSize?: number;
  /** The terminal UI rather than the flow lines. */
  withUi: boolean;
  showSecrets: boolean;
  injectFor?: ProxyHooks['injectFor'];
  insecureUpstream: boolean;
  upstreamTls?: ReturnType<typeof loadUpstreamTls>;
  /** A line for the UI's status bar at start, once the proxy listens. */
  uiStatus?: (proxy: RunningProxy) => string;
  /** Hold what matches from the start (--intercept; the UI's i changes it). */
  intercept?: { node: FilterNode; text: string };
  /** How long a held exchange's client is taken to wait (--intercept-patience). */
  interceptPatienceMs?: number;
}

/**
 * Records the run's mode, addresses and upstream in the database, where `davtap ui --db` (which
 * reads only the store) finds them. A failure is one line: the proxy relays and records flows anyway.
 */
function recordRun(dbPath: string, run: Omit<RunInfo, 'id'>, log: (line: string) => void): void {
  try {
    const store = openStore(dbPath);
    try {
      store.recordRun(run);
    } finally {
      store.close();
    }
  } catch (err) {
    log(`davtap: could not record this run in ${dbPath}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A proxy that runs: its listener, its log, and how it ends. */
export interface ProxySession {
  proxy: RunningProxy;
  /** A warning for the user: on stderr, or held while the UI owns the terminal (its status bar shows the newest). */
  log(line: string): void;
  /** A line of information: on stderr, or held until the UI closes (not shown as a warning). */
  say(line: string): void;
  /** Stops it as SIGTERM would; resolves with the exit status once every flow seen is committed. */
  stop(): Promise<number>;
  /** Resolves with the exit status once it has stopped (the UI's q, a signal, or stop()). */
  done: Promise<number>;
}

/**
 * Starts the pipeline, the proxy and (with `withUi`) the terminal UI, and stops them all on SIGINT
 * or SIGTERM, on the UI's quit, or on stop(). `davtap proxy` and `davtap demo` both run this.
 */
export async function startProxySession(settings: ProxySettings, io: CliIO): Promise<ProxySession> {
  const { listen, upstream, publicUrl, allowRemote, certs, dbPath, withUi, insecureUpstream, upstreamTls } = settings;

  // While the UI owns the terminal, log lines wait and are printed when it closes.
  const terminal = new TerminalLog(io, withUi);
  const log = terminal.log;

  // Analysis and recording run on a worker thread (pipeline.ts). It opens the store before
  // anything listens: a bad or newer database is an exit-2 error, not a proxy that silently
  // records nothing. The store keeps what the tap captured: the same cap (--max-body).
  const pipeline = await startPipeline({
    dbPath,
    ...(settings.maxDbSize !== undefined ? { maxDbSize: settings.maxDbSize } : {}),
    maxBody: settings.maxBody,
    ...(settings.analyzeWhole === true ? { analyzeWhole: true } : {}),
    lines: !withUi,
    showSecrets: settings.showSecrets,
    onLines: (lines) => io.stdout.write(lines.join('\n') + '\n'),
    log,
  });

  // Intercept (the UI's i): exchanges matching its filter wait in the relay until resumed or killed.
  const interceptor = withUi ? new Interceptor({ patienceMs: settings.interceptPatienceMs ?? DEFAULT_PATIENCE_MS }) : undefined;
  if (interceptor) {
    interceptor.onRefused = log;
    if (settings.intercept !== undefined) interceptor.setFilter(interceptFilterOf(settings.intercept.node, settings.maxBody), settings.intercept.text);
  }
  const baseHooks = settings.injectFor ? { ...pipeline.hooks, injectFor: settings.injectFor } : pipeline.hooks;

  let proxy;
  try {
    proxy = await startProxy({
      listenHost: listen.host,
      listenPort: listen.port,
      ...(allowRemote ? { clientAllowed: clientAllowedBy(allowRemote) } : {}),
      ...(upstream ? { upstream, ...(publicUrl ? { publicUrl } : {}) } : {}),
      ...(settings.caDir !== undefined ? { caDir: settings.caDir } : {}),
      ...(certs ? { certs } : {}),
      insecureUpstream,
      ...(upstreamTls ? { upstreamTls } : {}),
      maxBody: settings.maxBody,
      maxRequestBody: settings.maxRequestBody,
      upstreamTimeoutMs: settings.upstreamTimeoutMs,
      headTimeoutMs: settings.headTimeoutMs,
      hooks: interceptor ? { ...baseHooks, interceptRequest: interceptor.interceptRequest, interceptResponse: interceptor.interceptResponse } : baseHooks,
      log,
    });
  } catch (err) {
    await pipeline.close();
    throw err;
  }
  const caState = proxy.ca?.created ? (proxy.ca.replacedBecause ? ` (replaced: ${proxy.ca.replacedBecause})` : ' (new: clients must trust it, see davtap ca)') : '';
  const listenerTls = certs ? `https with ${certs.length === 1 ? 'the certificate' : `${certs.length} certificates`} given` : proxy.ca ? `https with CA ${proxy.ca.certPath}${caState}` : undefined;
  const where = upstream
    ? `reverse → ${upstream.href}${publicUrl ? `; clients use ${publicUrl.href}` : ''}; ${listenerTls ? `${listenerTls} and http on this port` : 'http only'}`
    : `forward proxy; HTTPS intercepted with CA ${proxy.ca!.certPath} (SHA-256 ${proxy.ca!.fingerprint256})`;
  const clients = allowRemote ? `loopback, ${allowRemote.map((r) => r.text).join(', ')}` : isLoopbackAddress(listen.host) ? undefined : 'any (--allow-remote limits them)';
  const run: Omit<RunInfo, 'id'> = {
    started: Date.now(),
    mode: upstream ? 'reverse' : 'forward',
    listen: [proxy.url],
    ...(upstream ? { upstream: upstream.href } : {}),
    ...(publicUrl ? { publicUrl: publicUrl.href } : {}),
  };
  recordRun(dbPath, run, log);
  const ready = `davtap listening on ${proxy.url} (${where}${clients ? `; clients: ${clients}` : ''}); recording to ${dbPath}`;
  if (withUi) terminal.keep(ready);
  else log(ready);

  // One TLS handshake with an https upstream, with the relay's trust, while davtap already
  // serves: a certificate that does not verify is one line now, not only a 502 per flow.
  const checking = new AbortController();
  if (upstream?.protocol === 'https:') {
    void checkUpstream(upstream, { insecure: insecureUpstream, ...upstreamTls }, { signal: checking.signal }).then((result) => {
      const line = describeUpstreamCheck(upstream, result);
      if (line !== undefined && !checking.signal.aborted) log(`davtap: ${line}`);
    });
  }

  const running = proxy;
  const shutdown = async (): Promise<number> => {
    // What is still held is killed (the UI asked before quitting): its flows end and are recorded.
    interceptor?.killAll();
    // Resolves once every flow the close cut has been handed to the pipeline.
    await running.close();
    // Every flow seen so far is analyzed and committed before this resolves.
    const stats = await pipeline.close();
    terminal.release();
    // A passing lock report is not a loss: only flows that were not stored change the exit code.
    const notRecorded = stats.failed + stats.dropped + stats.lost;
    if (notRecorded > 0) {
      const why = stats.lastStoreError || (stats.lost > 0 ? 'the recording worker failed' : 'the writer queue was full');
      io.stderr.write(`davtap: ${notRecorded} of ${stats.enqueued + stats.lost} flows were not recorded in ${dbPath}: ${why}\n`);
      return 2;
    }
    return 0;
  };

  const lifecycle = stopOnce(io, () => {
    checking.abort();
    return shutdown();
  });
  const { stop, done } = lifecycle;
  if (withUi) {
    // Loaded only when shown: the UI and blessed weigh about 20 MiB that --no-ui never needs.
    import('../../ui/app.js')
      .then(({ runUi }) =>
        runUi({
          dbPath,
          live: true,
          showSecrets: settings.showSecrets,
          pendingWrites: () => pipeline.pending(),
          // The proxy runs in this process: quitting the UI stops it, so q asks first.
          proxyRunning: true,
          run,
          color: io.env.NO_COLOR === undefined || io.env.NO_COLOR === '',
          notice: terminal.notice,
          ...(settings.uiStatus ? { status: settings.uiStatus(running) } : {}),
          signal: lifecycle.signal,
          actions: { replay: replayForUi(dbPath, log), edit: editForUi(dbPath, io.env, log, { showSecrets: settings.showSecrets }), ...(interceptor ? { intercept: interceptForUi(interceptor, settings.maxBody, { showSecrets: settings.showSecrets }) } : {}) },
        }),
      )
      .then(() => stop())
      .catch((err: unknown) => {
        terminal.keep(`davtap: the terminal UI failed: ${err instanceof Error ? err.message : String(err)}`);
        stop();
      });
  }
  return {
    proxy: running,
    log,
    say: terminal.say,
    stop: () => {
      stop();
      return done;
    },
    done,
  };
}

export const command: Command = {
  summary: 'relay traffic and record flows (the default)',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, help: wantsHelp } = parseCommandArgs<ProxyArgs>('proxy', args, proxyOptionSpec);
    if (wantsHelp) {
      io.stdout.write(help);
      return 0;
    }
    const listen = parseListen(values.listen ?? '127.0.0.1:8080');
    const upstream = values.upstream !== undefined ? parseUpstream(values.upstream) : undefined;
    if (upstream && upstreamIsSelf(upstream, listen)) {
      throw new UsageError(`--upstream ${upstream.href} is davtap's own --listen address: every request would loop`);
    }
    const publicUrl = values['public-url'] !== undefined ? parsePublicUrl(values['public-url']) : undefined;
    if (publicUrl && !upstream) throw new UsageError('--public-url is for reverse mode (--upstream URL): in forward mode clients name the server themselves');
    const allowRemote = values['allow-remote'] !== undefined ? parseAllowRemote(values['allow-remote']) : undefined;
    checkNotOpenProxy(listen, !upstream, allowRemote);
    const maxBody = parseSize('--max-body', values['max-body'] ?? '64MiB');
    const maxRequestBody = parseSize('--max-request-body', values['max-request-body'] ?? '1MiB');
    const upstreamTimeoutMs = parseSeconds('--upstream-timeout', values['upstream-timeout'] ?? '120');
    const headTimeoutMs = parseSeconds('--head-timeout', values['head-timeout'] ?? '30');
    const dbPath = path.resolve(io.cwd, values.db ?? 'davtap.db');
    const caDir = path.resolve(io.cwd, values['ca-dir'] ?? defaultCaDir(io.env));
    if (values.cert !== undefined && !upstream) throw new UsageError('--cert is for reverse mode (--upstream URL): forward mode signs its own certificates with the CA (--ca-dir)');
    const certs = values.cert !== undefined ? loadServedCerts(values.cert, io.cwd) : undefined;
    const maxDbSize = values['max-db-size'] !== undefined ? parseSize('--max-db-size', values['max-db-size']) : undefined;
    const withUi = values['no-ui'] !== true && io.stdout.isTTY === true;
    const injectFor = injectorOf(values.inject, values['inject-filter']);
    const intercept = interceptOption(values.intercept, values['intercept-patience'], withUi);
    const insecureUpstream = values['insecure-upstream'] ?? false;
    const upstreamTls = loadUpstreamTls(
      { ca: values['upstream-ca'], cert: values['upstream-cert'], key: values['upstream-key'], insecure: insecureUpstream },
      io.cwd,
    );
    const session = await startProxySession(
      {
        listen,
        ...(upstream ? { upstream } : {}),
        ...(publicUrl ? { publicUrl } : {}),
        ...(allowRemote ? { allowRemote } : {}),
        maxBody,
        maxRequestBody,
        ...(values['analyze-whole'] === true ? { analyzeWhole: true } : {}),
        upstreamTimeoutMs,
        headTimeoutMs,
        dbPath,
        caDir,
        ...(certs ? { certs } : {}),
        ...(maxDbSize !== undefined ? { maxDbSize } : {}),
        withUi,
        showSecrets: values['show-secrets'] === true,
        ...(injectFor ? { injectFor } : {}),
        ...intercept,
        insecureUpstream,
        ...(upstreamTls ? { upstreamTls } : {}),
      },
      io,
    );
    return await session.done;
  },
};

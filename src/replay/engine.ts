// Re-sending recorded requests. A replayed request goes through davtap's own relay, started here in
// reverse mode towards the target: the bytes the server receives are relayed, captured, analyzed and
// recorded exactly as a client's would be (same hooks, same analysis, same store), so a replayed
// flow is a flow like any other, with `replayOf` naming the one it re-sent. Sending through the relay
// rather than feeding the pipeline from a client of our own also gives replay the relay's reverse
// mode mapping for free: Host and Destination (and If) move from the recorded address to the target.
//
// What is sent is what the store holds: the method, the request-target's path, the header fields
// in their order and case (credentials included: exports redact them, the store does not), and the
// body bytes. A body the capture cut (--max-request-body) is never sent in part.
import net from 'node:net';
import type { ProxyHooks } from '../proxy/hooks.js';
import { startProxy, type RunningProxy } from '../proxy/index.js';
import { rawPathOf } from '../proxy/rewrite.js';
import { requestBodyPlan, serializeRequest } from '../http/message.js';
import { withoutHeaders } from '../http/headers.js';
import type { EditableRequest } from './edit-text.js';
import { createFlowWriter, type FlowWriter, type Store, type StoredFlow } from '../store/index.js';
import type { Flow } from '../types.js';

/** Builds the hooks that analyze flows as they relay (the live pipeline), handing each finished one to `onFlow`. */
export type AnalyzingHooks = (onFlow: (flow: Flow) => void) => ProxyHooks;

export interface ReplayerOptions {
  /** The store the flows are read from and the replays recorded in (opened for writing). */
  store: Store;
  /** The composition root's live analysis (src/pipeline/live.ts), so replays are analyzed as proxied flows are. */
  analyzing: AnalyzingHooks;
  /** Send every request here instead of its original server: `http://host:port[/prefix]`. */
  to?: URL;
  /** Response bytes captured per replayed flow (as --max-body). */
  maxBody?: number;
  /** Give up on a replayed exchange silent for this long (default 60 s). */
  timeoutMs?: number;
  insecureUpstream?: boolean;
  log?: (line: string) => void;
}

export interface ReplayOutcome {
  original: StoredFlow;
  /** The new flow, as recorded (with its analysis and bodies). */
  replay: Flow;
}

/** A flow that cannot be re-sent as it was, and why (one line). */
export class NotReplayable extends Error {}

/** A recorded request edited before it is sent (the UI's `e` and `D`). */
export interface ReplayEdit {
  /** What to send instead of the recorded request (src/replay/edit-text.ts). */
  request: EditableRequest;
  /** Record the new flow as a replay of the original (`e`); false for a new flow of its own (`D`). */
  linked: boolean;
}

export interface Replayer {
  /**
   * Sends one recorded flow again (or `edit`'s request in its place, to the same server) and
   * resolves with the new flow once it is over (it is queued for recording).
   */
  replay(original: StoredFlow, edit?: ReplayEdit): Promise<ReplayOutcome>;
  /** Writes every replayed flow to the store and stops the relays (the store stays open). */
  close(): Promise<void>;
  /** The ids of the flows recorded so far, oldest first. */
  recorded(): string[];
}

/** Host and path prefix of the server a recorded flow went to: its URL without the path the client asked for. */
export function originalServer(flow: Pick<Flow, 'request'>): URL {
  const url = new URL(flow.request.url);
  const path = rawPathOf(flow.request.target);
  const full = url.pathname + url.search;
  const prefix = path !== '*' && full.endsWith(path) ? full.slice(0, full.length - path.length) : '';
  return new URL(`${url.origin}${prefix}/`);
}

/** Why a recorded flow cannot be replayed exactly, or undefined when it can. */
export function whyNotReplayable(flow: StoredFlow): string | undefined {
  const body = flow.request.body;
  if (!body.captureComplete || body.bytes.length < body.bytesSeen) {
    return `its request body was not fully recorded (${body.bytes.length} of ${body.bytesSeen} bytes, --max-request-body or the database's limits): it cannot be sent again exactly`;
  }
  if (flow.request.method === 'CONNECT') return 'a CONNECT opens a tunnel: the requests inside it are flows of their own';
  try {
    requestBodyPlan(flow.request.rawHeaders);
  } catch (err) {
    return `its request was refused as ambiguous (${(err as Error).message}): it was never relayed`;
  }
  try {
    new URL(flow.request.url);
  } catch {
    return `its URL (${flow.request.url}) names no server`;
  }
  return undefined;
}

/** Why an edited copy of a recorded flow cannot be sent (to the flow's server), or undefined when it can. */
function whyNotSendable(original: StoredFlow, request: EditableRequest): string | undefined {
  const body = original.request.body;
  // The text was made from the recorded body: a cut one was never editable (edit-text.ts).
  if (!body.captureComplete || body.bytes.length < body.bytesSeen) return `its request body was not fully recorded (${body.bytes.length} of ${body.bytesSeen} bytes): it cannot be edited exactly`;
  if (original.request.method === 'CONNECT' || request.method === 'CONNECT') return 'a CONNECT opens a tunnel: the requests inside it are flows of their own';
  try {
    requestBodyPlan(request.rawHeaders);
  } catch (err) {
    return `its framing is ambiguous (${(err as Error).message})`;
  }
  try {
    new URL(original.request.url);
  } catch {
    return `its URL (${original.request.url}) names no server`;
  }
  return undefined;
}

/** The request as bytes for the relay: the recorded (or edited) head and body, re-framed as declared. */
function requestBytes(flow: StoredFlow, edited?: EditableRequest): Buffer {
  const request = edited ?? { ...flow.request, body: flow.request.body.bytes };
  // A forward proxy consumes Proxy-Authorization (it was never sent upstream); the relay drops the
  // other hop-by-hop fields itself.
  const headers = flow.mode === 'forward' ? withoutHeaders(request.rawHeaders, 'proxy-authorization') : request.rawHeaders;
  const version = /^1\.[01]$/.test(request.httpVersion) ? request.httpVersion : '1.1';
  return serializeRequest({ method: request.method, target: rawPathOf(request.target), version, rawHeaders: headers }, request.body);
}

/**
 * The relay maps Destination and If URLs on the address the client used (`http(s)://<Host>`) to the
 * target; a public URL of its own makes it accept both schemes of the recorded Host, so that a flow
 * recorded over TLS maps too. Nothing is ever sent to this name.
 */
const REPLAY_PUBLIC_URL = new URL('http://replay.davtap.invalid/');

interface Waiting {
  /** The flow the new one replays; null for an edited copy recorded on its own. */
  originalId: string | null;
  resolve(flow: Flow): void;
}

export async function startReplayer(options: ReplayerOptions): Promise<Replayer> {
  const log = options.log ?? (() => {});
  const writer: FlowWriter = createFlowWriter(options.store, { tickMs: 20, onError: (err) => log(`davtap: replay: ${err.message}`) });
  const relays = new Map<string, Promise<RunningProxy>>();
  const waiting = new Map<number, Waiting>();
  const recorded: string[] = [];

  const hooks = options.analyzing((flow) => {
    const w = waiting.get(flow.client.port);
    if (w) {
      waiting.delete(flow.client.port);
      if (w.originalId !== null) flow.replayOf = w.originalId;
    }
    writer.enqueue(flow);
    recorded.push(flow.id);
    w?.resolve(flow);
  });

  const relayTo = (target: URL): Promise<RunningProxy> => {
    const key = target.href;
    let relay = relays.get(key);
    if (!relay) {
      relay = startProxy({
        listenHost: '127.0.0.1',
        listenPort: 0,
        upstream: target,
        publicUrl: REPLAY_PUBLIC_URL,
        insecureUpstream: options.insecureUpstream ?? false,
        maxBody: options.maxBody ?? 64 * 1024 * 1024,
        // The body is known and whole (whyNotReplayable): capture all of it.
        maxRequestBody: 1024 * 1024 * 1024,
        upstreamTimeoutMs: options.timeoutMs ?? 60_000,
        hooks,
        log,
      });
      relays.set(key, relay);
    }
    return relay;
  };

  const send = (relay: RunningProxy, original: StoredFlow, edit?: ReplayEdit): Promise<Flow> =>
    new Promise<Flow>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: relay.port });
      let settled = false;
      const finish = (err: Error | null, flow?: Flow) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(err);
        else resolve(flow!);
      };
      // Bounded: the relay ends every exchange (upstream timeout), this only guards against a bug.
      const timer = setTimeout(() => finish(new Error(`no answer within ${Math.round(((options.timeoutMs ?? 60_000) + 5000) / 1000)} s`)), (options.timeoutMs ?? 60_000) + 5000);
      socket.once('connect', () => {
        waiting.set(socket.localPort!, { originalId: edit?.linked === false ? null : original.id, resolve: (flow) => finish(null, flow) });
        socket.write(requestBytes(original, edit?.request));
      });
      // The answer is read by the relay's capture; here it is only drained.
      socket.on('data', () => {});
      socket.once('error', (err) => {
        if (!settled && socket.localPort !== undefined && waiting.has(socket.localPort)) return; // the flow still ends through the hooks
        finish(err);
      });
    });

  return {
    async replay(original, edit) {
      const why = edit ? whyNotSendable(original, edit.request) : whyNotReplayable(original);
      if (why !== undefined) throw new NotReplayable(`flow ${original.id} (${original.request.method} ${original.request.url}) cannot be ${edit ? 'sent edited' : 'replayed'}: ${why}`);
      const relay = await relayTo(options.to ?? originalServer(original));
      const flow = await send(relay, original, edit);
      return { original, replay: flow };
    },
    recorded: () => recorded.slice(),
    async close() {
      const running = await Promise.allSettled(relays.values());
      for (const r of running) if (r.status === 'fulfilled') await r.value.close();
      await writer.close();
    },
  };
}

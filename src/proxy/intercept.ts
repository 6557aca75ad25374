// Intercept (mitmproxy's `i`): requests and responses matching a filter are held in the relay until
// someone resumes or kills them. This keeps what is held and the decisions; the relay asks it
// through the hook contract (hooks.ts: interceptRequest, interceptResponse), and whoever controls it
// (the terminal UI, through the composition root) never touches the relay itself. Holding one
// exchange never blocks another: only the held exchange's client connection waits.
import type { ExchangeHold, ExchangeView, HoldDecision, InterceptedRequest, RequestReplacement, ResponseIntercept } from './hooks.js';
import type { Flow, FlowStart } from '../types.js';

/** What an intercept filter judges, and when (mitmproxy judges its filter at the request and again at the response). */
export interface InterceptFilter {
  /** Judged on each request as it arrived (no response yet). */
  request(request: InterceptedRequest): boolean;
  /**
   * Judged on each response head: false lets the response stream as usual; true keeps it whole so
   * that `response` can judge it. Absent: responses are never held (a filter that names no response code).
   */
  responseHead?(start: FlowStart): boolean;
  /** Judged on the whole response (`flow.response` with its body). */
  response?(flow: Flow): boolean;
}

/** One held exchange, as it stands when asked. */
export interface HeldExchange {
  id: string;
  /** What waits: the request (nothing sent upstream yet) or the response (nothing sent to the client yet). */
  what: 'request' | 'response';
  method: string;
  url: string;
  /** When it was held (epoch ms). */
  since: number;
  /** When its client sent the request (epoch ms): its wait, for the patience, counts from there. */
  waitingSince: number;
  /** A held response's status. */
  status?: number;
  /** The client's connection has gone: deciding it sends nothing. */
  clientGone: boolean;
  /** Held longer than the patience (--intercept-patience): its client may have given up. */
  pastPatience: boolean;
}

interface Held {
  what: HeldExchange['what'];
  id: string;
  method: string;
  url: string;
  since: number;
  waitingSince: number;
  status?: number;
  view: ExchangeView;
  /** A held request, with what the relay offers for an edit. */
  request?: InterceptedRequest;
  decide(decision: HoldDecision): void;
}

export interface InterceptorOptions {
  /** How long a client is taken to wait for an answer before a held exchange is shown as past it (default 30 s). */
  patienceMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

export const DEFAULT_PATIENCE_MS = 30_000;

export class Interceptor {
  private filterOf: InterceptFilter | null = null;
  private filterText: string | null = null;
  private readonly held = new Map<string, Held>();
  readonly patienceMs: number;
  private readonly now: () => number;

  /** Called whenever what is held changes (held, released, killed, dropped). */
  onChange: () => void = () => {};
  /** Called when a response the filter may hold could not be held whole (too large): one line saying why. */
  onRefused: (line: string) => void = () => {};

  constructor(options: InterceptorOptions = {}) {
    this.patienceMs = options.patienceMs ?? DEFAULT_PATIENCE_MS;
    this.now = options.now ?? Date.now;
  }

  /** Holds what matches from now on; null stops holding new ones (those held stay held). */
  setFilter(filter: InterceptFilter | ((request: InterceptedRequest) => boolean) | null, text: string | null = null): void {
    this.filterOf = typeof filter === 'function' ? { request: filter } : filter;
    this.filterText = filter ? text : null;
    this.onChange();
  }

  get filter(): string | null {
    return this.filterText;
  }

  /** What is held now, oldest first. */
  list(): HeldExchange[] {
    const now = this.now();
    return [...this.held.values()].map((h) => ({
      id: h.id,
      what: h.what,
      method: h.method,
      url: h.url,
      since: h.since,
      waitingSince: h.waitingSince,
      ...(h.status !== undefined ? { status: h.status } : {}),
      clientGone: h.view.clientGone(),
      pastPatience: now - h.waitingSince > this.patienceMs,
    }));
  }

  /** A held exchange as it stands (request, and the response for a held response); null when not held. */
  flow(id: string): Flow | null {
    return this.held.get(id)?.view.snapshot() ?? null;
  }

  get size(): number {
    return this.held.size;
  }

  private hold(entry: Omit<Held, 'decide'>): ExchangeHold {
    let decide!: (d: HoldDecision) => void;
    const decision = new Promise<HoldDecision>((resolve) => (decide = resolve));
    this.held.set(entry.id, { ...entry, decide });
    this.onChange();
    return {
      decision,
      withdraw: () => {
        if (this.held.delete(entry.id)) this.onChange();
      },
    };
  }

  /** The hook for the relay (ProxyHooks.interceptRequest). */
  readonly interceptRequest = (request: InterceptedRequest): ExchangeHold | undefined => {
    if (!this.filterOf || !this.filterOf.request(request)) return undefined;
    return this.hold({ what: 'request', id: request.id, method: request.method, url: request.url, since: request.since, waitingSince: request.since, view: request, request });
  };

  /** The hook for the relay (ProxyHooks.interceptResponse). */
  readonly interceptResponse = (start: FlowStart, view: ExchangeView): ResponseIntercept | undefined => {
    const filter = this.filterOf;
    if (!filter?.responseHead || !filter.response || !filter.responseHead(start)) return undefined;
    const judge = filter.response;
    const what = `${start.request.method} ${start.request.url} (${start.response.status})`;
    return {
      complete: (payload) => {
        const flow = view.snapshot();
        if (flow.response) flow.response.body = { bytes: payload, bytesSeen: payload.length, captureComplete: true };
        if (!judge(flow)) return undefined;
        return this.hold({ what: 'response', id: start.id, method: start.request.method, url: start.request.url, since: this.now(), waitingSince: start.timings.start, status: start.response.status, view });
      },
      refused: (reason) => this.onRefused(`intercept: the response to ${what} was not held: ${reason}`),
    };
  };

  private decide(id: string, decision: HoldDecision): boolean {
    const h = this.held.get(id);
    if (!h) return false;
    this.held.delete(id);
    h.decide(decision);
    this.onChange();
    return true;
  }

  /** Sends a held request on, or a held response to its client (`a`); false when it is not held (any more). */
  resume(id: string): boolean {
    return this.decide(id, 'resume');
  }

  /** Sends `replacement` upstream in place of a held request and releases it (`e`); false when no request is held under `id`. */
  edit(id: string, replacement: RequestReplacement): boolean {
    if (this.held.get(id)?.what !== 'request') return false;
    return this.decide(id, { replace: replacement });
  }

  /** A held request, with what the relay offers for it (its whole body, for an edit); undefined when none is held under `id`. */
  request(id: string): InterceptedRequest | undefined {
    return this.held.get(id)?.request;
  }

  /** A held request: answered 502 without being sent; a held response: the client's connection closed without it (`X`). */
  kill(id: string): boolean {
    return this.decide(id, 'kill');
  }

  /** Every held exchange sent on, oldest first (`A`); how many. */
  resumeAll(): number {
    const ids = [...this.held.keys()];
    for (const id of ids) this.decide(id, 'resume');
    return ids.length;
  }

  killAll(): number {
    const ids = [...this.held.keys()];
    for (const id of ids) this.decide(id, 'kill');
    return ids.length;
  }
}

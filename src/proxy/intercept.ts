// Intercept (mitmproxy's `i`): requests matching a filter are held in the relay until someone
// resumes or kills them. This keeps the held requests and the decisions; the relay asks it through
// the hook contract (hooks.ts, interceptRequest), and whoever controls it (the terminal UI, through
// the composition root) never touches the relay itself. Holding one request never blocks another.
import type { InterceptedRequest, RequestHold } from './hooks.js';

export type InterceptMatch = (request: InterceptedRequest) => boolean;

interface Held {
  request: InterceptedRequest;
  decide(decision: 'resume' | 'kill'): void;
}

export class Interceptor {
  private match: InterceptMatch | null = null;
  private filterText: string | null = null;
  private readonly held = new Map<string, Held>();

  /** Called whenever the held requests change (a request held, released, killed or gone). */
  onChange: () => void = () => {};

  /** Holds requests that match from now on; null stops holding new ones (those held stay held). */
  setFilter(match: InterceptMatch | null, text: string | null = null): void {
    this.match = match;
    this.filterText = match ? text : null;
    this.onChange();
  }

  get filter(): string | null {
    return this.filterText;
  }

  /** The requests held now, oldest first. */
  list(): InterceptedRequest[] {
    return [...this.held.values()].map((h) => h.request);
  }

  get size(): number {
    return this.held.size;
  }

  /** The hook for the relay (ProxyHooks.interceptRequest). */
  readonly interceptRequest = (request: InterceptedRequest): RequestHold | undefined => {
    if (!this.match || !this.match(request)) return undefined;
    let decide!: (d: 'resume' | 'kill') => void;
    const decision = new Promise<'resume' | 'kill'>((resolve) => (decide = resolve));
    this.held.set(request.id, { request, decide });
    this.onChange();
    return {
      decision,
      withdraw: () => {
        if (this.held.delete(request.id)) this.onChange();
      },
    };
  };

  private decide(id: string, decision: 'resume' | 'kill'): boolean {
    const h = this.held.get(id);
    if (!h) return false;
    this.held.delete(id);
    h.decide(decision);
    this.onChange();
    return true;
  }

  /** Sends a held request on (`a`); false when it is not held (any more). */
  resume(id: string): boolean {
    return this.decide(id, 'resume');
  }

  /** Answers a held request 502 without sending it (`X`). */
  kill(id: string): boolean {
    return this.decide(id, 'kill');
  }

  /** Every held request sent on, oldest first (`A`); how many. */
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

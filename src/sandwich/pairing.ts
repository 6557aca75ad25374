// Which back flow (the gateway's request to the origin) belongs to which front flow (a client's
// request to the gateway). Nothing is added to the requests, so that the gateway sees exactly what
// the client sent: a pair is found by method, target (each relative to its leg's base URL), the
// digest of the request body, and time (the back request starts while the front one is under way,
// the earliest such first). When several clients sent the same request at once and a busy gateway
// passes the answers on in another order, the answer decides: the back flow whose status and
// response payload are the front flow's. Pure: no clock, no I/O; the caller says what time it is.
import { createHash } from 'node:crypto';

export interface LegRequest {
  id: string;
  method: string;
  /** The request-target relative to the leg's base path, with its query: `docs/a.txt?x=1`. */
  target: string;
  /** SHA-256 of the request body as captured, with its length; '' for no body. */
  bodyDigest: string;
  /** When the request head arrived, epoch ms. */
  start: number;
  /**
   * The leg's answer, status and payload digest (answerDigest), asked for only when several back
   * flows could be a front flow's: an unchanged answer is the same on both legs.
   */
  answer?: () => string;
}

/** A leg's answer as the pair book compares it: the status and a digest of the payload as relayed. */
export function answerDigest(status: number | null, payload: Uint8Array, complete: boolean): string {
  if (status === null) return 'no response';
  return `${status} ${payload.length}:${createHash('sha256').update(payload).digest('hex').slice(0, 32)}${complete ? '' : '+'}`;
}

/** The request-target of `url` relative to `base` (both absolute URLs); null when outside it. */
export function relativeTarget(url: string, base: URL): string | null {
  const u = new URL(url);
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  const path = u.pathname === prefix.slice(0, -1) ? prefix : u.pathname;
  if (!path.startsWith(prefix)) return null;
  return path.slice(prefix.length) + u.search;
}

export function bodyDigest(bytes: Uint8Array, bytesSeen: number, complete: boolean): string {
  if (bytesSeen === 0) return '';
  const h = createHash('sha256').update(bytes).digest('hex').slice(0, 32);
  return `${bytesSeen}:${h}${complete ? '' : '+'}`;
}

/**
 * How a gateway that changes the path prefix maps the paths its clients use (the front listener's)
 * to those it asks its upstream for (the back listener's): `/dav/` → `/remote.php/dav/`. Both
 * with a leading and a trailing slash.
 */
export interface LegMap {
  front: string;
  back: string;
}

/** The back leg's target for a front leg's (`dav/x?q` → `remote.php/dav/x?q`); unchanged outside the prefix. */
export function frontToBack(target: string, map: LegMap | undefined): string {
  if (!map) return target;
  const path = `/${target}`;
  const exact = path === map.front.slice(0, -1) || path.startsWith(`${map.front.slice(0, -1)}?`);
  if (exact) return map.back.slice(1, -1) + path.slice(map.front.length - 1);
  return path.startsWith(map.front) ? map.back.slice(1) + path.slice(map.front.length) : target;
}

const keyOf = (r: Pick<LegRequest, 'method' | 'target' | 'bodyDigest'>): string => `${r.method} ${r.target} ${r.bodyDigest}`;

export interface PairBookOptions {
  /** How long a back flow waits for its front flow, and a front flow for its back flow (ms). */
  windowMs: number;
  /** Clock skew allowed between the two legs' start times (ms): the back starts after the front. */
  slackMs?: number;
}

/** Back flows waiting for their front flow, by key, oldest first. */
export class PairBook {
  /** Each waits with the time it ended (`until` counts from it: a slow gateway forwards late). */
  private readonly waiting = new Map<string, (LegRequest & { ended: number })[]>();
  private count = 0;

  constructor(private readonly opts: PairBookOptions) {}

  get size(): number {
    return this.count;
  }

  /** A back flow that ended at `ended` (epoch ms) waits for its front flow. */
  addBack(back: LegRequest, ended: number = back.start): void {
    const key = keyOf(back);
    const list = this.waiting.get(key) ?? [];
    list.push({ ...back, ended });
    this.waiting.set(key, list);
    this.count++;
  }

  /**
   * The back flow of `front` (whose response ended at `end`), taken out of the book: of those with
   * the same key that started after the front request (less the slack) and before its end, the
   * one whose answer is the front flow's, else the earliest.
   */
  takeFor(front: LegRequest, end: number): LegRequest | undefined {
    const key = keyOf(front);
    const list = this.waiting.get(key);
    if (!list) return undefined;
    const slack = this.opts.slackMs ?? 50;
    const fits = (b: LegRequest) => b.start >= front.start - slack && b.start <= end + slack;
    let i = list.findIndex(fits);
    if (i < 0) return undefined;
    if (front.answer && list.findIndex((b, j) => j > i && fits(b)) >= 0) {
      const answer = front.answer();
      const same = list.findIndex((b) => fits(b) && b.answer?.() === answer);
      if (same >= 0) i = same;
    }
    const [back] = list.splice(i, 1);
    if (list.length === 0) this.waiting.delete(key);
    this.count--;
    return back;
  }

  /** Takes out and returns the back flows that ended longer than the window before `now`: no front flow claimed them. */
  expire(now: number): LegRequest[] {
    const out: LegRequest[] = [];
    for (const [key, list] of this.waiting) {
      const keep = list.filter((b) => {
        if (now - b.ended <= this.opts.windowMs) return true;
        out.push(b);
        return false;
      });
      if (keep.length === 0) this.waiting.delete(key);
      else this.waiting.set(key, keep);
    }
    this.count -= out.length;
    return out;
  }
}

// The terminal UI's intercept controls (i, a, A, X and the question on quit), over the relay's
// Interceptor: the filter is the UI's filter language, judged on the request as it arrived (no
// response yet, so response codes such as ~c never match a request).
import { matchFlow, parseFilter } from '../filter/index.js';
import type { InterceptedRequest } from '../proxy/hooks.js';
import type { Interceptor } from '../proxy/intercept.js';
import type { Flow } from '../types.js';
import type { UiIntercept } from '../../ui/app.js';

/** A held request as a flow that has no response yet, for the filter. */
function flowOfRequest(r: InterceptedRequest): Flow {
  return {
    id: r.id,
    mode: 'reverse',
    client: { address: '', port: 0 },
    timings: { start: r.since, firstByte: null, end: null },
    request: { method: r.method, url: r.url, target: r.target, httpVersion: '1.1', rawHeaders: r.rawHeaders, body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true } },
    response: null,
    outcome: { kind: 'complete' },
  };
}

export function interceptForUi(interceptor: Interceptor): UiIntercept {
  const pick = (id: string | undefined): string[] => (id !== undefined ? [id] : interceptor.list().map((r) => r.id));
  return {
    setFilter(text) {
      const t = text.trim();
      if (t === '') {
        interceptor.setFilter(null);
        return null;
      }
      try {
        const node = parseFilter(t);
        interceptor.setFilter((r) => matchFlow(node, flowOfRequest(r)), t);
        return null;
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    },
    filter: () => interceptor.filter,
    held: () => interceptor.list().map((r) => ({ id: r.id, method: r.method, url: r.url, since: r.since })),
    resume: (id) => pick(id).filter((x) => interceptor.resume(x)).length,
    kill: (id) => pick(id).filter((x) => interceptor.kill(x)).length,
  };
}

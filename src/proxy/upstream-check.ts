// The start-up check of a TLS upstream (reverse mode): one handshake, through the same upstream
// connection the relay opens (UpstreamLink, so the same trust settings), so that a certificate
// that does not verify, a server that wants a client certificate or an unreachable upstream is
// told once when davtap starts, not only as a 502 on each flow. It never stops davtap: the server
// may be fixed while it runs.
import { CLIENT_CERT_ALERT, UpstreamLink, upstreamTrustHint, type UpstreamTrust } from './wire/link.js';

export type UpstreamCheckResult =
  | { kind: 'ok' }
  /** The upstream's certificate did not verify; `hint` is the way out (the 502's too). */
  | { kind: 'untrusted'; code: string; reason: string; hint: string }
  /**
   * The server refused the handshake over the client certificate (none given, or one it does not
   * accept): an alert about it, or the connection closed right after davtap presented one.
   */
  | { kind: 'client-certificate'; code: string; reason: string; presented: boolean }
  /** No TCP connection (refused, unresolvable, unreachable). */
  | { kind: 'unreachable'; code: string; reason: string }
  /** The TLS handshake failed otherwise (protocol, cipher, the server closed it). */
  | { kind: 'failed'; code: string; reason: string }
  | { kind: 'timeout'; ms: number }
  /** The signal ended the check first (davtap is stopping). */
  | { kind: 'aborted' };

export interface UpstreamCheckOptions {
  /** Bound on the whole check (default 5 s). */
  timeoutMs?: number;
  /**
   * After a TLS 1.3 handshake, how long at least to wait for the server's verdict on the client
   * certificate (it comes one round trip after the client's side of the handshake: a session
   * ticket or an alert); twice the handshake's own time when that is longer. Default 300 ms.
   */
  settleMs?: number;
  signal?: AbortSignal;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT']);

/** One TLS handshake with `url` (https) as the relay would make it. Never rejects. */
export function checkUpstream(url: URL, trust: UpstreamTrust, options: UpstreamCheckOptions = {}): Promise<UpstreamCheckResult> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const settleMs = options.settleMs ?? 300;
  return new Promise((resolve) => {
    const link = new UpstreamLink(url, trust, () => {});
    const socket = link.socket;
    let connected = false;
    let handshaken = false;
    let settled = false;
    let settleTimer: NodeJS.Timeout | undefined;
    const done = (result: UpstreamCheckResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(settleTimer);
      options.signal?.removeEventListener('abort', onAbort);
      link.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(handshaken ? { kind: 'ok' } : { kind: 'timeout', ms: timeoutMs }), timeoutMs);
    timer.unref();
    const onAbort = () => done({ kind: 'aborted' });
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    let connectedAt = 0;
    socket.once('connect', () => {
      connected = true;
      connectedAt = Date.now();
    });
    socket.once('secureConnect', () => {
      handshaken = true;
      if ((socket as { getProtocol?: () => string | null }).getProtocol?.() !== 'TLSv1.3') return done({ kind: 'ok' });
      const wait = Math.max(settleMs, 2 * (Date.now() - connectedAt));
      // setImmediate: if the event loop was busy meanwhile, an alert already received is read
      // (poll phase) before the verdict; a timer alone would fire first.
      settleTimer = setTimeout(() => setImmediate(() => done({ kind: 'ok' })), wait);
      settleTimer.unref();
    });
    // TLS 1.3: a session ticket means the server accepted the client's side of the handshake.
    socket.once('session', () => done({ kind: 'ok' }));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'EUPSTREAM';
      const reason = err.message;
      const hint = CLIENT_CERT_ALERT.test(code) ? undefined : upstreamTrustHint(err.code);
      if (hint) return done({ kind: 'untrusted', code, reason, hint });
      if (!connected && UNREACHABLE.has(code)) return done({ kind: 'unreachable', code, reason });
      if (CLIENT_CERT_ALERT.test(code) || (trust.cert === undefined && /ALERT_HANDSHAKE_FAILURE$/.test(code) && handshaken)) {
        return done({ kind: 'client-certificate', code, reason, presented: trust.cert !== undefined });
      }
      done({ kind: 'failed', code, reason });
    });
    // A server that closes the connection right after the handshake (a Node server does so with a
    // client certificate it does not accept) has refused it; so has one that closes it during it.
    const closed = () => {
      if (!handshaken) return done({ kind: 'failed', code: 'ECONNRESET', reason: 'the server closed the connection during the TLS handshake' });
      const reason = 'the server closed the connection right after the TLS handshake';
      if (trust.cert !== undefined) return done({ kind: 'client-certificate', code: 'ECONNRESET', reason, presented: true });
      done({ kind: 'failed', code: 'ECONNRESET', reason });
    };
    socket.once('end', closed);
    socket.once('close', closed);
  });
}

/**
 * The one line that tells what the check found (without the `davtap: ` prefix), or undefined
 * when the upstream is fine. It says that davtap keeps running.
 */
export function describeUpstreamCheck(url: URL, result: UpstreamCheckResult): string | undefined {
  const who = `upstream ${url.origin}`;
  const meanwhile = 'davtap keeps running; requests are answered 502 until it is fixed';
  switch (result.kind) {
    case 'ok':
    case 'aborted':
      return undefined;
    case 'untrusted':
      return `${who}: its TLS certificate did not verify (${result.code}: ${result.reason}); ${result.hint}. ${meanwhile}`;
    case 'client-certificate':
      return result.presented
        ? `${who} refused davtap's client certificate (${result.code}: ${result.reason}): check --upstream-cert FILE against the CAs the server accepts. ${meanwhile}`
        : `${who} asks for a client certificate (${result.code}): give one with --upstream-cert FILE (and --upstream-key FILE). ${meanwhile}`;
    case 'unreachable':
      return `${who} is not reachable (${result.code}: ${result.reason}). ${meanwhile}`;
    case 'failed':
      return `${who}: the TLS handshake failed (${result.code}: ${result.reason}). ${meanwhile}`;
    case 'timeout':
      return `${who} did not complete a TLS handshake within ${(result.ms / 1000).toLocaleString('en-US')} s. ${meanwhile}`;
  }
}

// One connection to the upstream server, owned by one client connection (connection affinity:
// requests of a client connection go over one upstream connection, in order, as they would
// without davtap; per-connection authentication such as NTLM keeps working). At most one
// exchange uses it at a time; its events go to that exchange.
import net from 'node:net';
import tls from 'node:tls';

/** How davtap's TLS connections to upstreams are checked, and what they present (mTLS). */
export interface UpstreamTrust {
  /** Do not verify the upstream's certificate (--insecure-upstream). */
  insecure: boolean;
  /** PEM bundle the upstream's certificate chain is verified against, in place of Node's default CAs (the CLI puts those in it too, so that --upstream-ca adds to them). */
  ca?: string | Buffer;
  /** Client certificate and key (PEM) presented to upstreams that ask for one (--upstream-cert, --upstream-key). */
  cert?: string | Buffer;
  key?: string | Buffer;
}

/**
 * The TLS context of a trust that carries a CA bundle or a client certificate, built once and
 * shared by every connection that uses that trust: given as PEM options instead, Node parses
 * them again for each connection (a bundle with the public CAs in it costs tens of milliseconds
 * of event-loop time per connection).
 */
const contexts = new WeakMap<UpstreamTrust, tls.SecureContext>();

function secureContextOf(trust: UpstreamTrust): tls.SecureContext | undefined {
  if (trust.ca === undefined && trust.cert === undefined && trust.key === undefined) return undefined;
  let context = contexts.get(trust);
  if (!context) {
    context = tls.createSecureContext({
      ...(trust.ca !== undefined ? { ca: trust.ca } : {}),
      ...(trust.cert !== undefined ? { cert: trust.cert } : {}),
      ...(trust.key !== undefined ? { key: trust.key } : {}),
    });
    contexts.set(trust, context);
  }
  return context;
}

/** OpenSSL's codes for an upstream certificate that did not verify. */
const UNVERIFIED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** TLS alerts a server sends about the client's certificate (mTLS). */
export const CLIENT_CERT_ALERT = /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|ACCESS_DENIED)$/;

/**
 * The way out of an upstream certificate that did not verify, or of an upstream that refused
 * davtap's client certificate (or asked for one), or undefined for other errors.
 */
export function upstreamTrustHint(code: string | undefined): string | undefined {
  if (code !== undefined && CLIENT_CERT_ALERT.test(code)) return 'the upstream wants a client certificate it accepts: give one with --upstream-cert FILE (and --upstream-key FILE)';
  if (code === undefined || !UNVERIFIED.has(code)) return undefined;
  return code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID'
    ? 'fix the upstream certificate, or relay without verification with --insecure-upstream'
    : "give the upstream's CA with --upstream-ca FILE (PEM), or relay without verification with --insecure-upstream";
}

/** What an exchange hears from the upstream connection it is using. */
export interface LinkUser {
  onUpstreamData(chunk: Buffer): void;
  /** The upstream connection ended or failed; `err` is set when it failed (ECONNRESET…). */
  onUpstreamGone(err: NodeJS.ErrnoException | null): void;
  onUpstreamTimeout(): void;
  onUpstreamDrain(): void;
  /** davtap's own handling of one of these events threw: the exchange ends, answered if it still can be. */
  onInternalFault(err: unknown): void;
}

/** Hands one upstream event to its exchange; a fault in the handling stays in that exchange. */
function dispatch(user: LinkUser | null, handle: (user: LinkUser) => void): void {
  if (!user) return;
  try {
    handle(user);
  } catch (err) {
    user.onInternalFault(err);
  }
}

export class UpstreamLink {
  readonly socket: net.Socket;
  /** Exchanges that have used this connection (a reused one may have been closed by the server meanwhile). */
  uses = 0;
  private user: LinkUser | null = null;
  private gone = false;
  private error: NodeJS.ErrnoException | null = null;
  /** The origin it connects to (scheme, host, port), as URL.origin spells it. */
  readonly origin: string;

  constructor(url: URL, trust: UpstreamTrust, onIdleGone: (link: UpstreamLink) => void) {
    this.origin = url.origin;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (url.protocol === 'https:') {
      const port = Number(url.port || 443);
      const secureContext = secureContextOf(trust);
      this.socket = tls.connect({
        host,
        port,
        ...(net.isIP(host) ? {} : { servername: host }),
        rejectUnauthorized: !trust.insecure,
        ...(secureContext ? { secureContext } : {}),
        ALPNProtocols: ['http/1.1'],
      });
      this.socket.setNoDelay(true);
    } else {
      this.socket = net.connect({ host, port: Number(url.port || 80), noDelay: true });
    }
    const s = this.socket;
    s.on('data', (chunk: Buffer) => {
      const user = this.user;
      // Bytes while no request is outstanding belong to no response: the connection is unusable.
      if (!user) {
        this.destroy();
        return;
      }
      // dispatch(), without a closure made for every read.
      try {
        user.onUpstreamData(chunk);
      } catch (err) {
        user.onInternalFault(err);
      }
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err;
    });
    const ended = () => {
      if (this.gone) return;
      this.gone = true;
      const user = this.user;
      this.user = null;
      if (user) dispatch(user, (u) => u.onUpstreamGone(this.error));
      else onIdleGone(this);
      if (!s.destroyed) s.destroy();
    };
    s.on('end', ended);
    s.on('close', ended);
    s.on('timeout', () => dispatch(this.user, (u) => u.onUpstreamTimeout()));
    s.on('drain', () => dispatch(this.user, (u) => u.onUpstreamDrain()));
  }

  /** False once the server closed it or it failed. */
  get usable(): boolean {
    return !this.gone && !this.socket.destroyed;
  }

  /** The idle timeout set on the socket (0: none). */
  private timeoutMs = 0;

  /**
   * Hands the connection to an exchange, with the idle timeout it allows the server. The timeout
   * stays set between exchanges (a 'timeout' with no exchange is ignored): setting and clearing it
   * for every exchange made a new timer each time. The request's write restarts it.
   */
  attach(user: LinkUser, timeoutMs: number): void {
    this.user = user;
    this.uses++;
    if (timeoutMs !== this.timeoutMs) {
      this.socket.setTimeout(timeoutMs);
      this.timeoutMs = timeoutMs;
    }
  }

  /** The exchange is done with it; it stays open for the next one. */
  detach(): void {
    this.user = null;
    if (this.socket.isPaused()) this.socket.resume();
  }

  write(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }

  destroy(): void {
    this.user = null;
    this.gone = true;
    this.socket.destroy();
  }
}

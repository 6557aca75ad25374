// A curl command line that sends a recorded request again: same method, same headers (minus
// hop-by-hop ones, which belong to the recorded connection), the body from the file saved beside
// it. Credentials stay redacted, but each redacted header reads an environment variable first,
// so a maintainer can replay against their own server with their own login.
import type { Flow } from '../types.js';
import { firstHeader } from '../http/headers.js';
import { REDACTED, type Redactor } from '../redact/index.js';

// RFC 9110 §7.6.1 hop-by-hop fields, plus what curl derives itself from the URL and the body.
const notReplayed = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding',
  'upgrade', 'host', 'content-length', 'expect',
]);

// Headers curl adds by itself: suppressed (`-H 'Name:'`) when the recorded request did not send them.
const curlDefaults = ['User-Agent', 'Accept'];

/** Single-quotes for POSIX sh. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `Authorization` → `DAVTAP_AUTHORIZATION`. */
export const envNameFor = (header: string): string => `DAVTAP_${header.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

export interface CurlOptions {
  /** Path (relative to where the command runs) of the saved request body, when it has one. */
  bodyFile?: string;
  /**
   * Shell expression for scheme://host:port, so a whole bundle can be pointed at another server
   * (`"${DAVTAP_BASE:-http://127.0.0.1:8080}"`). Default: the recorded origin, literally.
   */
  baseExpr?: string;
  /** Extra arguments placed before the URL (e.g. `"$@"` in a script). */
  extra?: string;
}

/** The command as one line of sh. */
export function curlCommand(flow: Flow, redactor: Redactor, options: CurlOptions = {}): string {
  const req = flow.request;
  const args: string[] = ['curl', '--silent', '--show-error', '--globoff', '--path-as-is'];
  if (req.httpVersion === '1.0') args.push('--http1.0');
  else args.push('--http1.1');
  const method = req.method;
  if (method === 'HEAD') args.push('--head');
  else if (!(method === 'GET' && req.body.bytes.length === 0)) args.push('-X', shellQuote(method));

  const raw = req.rawHeaders;
  // Headers named in Connection are hop-by-hop for this connection too.
  const connection = new Set((firstHeader(raw, 'connection') ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''));
  const sent = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (notReplayed.has(lower) || connection.has(lower)) continue;
    sent.add(lower);
    const value = raw[i + 1]!;
    if (redactor.redactsHeader(name)) {
      // Double quotes so the variable expands; the name is a token and REDACTED holds no specials.
      args.push('-H', `"${name}: \${${envNameFor(name)}:-${REDACTED}}"`);
    } else if (value === '') {
      args.push('-H', shellQuote(`${name};`)); // curl's syntax for a header with an empty value
    } else {
      args.push('-H', shellQuote(`${name}: ${redactor.headerValue(name, value)}`));
    }
  }
  for (const d of curlDefaults) if (!sent.has(d.toLowerCase())) args.push('-H', shellQuote(`${d}:`));
  if (options.bodyFile !== undefined) {
    args.push('--data-binary', shellQuote(`@${options.bodyFile}`));
    // With a body curl would add `Content-Type: application/x-www-form-urlencoded`.
    if (!sent.has('content-type')) args.push('-H', shellQuote('Content-Type:'));
  }
  if (options.extra !== undefined) args.push(options.extra);

  const url = redactor.url(req.url);
  let origin = '';
  try {
    const u = new URL(req.url);
    origin = `${u.protocol}//${u.host}`;
  } catch {
    /* not absolute: used as is */
  }
  if (origin !== '' && url.startsWith(origin)) {
    const rest = url.slice(origin.length);
    args.push(`${options.baseExpr ?? shellQuote(origin)}${shellQuote(rest === '' ? '/' : rest)}`);
  } else {
    args.push(shellQuote(url));
  }
  return args.join(' ');
}

// Which names carry a credential. One table serves header names and query or path parameter names
// alike, because the same secret travels either way (`X-Api-Key: k`, `?api_key=k`, `;jsessionid=k`).
//
// An entry is matched case-insensitively against the whole (percent-decoded) name:
//   `token`      the name itself, or a longer name ending in it after `-`, `_` or `.`
//                (`refresh_token`, `X-Amz-Signature`, `api_key`)
//   `*secret*`   any name matching the pattern, `*` standing for any run of characters
//   `!lock-token` never a secret, whatever else matches: negations win

/** The default table. The README's redaction section lists it and a test keeps the two equal. */
export const defaultSecretNames: readonly string[] = [
  // Credentials by definition.
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie',
  'x-api-key', 'x-auth-token',
  // Query parameters of pre-signed URLs, share links, OAuth and API keys.
  'token', 'access_token', 'auth', 'key', 'sig', 'signature',
  'password', 'passwd', 'pass', 'secret', 'client_secret', 'apikey',
  // Session ids, also as path parameters (`/dav/file;jsessionid=…`).
  'jsessionid', 'phpsessid', 'sid', 'session-id', 'session_id', '*sessionid*',
  // Families: whatever a server calls it, a name saying this is a secret.
  '*secret*', '*token*', '*password*', '*apikey*', '*api-key*',
  // WebDAV's own tokens name locks and collection versions, not people; a lock or sync bug
  // cannot be debugged without them.
  '!lock-token', '!sync-token',
];

/** True when a header or parameter of this name carries a secret. */
export type SecretNameTest = (name: string) => boolean;

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The regular-expression source of one entry (without its `!`). */
function entrySource(entry: string): string {
  if (entry.includes('*')) return entry.split('*').map(escapeRegExp).join('.*');
  return `(?:.*[-_.])?${escapeRegExp(entry)}`;
}

/** Lower-cased, without the separator a user may type in front (`;jsessionid`, `?token`). */
export function normalizeEntry(entry: string): string {
  const e = entry.trim().toLowerCase();
  const negated = e.startsWith('!');
  const name = (negated ? e.slice(1) : e).replace(/^[;?&#]/, '');
  return name === '' ? '' : `${negated ? '!' : ''}${name}`;
}

/** Compiles a table (the default one plus `--redact` entries) into one test. */
export function secretNameTest(entries: readonly string[]): SecretNameTest {
  const normalized = entries.map(normalizeEntry).filter((e) => e !== '' && e !== '!');
  const compile = (list: string[]): RegExp | null => (list.length === 0 ? null : new RegExp(`^(?:${list.map(entrySource).join('|')})$`, 's'));
  const secret = compile(normalized.filter((e) => !e.startsWith('!')));
  const kept = compile(normalized.filter((e) => e.startsWith('!')).map((e) => e.slice(1)));
  // Header and parameter names repeat from flow to flow: remember the answers (bounded).
  const known = new Map<string, boolean>();
  return (name: string): boolean => {
    let answer = known.get(name);
    if (answer !== undefined) return answer;
    const n = decodeName(name).toLowerCase();
    answer = secret !== null && secret.test(n) && !(kept !== null && kept.test(n));
    if (known.size >= 1024) known.clear();
    known.set(name, answer);
    return answer;
  };
}

/** `api%5Fkey` and `api+key` as the server reads them; a malformed escape is kept as written. */
function decodeName(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

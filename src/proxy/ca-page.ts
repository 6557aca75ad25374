// The CA page: in forward mode, `http://davtap.ca/` is answered by davtap itself (as mitmproxy
// answers mitm.it) with the CA's fingerprint, the certificate as PEM and DER, and short
// instructions per platform, so that a phone or a laptop set to use the proxy can fetch the CA
// without copying files. The name never leaves davtap: a request for it is answered here or refused,
// never relayed (davtap.ca is a real domain someone else may own).
//
// PURE: method, target and the CA's public parts in, an answer out (no I/O, no imports). The forward
// router calls it with each absolute-form target before choosing an origin; inside an intercepted
// CONNECT tunnel to davtap.ca the caller may pass `https://davtap.ca` + the origin-form path.

export interface CaPageCa {
  /** The CA certificate as PEM, exactly as in the CA file (never the key). */
  certPem: string;
  /** `AB:CD:…`, as node:crypto's X509Certificate.fingerprint256 gives it. */
  fingerprint256: string;
}

export interface CaPageAnswer {
  status: number;
  reason: string;
  /** Name, value, name, value… as on the wire (Content-Length included, no Connection). */
  rawHeaders: string[];
  /** Empty for HEAD, whose Content-Length is still that of the GET answer. */
  body: Buffer;
}

/** The host name the page lives at. */
export const caPageHost = 'davtap.ca';

/** Paths of the page and of the certificate files, for links and for the caller's logs. */
export const caPagePaths = { page: '/', pem: '/davtap-ca.pem', der: '/davtap-ca.der' } as const;

/** Where the full instructions are, as a pointer from the page. */
const fullInstructions = 'certs/README.md';

/**
 * The path of an absolute-form target for davtap.ca (any port, any user info, host case-insensitive,
 * a trailing dot allowed), without its query; null for any other target (origin-form, authority-form
 * as in CONNECT, asterisk-form, other hosts, `davtap.ca.example.org`).
 */
export function caPagePath(target: string): string | null {
  const m = /^https?:\/\/([^/?#]*)([^?#]*)/i.exec(target);
  if (!m) return null;
  const authority = m[1]!;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const hp = /^([^:[\]]+)(?::(\d*))?$/.exec(hostPort);
  if (!hp) return null;
  const host = hp[1]!.toLowerCase().replace(/\.$/, '');
  if (host !== caPageHost) return null;
  return m[2] || '/';
}

/** The certificate's DER bytes, decoded from the first PEM block (RFC 7468). */
export function pemToDer(certPem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(certPem);
  if (!m) throw new Error('no PEM certificate block');
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page. Short on purpose: certs/README.md has the exact commands and how to remove the trust. */
export function caPageHtml(ca: CaPageCa): string {
  const fp = escapeHtml(ca.fingerprint256);
  const item = (platform: string, how: string) => `<li><b>${platform}</b>: ${how}</li>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>davtap CA</title>
<style>body{font-family:system-ui,sans-serif;max-width:46em;margin:1em auto;padding:0 1em;line-height:1.45}code{font-size:.95em;word-break:break-all}li{margin:.3em 0}.fp{font-family:monospace;word-break:break-all;background:#f3f3f3;padding:.4em}</style>
</head>
<body>
<h1>davtap CA</h1>
<p>This page is served by the davtap proxy you are using; <code>${caPageHost}</code> never leaves it.
davtap intercepts HTTPS with its own certificate authority: trust it only on devices you test with,
and remove the trust when you are done.</p>
<p>SHA-256 fingerprint (compare it with what <code>davtap ca</code> prints on the proxy's machine before trusting it):</p>
<p class="fp">${fp}</p>
<p>Download: <a href="${caPagePaths.pem}">davtap-ca.pem</a> (PEM: Linux, macOS, Firefox, Java, Python, Node, curl)
&middot; <a href="${caPagePaths.der}">davtap-ca.der</a> (DER: Windows, Android, iOS)</p>
<h2>Trust it</h2>
<ul>
${item('Debian/Ubuntu', '<code>sudo cp davtap-ca.pem /usr/local/share/ca-certificates/davtap.crt &amp;&amp; sudo update-ca-certificates</code>')}
${item('Fedora/RHEL', '<code>sudo cp davtap-ca.pem /etc/pki/ca-trust/source/anchors/davtap.pem &amp;&amp; sudo update-ca-trust</code>')}
${item('Firefox, Thunderbird, Chromium (NSS)', '<code>certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n "davtap CA" -i davtap-ca.pem</code> (and each Firefox profile), or Firefox Settings &rarr; Certificates &rarr; Import')}
${item('macOS', '<code>sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain davtap-ca.pem</code>')}
${item('Windows', '<code>certutil -addstore Root davtap-ca.der</code> in an administrator prompt: the machine store, which the WebDAV redirector (WebClient, mapped drives) needs; restart WebClient (<code>net stop webclient &amp;&amp; net start webclient</code>) if a drive was already mapped')}
${item('Android', 'download davtap-ca.der, then Settings &rarr; Security &rarr; Encryption &amp; credentials &rarr; Install a certificate &rarr; CA certificate. DAVx5 trusts user CAs; most other apps do not')}
${item('iOS/iPadOS', 'open this page in Safari, download davtap-ca.der, Settings &rarr; Profile Downloaded &rarr; Install, then Settings &rarr; General &rarr; About &rarr; Certificate Trust Settings &rarr; enable full trust for the davtap CA')}
${item('Java', '<code>keytool -importcert -cacerts -alias davtap -file davtap-ca.pem</code>')}
${item('Node.js', '<code>NODE_EXTRA_CA_CERTS=davtap-ca.pem</code>')}
${item('Python (caldav, vdirsyncer, requests)', '<code>REQUESTS_CA_BUNDLE=davtap-ca.pem</code>, <code>SSL_CERT_FILE=davtap-ca.pem</code>')}
${item('curl, rclone', '<code>curl --cacert davtap-ca.pem</code>, <code>rclone --ca-cert davtap-ca.pem</code>')}
</ul>
<p>Exact commands for every platform, for cadaver, litmus and others, and how to remove the trust
again: <code>${fullInstructions}</code> in davtap's install and repository.</p>
</body>
</html>
`;
}

function answer(status: number, reason: string, contentType: string, body: Buffer, extra: string[] = []): CaPageAnswer {
  return {
    status,
    reason,
    rawHeaders: ['Content-Type', contentType, 'Content-Length', String(body.length), 'Cache-Control', 'no-store', 'X-Content-Type-Options', 'nosniff', ...extra],
    body,
  };
}

const download = (name: string) => ['Content-Disposition', `attachment; filename="${name}"`];

/**
 * davtap's answer to a request for davtap.ca, or null when `target` is not for davtap.ca (the caller
 * relays it as usual). GET and HEAD only (405 otherwise, with Allow); 404 for any other path.
 */
export function caPageAnswer(method: string, target: string, ca: CaPageCa): CaPageAnswer | null {
  const path = caPagePath(target);
  if (path === null) return null;
  let full: CaPageAnswer;
  if (method !== 'GET' && method !== 'HEAD') {
    full = answer(405, 'Method Not Allowed', 'text/plain; charset=utf-8', Buffer.from(`davtap.ca answers GET and HEAD only, not ${method}\n`), ['Allow', 'GET, HEAD']);
    return full;
  }
  if (path === caPagePaths.page || path === '/index.html') {
    full = answer(200, 'OK', 'text/html; charset=utf-8', Buffer.from(caPageHtml(ca)));
  } else if (path === caPagePaths.pem) {
    full = answer(200, 'OK', 'application/x-pem-file', Buffer.from(ca.certPem), download('davtap-ca.pem'));
  } else if (path === caPagePaths.der) {
    full = answer(200, 'OK', 'application/x-x509-ca-cert', pemToDer(ca.certPem), download('davtap-ca.der'));
  } else {
    full = answer(404, 'Not Found', 'text/plain; charset=utf-8', Buffer.from(`davtap.ca has ${caPagePaths.page}, ${caPagePaths.pem} and ${caPagePaths.der}, nothing else\n`));
  }
  return method === 'HEAD' ? { ...full, body: Buffer.alloc(0) } : full;
}

// --upstream-ca, --upstream-cert, --upstream-key and --cert: PEM files read and checked once, before
// anything listens, so that a wrong path or a file of the wrong kind is a one-line error (exit 2)
// rather than a 502 on every flow.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { DavtapError, UsageError } from '../errors.js';

export interface UpstreamTlsArgs {
  ca?: string;
  cert?: string;
  key?: string;
  insecure: boolean;
}

/** What the relay is given (ProxyOptions.upstreamTls), PEM text. */
export interface UpstreamTlsFiles {
  /** Node's public root CAs followed by the --upstream-ca bundle: the bundle adds to them. */
  ca?: string;
  cert?: string;
  key?: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----/g;

function readPem(flag: string, file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
      : code === 'EISDIR' ? 'it is a directory'
      : (err as Error).message;
    throw new DavtapError('IO', `${flag}: cannot read ${file}: ${why}${code ? ` (${code})` : ''}`, { cause: err });
  }
  return text;
}

function blocks(text: string): { type: string; pem: string }[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ type: m[1]!, pem: m[0] + '\n' }));
}

/** The certificates of a PEM file, each parsed; an error naming the flag when there is none or one is broken. */
function certificates(flag: string, file: string, text: string): { pem: string; x509: crypto.X509Certificate }[] {
  const certs = blocks(text).filter((b) => b.type === 'CERTIFICATE' || b.type === 'TRUSTED CERTIFICATE');
  if (certs.length === 0) {
    const der = text.length > 0 && text.charCodeAt(0) === 0x30;
    throw new DavtapError('CONFIG', `${flag}: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)${der ? '; for a DER file: openssl x509 -inform der -in FILE -out FILE.pem' : ''}`);
  }
  return certs.map((b, i) => {
    try {
      return { pem: b.pem.replace(/TRUSTED CERTIFICATE/g, 'CERTIFICATE'), x509: new crypto.X509Certificate(b.pem) };
    } catch (err) {
      throw new DavtapError('CONFIG', `${flag}: certificate ${i + 1} in ${file} is not valid: ${(err as Error).message}`);
    }
  });
}

function privateKey(flag: string, file: string, text: string): { pem: string; key: crypto.KeyObject } | undefined {
  const found = blocks(text).find((b) => /PRIVATE KEY$/.test(b.type));
  if (!found) return undefined;
  if (found.type === 'ENCRYPTED PRIVATE KEY' || /Proc-Type: 4,ENCRYPTED/.test(found.pem)) {
    throw new DavtapError('CONFIG', `${flag}: the key in ${file} is encrypted; davtap needs it unencrypted (openssl pkey -in FILE -out KEY.pem)`);
  }
  try {
    return { pem: found.pem, key: crypto.createPrivateKey(found.pem) };
  } catch (err) {
    throw new DavtapError('CONFIG', `${flag}: the private key in ${file} is not valid: ${(err as Error).message}`);
  }
}

/**
 * Reads the upstream trust options. `--upstream-ca` adds to the public CAs Node verifies against
 * by default (tls.rootCertificates): the upstream may be signed by the private CA, and in forward
 * mode other servers keep verifying as before. Node's `ca` option replaces that list, so it is
 * given both. Returns undefined when none of the three options is given.
 */
export function loadUpstreamTls(args: UpstreamTlsArgs, cwd: string): UpstreamTlsFiles | undefined {
  if (args.ca !== undefined && args.insecure) {
    throw new UsageError('--upstream-ca and --insecure-upstream contradict each other: verify against the CA, or do not verify');
  }
  if (args.key !== undefined && args.cert === undefined) throw new UsageError('--upstream-key needs --upstream-cert (the client certificate it belongs to)');
  const out: UpstreamTlsFiles = {};
  if (args.ca !== undefined) {
    const file = path.resolve(cwd, args.ca);
    const certs = certificates('--upstream-ca', file, readPem('--upstream-ca', file));
    out.ca = [...tls.rootCertificates, ...certs.map((c) => c.pem)].join('\n');
  }
  if (args.cert !== undefined) {
    const certFile = path.resolve(cwd, args.cert);
    const certText = readPem('--upstream-cert', certFile);
    const chain = certificates('--upstream-cert', certFile, certText);
    const keyFile = args.key !== undefined ? path.resolve(cwd, args.key) : certFile;
    const key = args.key !== undefined ? privateKey('--upstream-key', keyFile, readPem('--upstream-key', keyFile)) : privateKey('--upstream-cert', certFile, certText);
    if (!key) {
      throw args.key !== undefined
        ? new DavtapError('CONFIG', `--upstream-key: ${keyFile} holds no PEM private key (-----BEGIN PRIVATE KEY-----)`)
        : new UsageError(`--upstream-cert: ${certFile} holds no private key: give it with --upstream-key FILE`);
    }
    if (!chain[0]!.x509.checkPrivateKey(key.key)) {
      throw new DavtapError('CONFIG', `--upstream-key: the key in ${keyFile} does not belong to the certificate in ${certFile}`);
    }
    out.cert = chain.map((c) => c.pem).join('');
    out.key = key.pem;
  }
  return out.ca !== undefined || out.cert !== undefined ? out : undefined;
}

/**
 * Reads --cert [HOST=]FILE (repeatable): each file a PEM certificate chain with its unencrypted
 * private key, served by the reverse listener to https clients asking for HOST (SNI), or for any
 * name when HOST is left out. A file without a key, or a key of another certificate, is an error.
 */
export function loadServedCerts(values: string[], cwd: string): { host?: string; pem: string }[] {
  return values.map((value) => {
    const eq = value.indexOf('=');
    const host = eq > 0 && !value.slice(0, eq).includes('/') ? value.slice(0, eq) : undefined;
    const file = path.resolve(cwd, host !== undefined ? value.slice(eq + 1) : value);
    const text = readPem('--cert', file);
    const chain = certificates('--cert', file, text);
    const key = privateKey('--cert', file, text);
    if (!key) throw new DavtapError('CONFIG', `--cert: ${file} holds no private key: put the certificate and its key in one PEM file`);
    if (!chain[0]!.x509.checkPrivateKey(key.key)) throw new DavtapError('CONFIG', `--cert: the key in ${file} does not belong to its first certificate`);
    return { ...(host !== undefined ? { host } : {}), pem: chain.map((c) => c.pem).join('') + key.pem };
  });
}

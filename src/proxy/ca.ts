// davtap's interception CA: created once per user, loaded on start, regenerated when expired.
//
// node-forge builds the X.509 structures; keys are generated and signatures computed with native
// node:crypto, because forge's pure-JS RSA would block the event loop for hundreds of
// milliseconds per new host and stall every other flow. All leaf certificates share one key pair
// (as mitmproxy's do): a new host costs one native signature, not a key generation.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import forge from 'node-forge';
import { DavtapError } from '../errors.js';

export const caFileName = 'davtap-ca.pem';
export const caKeyFileName = 'davtap-ca-key.pem';

const dayMs = 24 * 60 * 60 * 1000;
/** A CA or leaf closer than this to expiry is treated as expired, so it never lapses mid-session. */
const renewMarginMs = dayMs;

export function defaultCaDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(base, 'davtap', 'ca');
}

export interface CaInfo {
  dir: string;
  certPath: string;
  keyPath: string;
  subject: string;
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
  /** True when this call created or replaced the CA. */
  created: boolean;
  /** Why an existing CA was replaced, when it was. */
  replacedBecause?: string;
}

export interface CaOptions {
  /** CA lifetime in days (default 3650). */
  validityDays?: number;
  /** Leaf lifetime in days (default 397, the longest that browsers and Apple clients accept). */
  leafValidityDays?: number;
  /** Replace the CA even if it is valid. */
  regenerate?: boolean;
  /** Clock, for tests of expiry. */
  now?: () => number;
  /**
   * Names every leaf also carries (subjectAltName): davtap's TLS listener in reverse mode adds its
   * listen host, localhost, 127.0.0.1 and ::1, so that one leaf serves however a local client
   * spells davtap's address.
   */
  alsoNames?: string[];
}

function randomSerial(): string {
  const bytes = crypto.randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // positive INTEGER
  return bytes.toString('hex');
}

/** DER of the DigestInfo prefix for SHA-256 (RFC 8017 §9.2, note 1): what PKCS#1 v1.5 signs before the digest. */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/**
 * Signs a forge certificate (SHA-256 with RSA) with a native private key, through forge's public
 * cert.sign(): it computes the digest of the to-be-signed part and asks the key to sign it; the
 * key here is native (OpenSSL), which is what makes a leaf certificate cost under a millisecond
 * instead of forge's own RSA in JavaScript. RSASSA-PKCS1-v1_5 is the RSA private operation on
 * DigestInfo || digest with type-1 padding, which privateEncrypt does.
 */
function signNative(cert: forge.pki.Certificate, signer: crypto.KeyObject): void {
  const key = {
    sign: (md: forge.md.MessageDigest): string =>
      crypto
        .privateEncrypt({ key: signer, padding: crypto.constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA256_DIGEST_INFO, Buffer.from(md.digest().getBytes(), 'binary')]))
        .toString('binary'),
  };
  cert.sign(key as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
}

function writeSecret(file: string, data: string): void {
  // Write to a fresh 0600 file and rename, so the key is never readable by others, even briefly.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o600, flag: 'w' });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

function describe(dir: string, certPem: string, created: boolean, replacedBecause?: string): CaInfo {
  const x = new crypto.X509Certificate(certPem);
  return {
    dir,
    certPath: path.join(dir, caFileName),
    keyPath: path.join(dir, caKeyFileName),
    subject: x.subject.replace(/\n/g, ', '),
    fingerprint256: x.fingerprint256,
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    created,
    ...(replacedBecause ? { replacedBecause } : {}),
  };
}

function createCaFiles(dir: string, validityDays: number, now: number): { certPem: string; keyPem: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now - dayMs);
  cert.validity.notAfter = new Date(now + validityDays * dayMs);
  const attrs = [
    { name: 'commonName', value: `davtap CA (${os.hostname()})` },
    { name: 'organizationName', value: 'davtap' },
  ];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  signNative(cert, privateKey);
  const certPem = forge.pki.certificateToPem(cert);
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeSecret(path.join(dir, caKeyFileName), keyPem);
  fs.writeFileSync(path.join(dir, caFileName), certPem, { mode: 0o644 });
  return { certPem, keyPem };
}

function readCa(dir: string): { certPem: string; keyPem: string } | null {
  const certPath = path.join(dir, caFileName);
  const keyPath = path.join(dir, caKeyFileName);
  if (!fs.existsSync(certPath) && !fs.existsSync(keyPath)) return null;
  try {
    return { certPem: fs.readFileSync(certPath, 'utf8'), keyPem: fs.readFileSync(keyPath, 'utf8') };
  } catch (err) {
    throw new DavtapError('CA', `cannot read the CA in ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

/** Why an existing CA cannot be used, or null when it can. */
function unusable(certPem: string, keyPem: string, now: number): string | null {
  let x: crypto.X509Certificate;
  try {
    x = new crypto.X509Certificate(certPem);
  } catch {
    return 'the certificate file is not a valid PEM certificate';
  }
  try {
    if (!x.checkPrivateKey(crypto.createPrivateKey(keyPem))) return 'the key does not match the certificate';
  } catch {
    return 'the key file is not a valid PEM private key';
  }
  if (Date.parse(x.validTo) - renewMarginMs <= now) return `it expired (${x.validTo})`;
  return null;
}

/** Loads the CA from `dir`, creating or replacing it when needed. */
export function ensureCa(dir: string, options: CaOptions = {}): { info: CaInfo; certPem: string; keyPem: string } {
  const now = (options.now ?? Date.now)();
  const existing = readCa(dir);
  let replacedBecause: string | undefined;
  if (existing && !options.regenerate) {
    const problem = unusable(existing.certPem, existing.keyPem, now);
    if (!problem) {
      // Tighten a key that someone loosened: the key must stay private.
      const keyPath = path.join(dir, caKeyFileName);
      if ((fs.statSync(keyPath).mode & 0o077) !== 0) fs.chmodSync(keyPath, 0o600);
      return { info: describe(dir, existing.certPem, false), ...existing };
    }
    replacedBecause = problem;
  } else if (existing) {
    replacedBecause = 'regeneration was asked for';
  }
  let created;
  try {
    created = createCaFiles(dir, options.validityDays ?? 3650, now);
  } catch (err) {
    if (err instanceof DavtapError) throw err;
    throw new DavtapError('CA', `cannot create the CA in ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return { info: describe(dir, created.certPem, true, replacedBecause), ...created };
}

/** Reads the CA's description without creating anything; null when there is none. */
export function inspectCa(dir: string): CaInfo | null {
  const existing = readCa(dir);
  return existing ? describe(dir, existing.certPem, false) : null;
}

interface Leaf {
  context: tls.SecureContext;
  notAfter: number;
}

/** Issues (and caches) a TLS context per host name, signed by the CA. */
export class LeafIssuer {
  private readonly leaves = new Map<string, Leaf>();
  private readonly caCert: forge.pki.Certificate;
  private readonly caKey: crypto.KeyObject;
  private readonly leafKeyPem: string;
  private readonly leafPublicKey: forge.pki.PublicKey;
  private readonly now: () => number;
  /** Time spent issuing leaves on the event loop (ms), for the stall figure. */
  issueMs: number[] = [];

  constructor(
    private readonly ca: { certPem: string; keyPem: string },
    private readonly options: CaOptions = {},
  ) {
    this.caCert = forge.pki.certificateFromPem(ca.certPem);
    this.caKey = crypto.createPrivateKey(ca.keyPem);
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.leafKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    this.leafPublicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    this.now = options.now ?? Date.now;
  }

  contextFor(hostname: string): tls.SecureContext {
    const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
    const now = this.now();
    const cached = this.leaves.get(host);
    if (cached && cached.notAfter - renewMarginMs > now) return cached.context;
    const t0 = performance.now();
    const pem = this.issue(host, now);
    const leaf: Leaf = {
      context: tls.createSecureContext({ key: this.leafKeyPem, cert: pem.cert + this.ca.certPem }),
      notAfter: pem.notAfter,
    };
    this.issueMs.push(performance.now() - t0);
    this.leaves.set(host, leaf);
    return leaf.context;
  }

  /** The PEM of a leaf for `host` (exposed for inspection in tests). */
  issue(host: string, now = this.now()): { cert: string; notAfter: number } {
    const cert = forge.pki.createCertificate();
    cert.publicKey = this.leafPublicKey;
    cert.serialNumber = randomSerial();
    cert.validity.notBefore = new Date(now - dayMs);
    const caEnd = this.caCert.validity.notAfter.getTime();
    const notAfter = Math.min(now + (this.options.leafValidityDays ?? 397) * dayMs, caEnd);
    cert.validity.notAfter = new Date(notAfter);
    cert.setSubject([{ name: 'commonName', value: host.slice(0, 64) }]);
    cert.setIssuer(this.caCert.subject.attributes);
    const names = [host, ...(this.options.alsoNames ?? []).map((n) => n.toLowerCase().replace(/^\[|\]$/g, ''))].filter((n, i, all) => n !== '' && all.indexOf(n) === i);
    const altNames = names.map((n) => (net.isIP(n) ? { type: 7, ip: n } : { type: 2, value: n }));
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.caCert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    signNative(cert, this.caKey);
    return { cert: forge.pki.certificateToPem(cert), notAfter };
  }
}

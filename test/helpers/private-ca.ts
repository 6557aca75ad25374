// A private CA minted for a test, with a server certificate for 127.0.0.1/localhost and a client
// certificate (mTLS), written as PEM files the way a user would have them. node-forge builds the
// X.509 structures; keys come from node:crypto (forge's own RSA key generation is slow).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';

export interface PrivatePki {
  dir: string;
  /** The CA certificate (PEM), and its file. */
  caPem: string;
  caFile: string;
  serverCertPem: string;
  serverKeyPem: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertPem: string;
  clientKeyPem: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** Client certificate and key in one file. */
  clientBothFile: string;
  /** A second CA, unrelated, with a client certificate it signed (one the server does not accept). */
  otherClientCertFile: string;
  otherClientKeyFile: string;
}

const dayMs = 24 * 60 * 60 * 1000;

function keyPair(): { privatePem: string; forgePublic: forge.pki.PublicKey; forgePrivate: forge.pki.rsa.PrivateKey } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    privatePem,
    forgePublic: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    forgePrivate: forge.pki.privateKeyFromPem(privatePem) as forge.pki.rsa.PrivateKey,
  };
}

function serial(): string {
  const b = crypto.randomBytes(12);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

function mintCa(name: string) {
  const keys = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.forgePublic;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - dayMs);
  cert.validity.notAfter = new Date(Date.now() + 30 * dayMs);
  const attrs = [{ name: 'commonName', value: name }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.forgePrivate, forge.md.sha256.create());
  return { cert, keys, pem: forge.pki.certificateToPem(cert) };
}

function mintLeaf(ca: ReturnType<typeof mintCa>, cn: string, usage: 'server' | 'client') {
  const keys = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.forgePublic;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - dayMs);
  cert.validity.notAfter = new Date(Date.now() + 30 * dayMs);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    usage === 'server' ? { name: 'extKeyUsage', serverAuth: true } : { name: 'extKeyUsage', clientAuth: true },
    ...(usage === 'server' ? [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }] : []),
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.keys.forgePrivate, forge.md.sha256.create());
  return { pem: forge.pki.certificateToPem(cert), keyPem: keys.privatePem };
}

/** Mints the CA and its certificates into `dir` (which must exist). */
export function mintPrivatePki(dir: string): PrivatePki {
  const ca = mintCa('davtap test private CA');
  const server = mintLeaf(ca, '127.0.0.1', 'server');
  const client = mintLeaf(ca, 'davtap test client', 'client');
  const other = mintLeaf(mintCa('some other CA'), 'stranger', 'client');
  const write = (name: string, text: string, mode = 0o644) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text, { mode });
    return file;
  };
  return {
    dir,
    caPem: ca.pem,
    caFile: write('ca.pem', ca.pem),
    serverCertPem: server.pem,
    serverKeyPem: server.keyPem,
    serverCertFile: write('server.pem', server.pem),
    serverKeyFile: write('server-key.pem', server.keyPem, 0o600),
    clientCertPem: client.pem,
    clientKeyPem: client.keyPem,
    clientCertFile: write('client.pem', client.pem),
    clientKeyFile: write('client-key.pem', client.keyPem, 0o600),
    clientBothFile: write('client-both.pem', client.pem + client.keyPem, 0o600),
    otherClientCertFile: write('other-client.pem', other.pem),
    otherClientKeyFile: write('other-client-key.pem', other.keyPem, 0o600),
  };
}

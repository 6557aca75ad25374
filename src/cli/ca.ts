// `davtap ca`: where the interception CA is, its fingerprint and expiry, and how to trust it.
import fs from 'node:fs';
import path from 'node:path';
import { ensureCa, defaultCaDir, type CaInfo } from '../proxy/ca.js';
import { DavtapError } from '../errors.js';
import { parseCommandArgs } from './args.js';
import type { CliIO, Command } from './io.js';

const help = `Usage: davtap ca [--ca-dir DIR] [--show | --path | --export FILE | --regenerate]

Shows davtap's interception CA (created on first use): the certificate's path, its SHA-256
fingerprint, its expiry, and how to make clients trust it.

Options:
  --ca-dir DIR      the CA's directory (default ${defaultCaDir()})
  --show            describe the CA (the default)
  --path            print only the certificate's path (for curl --cacert "$(davtap ca --path)")
  --export FILE     copy the certificate (never the key) to FILE
  --regenerate      replace the CA with a new one (clients must trust the new one)
  -h, --help        show this help
`;

function describe(info: CaInfo): string {
  const days = Math.floor((info.notAfter.getTime() - Date.now()) / 86_400_000);
  return [
    `certificate  ${info.certPath}`,
    `private key  ${info.keyPath} (mode 0600)`,
    `subject      ${info.subject}`,
    `SHA-256      ${info.fingerprint256}`,
    `valid until  ${info.notAfter.toISOString()} (${days} days)`,
    ...(info.created ? [`status       ${info.replacedBecause ? `replaced: ${info.replacedBecause}` : 'created now'}`] : []),
    '',
    'Trust it:',
    `  curl                  curl --cacert ${info.certPath} -x http://127.0.0.1:8080 https://…`,
    `  Node.js clients       NODE_EXTRA_CA_CERTS=${info.certPath}`,
    `  Debian/Ubuntu system  sudo cp ${info.certPath} /usr/local/share/ca-certificates/davtap.crt && sudo update-ca-certificates`,
    `  Fedora/RHEL system    sudo cp ${info.certPath} /etc/pki/ca-trust/source/anchors/davtap.pem && sudo update-ca-trust`,
    `  macOS keychain        sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${info.certPath}`,
    '',
  ].join('\n');
}

export const command: Command = {
  summary: 'show or regenerate the CA used to intercept HTTPS',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, help: wantsHelp } = parseCommandArgs<{
      'ca-dir'?: string;
      show?: boolean;
      path?: boolean;
      export?: string;
      regenerate?: boolean;
    }>('ca', args, {
      'ca-dir': { type: 'string' },
      show: { type: 'boolean' },
      path: { type: 'boolean' },
      export: { type: 'string' },
      regenerate: { type: 'boolean' },
    });
    if (wantsHelp) {
      io.stdout.write(help);
      return 0;
    }
    const dir = path.resolve(io.cwd, values['ca-dir'] ?? defaultCaDir(io.env));
    const { info, certPem } = ensureCa(dir, { regenerate: values.regenerate ?? false });
    if (values.path) {
      io.stdout.write(info.certPath + '\n');
      return 0;
    }
    if (values.export !== undefined) {
      const target = path.resolve(io.cwd, values.export);
      try {
        fs.writeFileSync(target, certPem, { mode: 0o644 });
      } catch (err) {
        throw new DavtapError('IO', `ca: cannot write ${target}: ${(err as Error).message}`);
      }
      io.stdout.write(`wrote the CA certificate to ${target} (SHA-256 ${info.fingerprint256})\n`);
      return 0;
    }
    io.stdout.write(describe(info));
    return 0;
  },
};

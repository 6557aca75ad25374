// `davtap ca`: where the interception CA is, its fingerprint and expiry, how to trust it, and the
// certificate exported as PEM or DER. The options live in one table (caOptions): --help is generated
// from it, and the README's table is tested against it (test/cli/ca-options.test.ts).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCa, defaultCaDir, type CaInfo } from '../proxy/ca.js';
import { DavtapError, UsageError } from '../errors.js';
import { parseCommandArgs, type OptionSpec } from './args.js';
import type { CliIO, Command } from './io.js';

export interface CaOption {
  name: string;
  type: 'string' | 'boolean';
  /** The argument's name in --help and the README, for a 'string' option. */
  arg?: string;
  /** One line (or more, separated by \n) for --help. */
  help: string;
}

export const exportFormats = ['pem', 'der'] as const;
export type ExportFormat = (typeof exportFormats)[number];

export const caOptions: readonly CaOption[] = [
  { name: 'ca-dir', type: 'string', arg: 'DIR', help: `the CA's directory (default ${defaultCaDir()})` },
  { name: 'show', type: 'boolean', help: 'describe the CA (the default)' },
  { name: 'path', type: 'boolean', help: 'print only the certificate\'s path (for curl --cacert "$(davtap ca --path)")' },
  { name: 'export', type: 'string', arg: 'FILE', help: 'write the certificate (never the key) to FILE; - for standard output' },
  { name: 'format', type: 'string', arg: 'pem|der', help: 'the format --export writes (default pem; der for Windows, Android, iOS)' },
  { name: 'regenerate', type: 'boolean', help: 'replace the CA with a new one (clients must trust the new one)' },
];

/** What parseArgs reads: derived from caOptions, so nothing is parsed that --help does not show. */
export const caOptionSpec: OptionSpec = Object.fromEntries(caOptions.map((o) => [o.name, { type: o.type }]));

function optionHelp(): string {
  const width = 20;
  const lines: string[] = [];
  for (const o of [...caOptions, { name: 'help', type: 'boolean', help: 'show this help' } as CaOption]) {
    const flag = `  ${o.name === 'help' ? '-h, ' : ''}--${o.name}${o.arg ? ` ${o.arg}` : ''}`;
    const [first, ...rest] = o.help.split('\n');
    lines.push(flag.length < width ? `${flag.padEnd(width)}${first}` : `${flag}\n${' '.repeat(width)}${first}`);
    for (const more of rest) lines.push(' '.repeat(width) + more);
  }
  return lines.join('\n');
}

const help = () => `Usage: davtap ca [--ca-dir DIR] [--show | --path | --export FILE [--format pem|der]] [--regenerate]

Shows davtap's interception CA (created on first use): the certificate's path, its SHA-256
fingerprint, its expiry, and how to make clients trust it.

Options:
${optionHelp()}

Every platform (Debian/Ubuntu, Fedora, Firefox/NSS, macOS, Windows, Android, iOS, Java, Python,
Node, curl, rclone, cadaver, litmus), and how to remove the trust again:
  ${certsReadmeHint()}.
In forward mode, http://davtap.ca/ through the proxy serves the certificate and short instructions.
`;

/**
 * certs/README.md of this install: the directory holding davtap's package.json, above this module
 * (src/cli/ when run from source, dist/src/cli/ when built). Null when the install has no copy.
 */
export function certsReadmePath(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name !== 'davtap') return null;
      } catch {
        return null;
      }
      const readme = path.join(dir, 'certs', 'README.md');
      return fs.existsSync(readme) ? readme : null;
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

function certsReadmeHint(): string {
  const found = certsReadmePath();
  return found ? `certs/README.md in davtap's install (${found}) and repository` : "certs/README.md in davtap's repository";
}

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
    `  Windows (WebClient)   davtap ca --export davtap-ca.der --format der; as administrator: certutil -addstore Root davtap-ca.der`,
    `  phones, tablets       set the device's proxy to davtap (forward mode) and open http://davtap.ca/`,
    '',
    'Every other platform, and how to remove the trust again:',
    `  ${certsReadmeHint()}.`,
    '',
  ].join('\n');
}

function parseFormat(text: string | undefined): ExportFormat {
  if (text === undefined) return 'pem';
  const format = text.toLowerCase();
  if (!(exportFormats as readonly string[]).includes(format)) throw new UsageError(`ca: --format: '${text}' is not pem or der`);
  return format as ExportFormat;
}

interface CaArgs {
  'ca-dir'?: string;
  show?: boolean;
  path?: boolean;
  export?: string;
  format?: string;
  regenerate?: boolean;
}

export const command: Command = {
  summary: 'show, export or regenerate the CA used to intercept HTTPS',
  async run(args: string[], io: CliIO): Promise<number> {
    const { values, help: wantsHelp } = parseCommandArgs<CaArgs>('ca', args, caOptionSpec);
    if (wantsHelp) {
      io.stdout.write(help());
      return 0;
    }
    // Check the whole command line before creating anything.
    const actions = (['show', 'path', 'export'] as const).filter((a) => values[a] !== undefined);
    if (actions.length > 1) throw new UsageError(`ca: ${actions.map((a) => `--${a}`).join(' and ')} cannot be combined`);
    if (values.format !== undefined && values.export === undefined) throw new UsageError('ca: --format is for --export FILE');
    const format = parseFormat(values.format);
    if (values.export === '') throw new UsageError('ca: --export needs a FILE (- for standard output)');
    if (values.export === '-' && format === 'der' && io.stdout.isTTY === true) {
      throw new UsageError('ca: DER is binary: redirect standard output, or give --export a FILE');
    }

    const dir = path.resolve(io.cwd, values['ca-dir'] ?? defaultCaDir(io.env));
    const { info, certPem } = ensureCa(dir, { regenerate: values.regenerate ?? false });
    if (values.path) {
      io.stdout.write(info.certPath + '\n');
      return 0;
    }
    if (values.export !== undefined) {
      // Only the certificate: the key never leaves the CA directory.
      const data = format === 'pem' ? Buffer.from(certPem) : new crypto.X509Certificate(certPem).raw;
      if (values.export === '-') {
        io.stdout.write(data);
        return 0;
      }
      const target = path.resolve(io.cwd, values.export);
      try {
        fs.writeFileSync(target, data, { mode: 0o644 });
      } catch (err) {
        throw new DavtapError('IO', `ca: cannot write ${target}: ${(err as Error).message.split('\n')[0]}`);
      }
      io.stdout.write(`wrote the CA certificate (${format.toUpperCase()}) to ${target} (SHA-256 ${info.fingerprint256})\n`);
      return 0;
    }
    io.stdout.write(describe(info));
    return 0;
  },
};

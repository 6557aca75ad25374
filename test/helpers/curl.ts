// Runs the real curl, with proxy variables removed (curl silently skips -x for NO_PROXY hosts).
import { execFile } from 'node:child_process';

export interface CurlResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export function curl(args: string[], timeoutMs = 20_000): Promise<CurlResult> {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(https?|all|no)_proxy$/i.test(k)) delete env[k];
  return new Promise((resolve) => {
    execFile('curl', ['-sS', ...args], { env, encoding: 'buffer', timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr: stderr.toString() });
    });
  });
}

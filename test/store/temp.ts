// A private temporary directory per test, removed when the test ends.
import type { ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-store-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function tempDb(t: ExecutionContext, name = 'flows.db'): string {
  return path.join(tempDir(t), name);
}

// An injecting davtap in-process: the real proxy with the live analysis pipeline and the injector
// wired as `davtap --upstream … --inject …` wires them, collecting each finished (analyzed) flow.
import type { ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startProxy, type RunningProxy } from '../../src/proxy/index.js';
import { createLivePipeline } from '../../src/pipeline/live.js';
import { createInjector, parseInjectSpecs } from '../../src/inject/index.js';
import { parseFilter } from '../../src/filter/index.js';
import type { Flow } from '../../src/types.js';

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'davtap-inject-ca-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface InjectingProxy {
  proxy: RunningProxy;
  url: string;
  flows: Flow[];
  waitForFlows(n: number, timeoutMs?: number): Promise<Flow[]>;
}

/** `upstream` null: forward mode (an explicit proxy, with its CA in a temporary directory). */
export async function startInjectingProxy(
  t: ExecutionContext,
  upstream: string | null,
  inject: string,
  options: { filter?: string; maxRewriteBytes?: number } = {},
): Promise<InjectingProxy> {
  const flows: Flow[] = [];
  const logs: string[] = [];
  const live = createLivePipeline({ log: (line) => logs.push(line), onFlow: (flow) => flows.push(flow) });
  const injectFor = createInjector({
    specs: parseInjectSpecs(inject),
    ...(options.filter !== undefined ? { filter: parseFilter(options.filter) } : {}),
    ...(options.maxRewriteBytes !== undefined ? { maxRewriteBytes: options.maxRewriteBytes } : {}),
  });
  const proxy = await startProxy({
    listenHost: '127.0.0.1',
    listenPort: 0,
    ...(upstream !== null ? { upstream: new URL(upstream) } : { caDir: tempDir(t) }),
    maxBody: 64 * 1024 * 1024,
    maxRequestBody: 1024 * 1024,
    hooks: { ...live.hooks, injectFor },
    log: (line) => logs.push(line),
  });
  t.teardown(() => proxy.close());
  return {
    proxy,
    url: proxy.url.replace(/\/$/, ''),
    flows,
    async waitForFlows(n: number, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (flows.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} flows, got ${flows.length}; log: ${logs.join(' | ')}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return flows;
    },
  };
}

/** A Depth 1 PROPFIND answer for /dav/: the collection, then `n` files (prefix `D:` for DAV: by default). */
export function multistatus(n: number, opts: { prefix?: string } = {}): string {
  const p = opts.prefix ?? 'D';
  const q = p === '' ? '' : `${p}:`;
  const ns = p === '' ? 'xmlns="DAV:"' : `xmlns:${p}="DAV:"`;
  let body = `<?xml version="1.0" encoding="utf-8"?>\n<${q}multistatus ${ns}>\n`;
  body +=
    `<${q}response><${q}href>/dav/</${q}href><${q}propstat><${q}prop><${q}resourcetype><${q}collection/></${q}resourcetype>` +
    `</${q}prop><${q}status>HTTP/1.1 200 OK</${q}status></${q}propstat></${q}response>\n`;
  for (let i = 0; i < n; i++) {
    body +=
      `<${q}response><${q}href>/dav/file-${i}.txt</${q}href><${q}propstat><${q}prop>` +
      `<${q}displayname>file ${i}</${q}displayname><${q}getcontentlength>${100 + i}</${q}getcontentlength>` +
      `</${q}prop><${q}status>HTTP/1.1 200 OK</${q}status></${q}propstat></${q}response>\n`;
  }
  return body + `</${q}multistatus>\n`;
}

export function rules(flow: Flow): string[] {
  return (flow.analysis?.findings ?? []).map((f) => f.rule);
}

/** Splits `curl -i` output into the final head (text) and the body (bytes). */
export function splitResponse(out: Buffer): { head: string; body: Buffer } {
  const end = out.indexOf('\r\n\r\n');
  if (end < 0) return { head: out.toString('latin1'), body: Buffer.alloc(0) };
  return { head: out.subarray(0, end).toString('latin1'), body: out.subarray(end + 4) };
}

export function headerOf(head: string, name: string): string | undefined {
  const re = new RegExp(`^${name}:\\s*(.*)$`, 'im');
  return re.exec(head)?.[1]?.trim();
}

// Pieces of the memory benchmark: a resident-set sampler reading /proc, an origin that generates a
// large body as fast as it is read, and a client that reads at a fixed rate.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** VmRSS and VmHWM (the kernel's own peak) of a process, in KiB. */
export function readRss(pid: number): { rssKiB: number; hwmKiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return rss && hwm ? { rssKiB: Number(rss[1]), hwmKiB: Number(hwm[1]) } : undefined;
  } catch {
    return undefined; // the process is gone
  }
}

export interface RssSampler {
  /** Stops sampling; returns the peak sampled VmRSS, the kernel's VmHWM at the end, and the count. */
  stop(): { peakKiB: number; hwmKiB: number; samples: number };
}

/** Samples a process's VmRSS every `intervalMs`. */
export function sampleRss(pid: number, intervalMs = 50): RssSampler {
  let peakKiB = 0;
  let hwmKiB = 0;
  let samples = 0;
  const take = () => {
    const r = readRss(pid);
    if (!r) return;
    samples++;
    peakKiB = Math.max(peakKiB, r.rssKiB);
    hwmKiB = Math.max(hwmKiB, r.hwmKiB);
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peakKiB, hwmKiB, samples };
    },
  };
}

export interface BigOrigin {
  url: string;
  close(): Promise<void>;
}

/**
 * A `node:http` origin answering every GET with `bytes` of generated data (Content-Length framed),
 * written only as fast as the connection drains, so that any buffering is the proxy's.
 */
export async function startBigOrigin(bytes: number): Promise<BigOrigin> {
  const chunk = Buffer.alloc(64 * 1024, 'davtap memory benchmark\n');
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes) });
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('close', () => (left = 0));
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface SlowRead {
  status: number;
  bytes: number;
  seconds: number;
}

/**
 * GETs `url` and reads the body at no more than `bytesPerSecond` (pausing the stream whenever it is
 * ahead of schedule). Rejects after `timeoutMs`.
 */
export function slowGet(url: string, bytesPerSecond: number, timeoutMs: number): Promise<SlowRead> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let bytes = 0;
    const req = http.get(url, { agent: false }, (res) => {
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        const aheadMs = (bytes / bytesPerSecond) * 1000 - (Date.now() - started);
        if (aheadMs > 0) {
          res.pause();
          setTimeout(() => res.resume(), aheadMs);
        }
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, bytes, seconds: (Date.now() - started) / 1000 });
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`slow GET ${url}: not done after ${timeoutMs} ms (${bytes} bytes read)`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

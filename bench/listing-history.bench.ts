// The pipeline worker's listing history (MS403 across listings): what it adds per flow next to
// the analysis the worker already does. A Depth 1 listing of N members is analyzed (median of a
// few warm runs) and then observed again and again by one ListingHistory (each time compared with
// the previous listing and kept as the new reference), and a GET flow is observed to show the
// cost for flows that are not listings. Target: the history costs under 10% of the analysis.
import { analyze } from '../src/analysis/analyzer.js';
import { ListingHistory } from '../src/pipeline/listing-history.js';
import type { Analysis, Flow, RawHeaders } from '../src/types.js';
import { fixed, table } from './lib/table.js';

const SIZES = [1_000, 10_000, 50_000];
const ROUNDS = 5;
const TARGET_SHARE = 0.1;

function listingBody(n: number): Buffer {
  const parts = ['<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n'];
  const response = (href: string) =>
    `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:getetag>"5e-60a1"</D:getetag><D:getcontentlength>94</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`;
  parts.push(response('/dav/big/'));
  for (let i = 0; i < n; i++) parts.push(response(`/dav/big/a%20document%20named%20${i}.txt`));
  parts.push('</D:multistatus>\n');
  return Buffer.from(parts.join(''));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function flowOf(method: string, start: number, requestHeaders: RawHeaders, analysis?: Analysis): Flow {
  return {
    id: `f${start}`,
    mode: 'reverse',
    client: { address: '127.0.0.1', port: 1 },
    timings: { start, firstByte: start, end: start + 1 },
    request: { method, url: 'http://127.0.0.1:1/dav/big/', target: '/dav/big/', httpVersion: '1.1', rawHeaders: requestHeaders, body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true } },
    response: { status: analysis ? 207 : 200, reason: '', httpVersion: '1.1', rawHeaders: [], framing: 'content-length', declaredLength: 0, body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true }, decoded: null, informational: [], rawTrailers: [] },
    outcome: { kind: 'complete' },
    ...(analysis ? { analysis } : {}),
  };
}

export async function run(): Promise<string> {
  const rows: string[][] = [];
  let worst = 0;
  for (const n of SIZES) {
    const body = listingBody(n);
    const headers: RawHeaders = ['Depth', '1'];
    const analyses: number[] = [];
    let analysis: Analysis | undefined;
    for (let i = 0; i < ROUNDS + 1; i++) {
      const t0 = performance.now();
      analysis = analyze({ method: 'PROPFIND', target: '/dav/big/', rawHeaders: headers }, { status: 207, reason: '', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/xml'], bodyForm: 'payload' }, body);
      if (i > 0) analyses.push(performance.now() - t0);
    }
    const history = new ListingHistory({ maxMembersPerListing: n, maxMembersTotal: n });
    history.observe(flowOf('PROPFIND', 1000, headers, analysis));
    const observes: number[] = [];
    for (let i = 0; i < ROUNDS * 2; i++) {
      const t0 = performance.now();
      history.observe(flowOf('PROPFIND', 2000 + i * 10, headers, analysis));
      observes.push(performance.now() - t0);
    }
    const a = median(analyses);
    const h = median(observes);
    worst = Math.max(worst, h / a);
    rows.push([n.toLocaleString('en'), `${(body.length / 1024 / 1024).toFixed(1)} MiB`, `${fixed(a, 1)} ms`, `${fixed(h, 2)} ms`, `${fixed((h / a) * 100, 1)}%`]);
  }
  // A flow that is neither a listing nor a removal, with a full history beside it.
  const history = new ListingHistory();
  const get = flowOf('GET', 5000, []);
  const reps = 200_000;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) history.observe(get);
  const perGetUs = ((performance.now() - t0) / reps) * 1000;
  return [
    '### Listing history (MS403 across listings) beside the analysis',
    '',
    table(['members', 'body', 'analysis (median)', 'history observe + compare (median)', 'share'], rows),
    '',
    `Any other flow (a GET): ${fixed(perGetUs, 2)} µs per flow. Target: history under ${TARGET_SHARE * 100}% of the analysis: ${worst < TARGET_SHARE ? 'met' : '**missed**'}.`,
  ].join('\n');
}

// Runnable alone: node --import tsx bench/listing-history.bench.ts
if (process.argv[1]?.endsWith('listing-history.bench.ts')) process.stdout.write(`${await run()}\n`);

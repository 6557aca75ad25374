// Sandwich pairing under concurrency: 10,000 requests from 8 concurrent clients through the
// sandwich (front → gateway → back → an in-process WebDAV origin), half of them sent as the same
// request by every client at the same moment. Each pair is checked against ground truth the
// pairing never sees: the nonce the origin put in its answer's headers must be the one the client
// got (and, where the gateway leaves bodies alone, the two bodies must be equal). Target: 0
// mismatched pairs, and no unmatched flow through an honest gateway. A last run holds each answer
// in the gateway a random 0–30 ms (a busy gateway: answers to the same requests reach their clients
// in another order than they left the origin); there the target is that no pair compares another
// client's answer (bodies equal), the nonce's mismatches being answers alike byte for byte.
// BENCH_ONLY=sandwich-pairing npm run bench; PAIRING_REQUESTS=N for another count.
import { existsSync } from 'node:fs';
import { freePort } from '../test/helpers/apache.js';
import { runPairingLoad, startNonceOrigin, type PairingLoadResult } from '../test/helpers/pairing-load.js';
import { NGINX_BIN, startNginx } from '../test/interop/nginx/nginx.js';
import { table } from './lib/table.js';

const REQUESTS = Number(process.env.PAIRING_REQUESTS ?? 10_000);
const CLIENTS = 8;

const row = (gateway: string, r: PairingLoadResult, bodiesKept: boolean): string[] => [
  gateway,
  r.requests.toLocaleString('en'),
  `${r.clients}`,
  r.identical.toLocaleString('en'),
  r.paired.toLocaleString('en'),
  `**${r.mismatched.toLocaleString('en')}**${r.mismatched > 0 ? ` (${r.alikeMismatches.toLocaleString('en')} alike)` : ''}`,
  `${r.requestMismatches}`,
  bodiesKept ? `${r.bodyMismatches}` : `(${r.bodyMismatches.toLocaleString('en')} rewritten)`,
  `${r.frontOnly} / ${r.backOnly}`,
  `${r.failedRequests}`,
  `${r.seconds.toFixed(1)} s`,
];

export async function run(): Promise<string> {
  const origin = await startNonceOrigin();
  const rows: string[][] = [];
  let met = true;
  const record = (gateway: string, r: PairingLoadResult, honest: boolean, bodiesKept: boolean) => {
    rows.push(row(gateway, r, bodiesKept));
    if (r.mismatched > 0 || r.requestMismatches > 0 || r.failedRequests > 0 || (bodiesKept && r.bodyMismatches > 0) || (honest && (r.frontOnly > 0 || r.backOnly > 0))) met = false;
  };
  try {
    record('Node test gateway, honest', await runPairingLoad({ requests: REQUESTS, clients: CLIENTS, gateway: { behaviour: 'honest' }, origin }), true, true);
    if (existsSync(NGINX_BIN)) {
      const back = await freePort();
      const nginx = await startNginx([{ name: 'pairing', config: `location / {\n    proxy_pass http://127.0.0.1:${back};\n}` }]);
      try {
        record('nginx proxy_pass, honest', await runPairingLoad({ requests: REQUESTS, clients: CLIENTS, gateway: { url: nginx.urls.pairing!, backPort: back }, origin }), true, true);
      } finally {
        await nginx.stop();
      }
    }
    record('Node test gateway, rewriting hrefs', await runPairingLoad({ requests: REQUESTS, clients: CLIENTS, gateway: { behaviour: 'rewrite-hrefs' }, origin }), false, false);
  } finally {
    await origin.close();
  }
  // The busy gateway, in front of an origin that answers in any order (0–5 ms each).
  const jittery = await startNonceOrigin({ jitterMs: 5 });
  try {
    const r = await runPairingLoad({ requests: REQUESTS, clients: CLIENTS, gateway: { behaviour: 'honest', holdMs: 30 }, origin: jittery });
    rows.push(row('Node test gateway, honest, busy (answers held 0–30 ms)', r, true));
    if (r.bodyMismatches > 0 || r.mismatched !== r.alikeMismatches || r.frontOnly + r.backOnly > 0 || r.failedRequests > 0 || r.requestMismatches > 0) met = false;
  } finally {
    await jittery.close();
  }
  const { loadavg } = await import('node:os');
  return [
    '### Sandwich pairing under concurrency',
    '',
    `${CLIENTS} clients, each on one keep-alive connection, in rounds started together; every other round is the same request from every`,
    'client at once (same method, target and body). A pair is wrong when the nonce the origin put in its answer (a response header the',
    'pairing never reads) is not the one the client got; through a gateway that leaves bodies alone the two response bodies must also',
    'be equal. The rewriting gateway changes every 207 body, so pairs there are checked by the nonce alone. The time column is wall-clock',
    'on a shared machine (the first run also warms up): it says how long the run took, not how fast the sandwich is.',
    'The busy gateway holds each answer a random 0–30 ms, so that answers to the same requests reach their clients in another order than',
    'they left the origin: there the same request answered with the same bytes cannot be told apart (the "alike" mismatches, which no',
    'comparison notices); the target is that no pair compares another client\'s answer (body differs: 0). One request kind, GET /dav/nonce,',
    'gets a different body for each client: the pair book takes the back flow whose answer the client got.',
    '',
    table(['gateway', 'requests', 'clients', 'sent identically', 'paired', 'mismatched pairs', 'request differs', 'body differs', 'unmatched front / back', 'failed requests', 'time'], rows),
    '',
    `Target: 0 mismatched pairs (busy gateway: 0 whose answers differ) and, through an honest gateway, no unmatched flow: ${met ? 'met' : '**missed**'}. Load average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}.`,
  ].join('\n');
}

// Runnable alone: node --import tsx bench/sandwich-pairing.bench.ts
if (process.argv[1]?.endsWith('sandwich-pairing.bench.ts')) process.stdout.write(`${await run()}\n`);

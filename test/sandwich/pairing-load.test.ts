// Pairing under 8 concurrent clients, checked against the origin's nonce (test/helpers/pairing-load.ts):
// a smaller run of the bench (`BENCH_ONLY=sandwich-pairing npm run bench` drives 10,000).
import test from 'ava';
import { runPairingLoad, startNonceOrigin } from '../helpers/pairing-load.js';

test('500 requests from 8 concurrent clients, half of them identical at the same moment: every pair carries the answer its client got, none unmatched', async (t) => {
  t.timeout(120_000);
  const origin = await startNonceOrigin();
  t.teardown(() => origin.close());
  const r = await runPairingLoad({ requests: 500, clients: 8, gateway: { behaviour: 'honest' }, origin });
  t.is(r.requests, 496);
  t.is(r.failedRequests, 0);
  t.is(r.paired, 496);
  t.is(r.mismatched, 0, 'a back flow whose answer is not the one the client got');
  t.is(r.requestMismatches, 0);
  t.is(r.bodyMismatches, 0);
  t.is(r.frontOnly, 0);
  t.is(r.backOnly, 0);
  t.true(r.identical >= 240, 'half the rounds send the same request from every client');
});

test('through a gateway that rewrites every 207, pairs still follow the origin nonce (order and time, not bodies)', async (t) => {
  t.timeout(120_000);
  const origin = await startNonceOrigin();
  t.teardown(() => origin.close());
  const r = await runPairingLoad({ requests: 240, clients: 8, gateway: { behaviour: 'rewrite-hrefs' }, origin });
  t.is(r.paired, 240);
  t.is(r.mismatched, 0);
  t.true(r.bodyMismatches > 0, 'the gateway changed the 207 bodies');
  t.is(r.frontOnly + r.backOnly, 0);
});

test('a busy gateway passes the answers to the same requests on in another order: each pair still compares the answer its client got', async (t) => {
  t.timeout(120_000);
  const origin = await startNonceOrigin({ jitterMs: 5 });
  t.teardown(() => origin.close());
  const r = await runPairingLoad({ requests: 320, clients: 8, gateway: { behaviour: 'honest', holdMs: 30 }, origin });
  t.is(r.paired, 320);
  t.is(r.bodyMismatches, 0, 'a pair whose two answers differ: compared with the wrong back flow');
  // What the nonce header still tells apart: the same request answered with the same bytes, which no
  // pairing that adds nothing to the requests can (and no comparison needs to).
  t.is(r.mismatched, r.alikeMismatches);
  t.is(r.frontOnly + r.backOnly, 0);
});

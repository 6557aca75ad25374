// The comparison worker: compares the sandwich's pairs (compare-pair.ts) off the relay thread,
// one message per pair, answered with its result or the error it raised.
import os from 'node:os';
import { parentPort } from 'node:worker_threads';
import type { Flow } from '../types.js';
import { comparePair } from './compare-pair.js';
import type { CompareReply, CompareRequest } from './comparer.js';

// Relaying comes first: as the pipeline worker, this thread yields to the relay thread (Linux).
if (process.platform === 'linux') {
  try {
    os.setPriority(10);
  } catch {
    /* not allowed here: the usual priority */
  }
}

/** Structured clone delivers Uint8Arrays: the comparison reads Buffers. */
const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

function revive(flow: Flow): Flow {
  flow.request.body.bytes = asBuffer(flow.request.body.bytes);
  return flow;
}

const port = parentPort!;
port.on('message', (msg: CompareRequest) => {
  let reply: CompareReply;
  try {
    const result = comparePair(
      { flow: revive(msg.back.flow), payload: asBuffer(msg.back.payload), overCap: msg.back.overCap },
      { flow: revive(msg.front.flow), payload: asBuffer(msg.front.payload), overCap: msg.front.overCap },
      msg.context,
    );
    reply = { id: msg.id, result };
  } catch (err) {
    reply = { id: msg.id, error: (err as Error).stack ?? String(err) };
  }
  port.postMessage(reply);
});

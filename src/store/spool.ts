// Large bodies go to the database in parts while they are still arriving, so that a 64 MiB
// capture is never held whole in memory (and then copied again for the insert). A body that ends
// before its first part is full (nearly every 207) is handed back and stored with its flow, in the
// writer's transaction, as before: only large bodies pay for the extra commits.
//
// Parts are keyed by the flow's id (its row, and so its seq, exists only once the flow is over).
// The flow's row records how many bytes were spooled; the reader joins the parts (store.ts).
import { StoreError } from '../errors.js';
import type { Store } from './store.js';

export type SpoolKind = 'response' | 'decoded';

export interface BodySpool {
  /** Takes the next bytes of the body; bytes beyond the cap are counted out, not kept. */
  add(chunk: Buffer): void;
  /**
   * Ends the body. Nothing written yet: the bytes held, for the writer to store with the flow.
   * Otherwise the rest is written as a last part and `spooled` says how many bytes the parts hold.
   */
  finish(): { bytes: Buffer; spooled?: number };
  /** Drops the body and any parts already written (its flow will not be recorded). */
  discard(): void;
}

export interface Spooler {
  open(flowId: string, kind: SpoolKind, cap: number): BodySpool;
  /** Removes parts whose flow has no row (left by a davtap that was killed mid-transfer). */
  removeOrphans(): number;
}

export interface SpoolerOptions {
  /** Bytes per part (default 256 KiB): also what one body in flight holds at most. */
  partBytes?: number;
  onError(err: StoreError): void;
}

const EMPTY = Buffer.alloc(0);

export function createSpooler(store: Store, options: SpoolerOptions): Spooler {
  const partBytes = Math.max(1, options.partBytes ?? 256 * 1024);
  const db = store.db;
  const insertPart = db.prepare('INSERT INTO body_parts (flow_id, kind, part, bytes) VALUES (?, ?, ?, ?)');
  const deleteParts = db.prepare('DELETE FROM body_parts WHERE flow_id = ? AND kind = ?');
  const orphans = db.prepare('DELETE FROM body_parts WHERE flow_id NOT IN (SELECT id FROM flows)');
  // One failure report per body, not one per part.
  const report = (flowId: string, err: unknown) =>
    options.onError(new StoreError(`could not store a part of the body of flow ${flowId} in ${store.file}: ${(err as Error).message}`, { cause: err }));

  return {
    removeOrphans: () => orphans.run().changes,
    open(flowId: string, kind: SpoolKind, cap: number): BodySpool {
      let held: Buffer[] = [];
      let heldBytes = 0;
      let kept = 0;
      let parts = 0;
      let spooled = 0;
      let failed = false;

      const write = (bytes: Buffer) => {
        if (failed || bytes.length === 0) return;
        try {
          insertPart.run(flowId, kind, parts, bytes);
          parts++;
          spooled += bytes.length;
        } catch (err) {
          // The body stays short in the store (the flow says so: fewer bytes stored than seen).
          failed = true;
          report(flowId, err);
        }
      };
      const writeHeld = () => {
        const bytes = held.length === 1 ? held[0]! : Buffer.concat(held, heldBytes);
        held = [];
        heldBytes = 0;
        write(bytes);
      };

      return {
        add(chunk: Buffer) {
          const room = cap - kept;
          if (room <= 0 || chunk.length === 0) return;
          const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
          kept += part.length;
          // Held as a reference until a part is full; the part is a copy, so that the chunk's
          // (larger) batch buffer is not kept alive by it.
          held.push(part);
          heldBytes += part.length;
          if (heldBytes >= partBytes) writeHeld();
        },
        finish() {
          if (parts === 0 && !failed) {
            const bytes = held.length === 0 ? EMPTY : held.length === 1 ? held[0]! : Buffer.concat(held, heldBytes);
            held = [];
            heldBytes = 0;
            return { bytes };
          }
          if (heldBytes > 0) writeHeld();
          return { bytes: EMPTY, spooled };
        },
        discard() {
          held = [];
          heldBytes = 0;
          if (parts === 0) return;
          try {
            deleteParts.run(flowId, kind);
          } catch (err) {
            report(flowId, err);
          }
        },
      };
    },
  };
}

// `--max-db-size`: once the pages in use exceed the limit, the oldest flows lose their bodies
// (never their rows, findings or ledger) until usage is back under 90% of the limit. Each pruned
// flow records it (body_pruned, body_pruned_bytes), so nothing disappears silently. SQLite reuses
// the freed pages, so the file stops growing at about the limit (the WAL file comes on top).
import type Database from 'better-sqlite3';

export interface PruneResult {
  /** Flows whose bodies were removed in this run. */
  flows: number;
  /** Body bytes removed. */
  bytes: number;
  /** True when the database is still over the limit with no bodies left to remove. */
  stillOver: boolean;
}

export interface Pruner {
  /** Bytes of pages in use (excluding free pages). */
  usedBytes(): number;
  run(): PruneResult;
}

const headroom = 0.9;
const chunk = 256;

/** `bodiesPerFlow`: the file keeps whole bodies in flow_bodies (schema version 12 on). */
export function createPruner(db: Database.Database, maxDbSize: number, bodiesPerFlow = true): Pruner {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const usedBytes = () => ((db.pragma('page_count', { simple: true }) as number) - (db.pragma('freelist_count', { simple: true }) as number)) * pageSize;
  const candidates = db.prepare(
    `SELECT seq, request_body_stored + response_body_stored + decoded_body_stored AS bytes FROM flows
     WHERE seq > ? AND body_pruned = 0 ORDER BY seq LIMIT ${chunk}`,
  );
  // Whole bodies are in flow_bodies; those of flows recorded before schema 12 in bodies.
  const deleteWholeBodies = bodiesPerFlow ? db.prepare('DELETE FROM flow_bodies WHERE flow_seq = ?') : null;
  const deleteEarlierBodies = db.prepare('DELETE FROM bodies WHERE flow_seq = ?');
  const deleteParts = db.prepare('DELETE FROM body_parts WHERE flow_id = (SELECT id FROM flows WHERE seq = ?)');
  const deleteBodies = { run: (seq: number) => (deleteWholeBodies?.run(seq), deleteEarlierBodies.run(seq), deleteParts.run(seq)) };
  const markPruned = db.prepare('UPDATE flows SET body_pruned = 1, body_pruned_bytes = body_pruned_bytes + ? WHERE seq = ?');
  // Everything at or below this seq has been looked at already: the next run starts after it.
  let cursor = Number((db.prepare('SELECT coalesce(max(seq), 0) AS n FROM flows WHERE body_pruned = 1').get() as { n: number }).n);

  const pruneBytes = db.transaction((target: number) => {
    let freed = 0;
    let flows = 0;
    let exhausted = false;
    // Bounded: each round consumes `chunk` flows or ends the loop.
    while (freed < target) {
      const rows = candidates.all(cursor) as { seq: number; bytes: number }[];
      if (rows.length === 0) {
        exhausted = true;
        break;
      }
      for (const row of rows) {
        cursor = row.seq;
        if (row.bytes <= 0) continue;
        deleteBodies.run(row.seq);
        markPruned.run(row.bytes, row.seq);
        freed += row.bytes;
        flows++;
        if (freed >= target) break;
      }
    }
    return { flows, bytes: freed, exhausted };
  });

  return {
    usedBytes,
    run(): PruneResult {
      const used = usedBytes();
      if (used <= maxDbSize) return { flows: 0, bytes: 0, stillOver: false };
      const startCursor = cursor;
      try {
        const { flows, bytes, exhausted } = pruneBytes.immediate(used - maxDbSize * headroom);
        return { flows, bytes, stillOver: exhausted && usedBytes() > maxDbSize };
      } catch (err) {
        cursor = startCursor;
        throw err;
      }
    },
  };
}

// The first response index of each normalized href (MS203/MS603 duplicates), kept as a 64-bit hash
// rather than the string: a listing of millions of responses does not keep millions of strings.
// The hashes sit in arrays by response index (8 bytes a response, exactly as many as there are) and
// an open-addressing table of indexes points into them (4 bytes a slot, at most half full), about
// 16 bytes an href in all. Two hrefs share a hash with probability about n²/2⁶⁵ (1 in 10⁸ for a
// million hrefs), which would report a duplicate that is not one.

/** Hrefs compared as strings before the hash table is made. */
const FEW = 8;
const NONE = new Int32Array(0);

export class SeenHrefs {
  // Most 207s carry one or a few responses and every analysis makes one of these: their first
  // hrefs are kept as strings and compared directly, and the typed arrays (each a native
  // allocation, costing more than the comparisons) are made only for a longer answer.
  private few: string[] = [];
  private fewIndexes: number[] = [];
  /** The two 32-bit halves of each recorded href's hash, by response index. */
  private hashA = NONE;
  private hashB = NONE;
  /** Response index + 1 of the href in each slot; 0 is an empty slot. */
  private slots = NONE;
  private size = 0;

  /** The index recorded for `href` before, or undefined after recording `index` for it. */
  firstIndex(href: string, index: number): number | undefined {
    if (this.slots === NONE) {
      const at = this.few.indexOf(href);
      if (at >= 0) return this.fewIndexes[at];
      if (this.few.length < FEW) {
        this.few.push(href);
        this.fewIndexes.push(index);
        return undefined;
      }
      this.toTable();
    }
    return this.hashed(href, index);
  }

  /** Moves the first hrefs into the hash table, from then on the only record. */
  private toTable(): void {
    const top = Math.max(...this.fewIndexes);
    this.hashA = new Int32Array(Math.max(16, top + 1));
    this.hashB = new Int32Array(this.hashA.length);
    this.slots = new Int32Array(32);
    for (let k = 0; k < this.few.length; k++) this.hashed(this.few[k]!, this.fewIndexes[k]!);
    this.few = [];
    this.fewIndexes = [];
  }

  private hashed(href: string, index: number): number | undefined {
    let a = 0x811c9dc5 | 0;
    let b = 0x01000193 ^ href.length;
    for (let i = 0; i < href.length; i++) {
      const c = href.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b + c, 0x5bd1e995) ^ (b >>> 15);
    }
    const slots = this.slots;
    const mask = slots.length - 1;
    for (let slot = (a ^ (b >>> 7)) & mask; ; slot = (slot + 1) & mask) {
      const f = slots[slot]!;
      if (f === 0) {
        if (index >= this.hashA.length) this.growHashes(index);
        this.hashA[index] = a;
        this.hashB[index] = b;
        slots[slot] = index + 1;
        if (++this.size * 2 > slots.length) this.growSlots();
        return undefined;
      }
      if (this.hashA[f - 1] === a && this.hashB[f - 1] === b) return f - 1;
    }
  }

  private growHashes(index: number): void {
    // By half again: these arrays are most of the memory, and hold exactly one entry a response.
    let cap = this.hashA.length;
    while (cap <= index) cap = Math.ceil(cap * 1.5);
    const a = new Int32Array(cap);
    const b = new Int32Array(cap);
    a.set(this.hashA);
    b.set(this.hashB);
    this.hashA = a;
    this.hashB = b;
  }

  private growSlots(): void {
    const old = this.slots;
    const slots = new Int32Array(old.length * 2);
    const mask = slots.length - 1;
    for (let k = 0; k < old.length; k++) {
      const f = old[k]!;
      if (f === 0) continue;
      let slot = (this.hashA[f - 1]! ^ (this.hashB[f - 1]! >>> 7)) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = f;
    }
    this.slots = slots;
  }
}

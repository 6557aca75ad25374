// The first response index of each normalized href (MS203/MS603 duplicates), kept as a 64-bit hash
// in typed arrays rather than the strings: about 24 bytes per href at most, so that a listing of
// millions of responses does not keep millions of strings. Two hrefs share a key with probability
// about n²/2⁶⁵ (1 in 10⁸ for a million hrefs), which would report a duplicate that is not one.

const EMPTY = 0;

export class SeenHrefs {
  private hashA = new Int32Array(1024);
  private hashB = new Int32Array(1024);
  /** Response index + 1; 0 is an empty slot. */
  private first = new Int32Array(1024);
  private size = 0;

  /** The index recorded for `href` before, or undefined after recording `index` for it. */
  firstIndex(href: string, index: number): number | undefined {
    let a = 0x811c9dc5 | 0;
    let b = 0x01000193 ^ href.length;
    for (let i = 0; i < href.length; i++) {
      const c = href.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b + c, 0x5bd1e995) ^ (b >>> 15);
    }
    const mask = this.first.length - 1;
    for (let slot = (a ^ (b >>> 7)) & mask; ; slot = (slot + 1) & mask) {
      const f = this.first[slot]!;
      if (f === EMPTY) {
        this.hashA[slot] = a;
        this.hashB[slot] = b;
        this.first[slot] = index + 1;
        if (++this.size * 2 > this.first.length) this.grow();
        return undefined;
      }
      if (this.hashA[slot] === a && this.hashB[slot] === b) return f - 1;
    }
  }

  private grow(): void {
    const [oldA, oldB, oldFirst] = [this.hashA, this.hashB, this.first];
    const cap = oldFirst.length * 2;
    this.hashA = new Int32Array(cap);
    this.hashB = new Int32Array(cap);
    this.first = new Int32Array(cap);
    const mask = cap - 1;
    for (let k = 0; k < oldFirst.length; k++) {
      if (oldFirst[k] === EMPTY) continue;
      const a = oldA[k]!;
      const b = oldB[k]!;
      let slot = (a ^ (b >>> 7)) & mask;
      while (this.first[slot] !== EMPTY) slot = (slot + 1) & mask;
      this.hashA[slot] = a;
      this.hashB[slot] = b;
      this.first[slot] = oldFirst[k]!;
    }
  }
}

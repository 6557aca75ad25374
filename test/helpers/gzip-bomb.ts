// A valid gzip stream of zeros that inflates about 1000:1, built in milliseconds whatever its size:
// deflate at level 9 with a full flush after each MiB resets the compressor, so every MiB of zeros
// compresses to the same bytes, and the stream is that segment repeated between a header and a
// trailer. Compressing 10 GiB for real would take about a minute.
import zlib from 'node:zlib';

const SEGMENT = 1024 * 1024;

/** One MiB of zeros as a byte-aligned run of non-final deflate blocks (about 1 KB). */
function zeroSegment(): Buffer {
  // Ending on a full flush instead of Z_FINISH leaves the stream open and the compressor's state
  // reset, which is the state a fresh compressor starts from: the segment can follow itself.
  return zlib.deflateRawSync(Buffer.alloc(SEGMENT), { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
}

// CRC-32 of n zero bytes without reading them: the register update for one zero bit is linear over
// GF(2), so n bytes are that 32×32 operator to the power 8n, by repeated squaring (zlib's
// crc32_combine does the same).
function times(mat: Uint32Array, vec: number): number {
  let sum = 0;
  for (let i = 0; vec !== 0; i++, vec >>>= 1) if (vec & 1) sum ^= mat[i]!;
  return sum >>> 0;
}

function square(mat: Uint32Array): Uint32Array {
  const out = new Uint32Array(32);
  for (let i = 0; i < 32; i++) out[i] = times(mat, mat[i]!);
  return out;
}

export function crc32OfZeros(n: number): number {
  let op: Uint32Array = new Uint32Array(32);
  op[0] = 0xedb88320;
  for (let i = 1; i < 32; i++) op[i] = (1 << (i - 1)) >>> 0;
  op = square(square(square(op))); // one zero bit → one zero byte
  let crc = 0xffffffff;
  for (let len = n; len > 0; len = Math.floor(len / 2)) {
    if (len % 2 === 1) crc = times(op, crc);
    op = square(op);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A gzip member whose content is `mib` MiB of zeros; about 1,037 bytes per MiB. */
export function gzipBomb(mib: number): Buffer {
  const segment = zeroSegment();
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
  const last = Buffer.from([0x03, 0x00]); // an empty final fixed-Huffman block
  const trailer = Buffer.alloc(8);
  const size = mib * SEGMENT;
  trailer.writeUInt32LE(crc32OfZeros(size), 0);
  trailer.writeUInt32LE(size % 2 ** 32, 4);
  const out = Buffer.alloc(header.length + segment.length * mib + last.length + trailer.length);
  let at = header.copy(out, 0);
  for (let i = 0; i < mib; i++) at += segment.copy(out, at);
  at += last.copy(out, at);
  trailer.copy(out, at);
  return out;
}

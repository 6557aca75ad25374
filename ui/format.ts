// Small pure formatters shared by the list and the detail views. No blessed, no clock.

/** 1234 -> "1.2k", 5_300_000 -> "5.1M"; null when nothing is known. */
export function formatSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '-';
  if (bytes < 1024) return `${bytes}b`;
  const units = ['k', 'M', 'G', 'T'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)}${units[unit]}`;
}

/** 42 -> "42ms", 1530 -> "1.53s", 125000 -> "2m05s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.floor((ms % 60_000) / 1000);
  return `${minutes}m${String(seconds).padStart(2, '0')}s`;
}

/** Wall-clock time of day with milliseconds: "14:03:27.512" (local time unless utc). */
export function formatClock(epochMs: number, utc = false): string {
  const d = new Date(epochMs);
  if (Number.isNaN(d.getTime())) return '--:--:--.---';
  const [h, m, s, ms] = utc
    ? [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
    : [d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
  return `${pad2(h)}:${pad2(m)}:${pad2(s)}.${String(ms).padStart(3, '0')}`;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** 12345 -> "12,345" without depending on the host's locale data. */
export function formatCount(n: number): string {
  return String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

// Control characters would move the terminal's cursor: show them as spaces.
// eslint-disable-next-line no-control-regex
const controlChars = /[\u0000-\u001f\u007f]/g;
const printable = (text: string): string => text.replace(controlChars, ' ');

/** Cuts or pads to exactly `width` columns; cut text ends with "~" so a cut is visible. */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  const clean = printable(text);
  if (clean.length > width) return width === 1 ? '~' : clean.slice(0, width - 1) + '~';
  return align === 'left' ? clean.padEnd(width) : clean.padStart(width);
}

/**
 * Elides the middle of a path to exactly `width` columns with "…", keeping its start and its last
 * segment whole when they fit ("/cal/user/…/event.ics"): both ends of a path tell something.
 */
export function fitMiddle(text: string, width: number): string {
  const clean = printable(text);
  if (width <= 0) return '';
  if (clean.length <= width) return clean.padEnd(width);
  if (width <= 2) return '…'.padEnd(width);
  // The last segment (with its slash; a trailing slash belongs to the segment before it).
  const cut = clean.endsWith('/') ? clean.lastIndexOf('/', clean.length - 2) : clean.lastIndexOf('/');
  const tail = cut > 0 ? clean.slice(cut) : '';
  if (tail.length > 0 && tail.length <= width - 3) {
    let head = clean.slice(0, width - 1 - tail.length);
    // End the head at a slash when one is near, so that no segment is shown half.
    const slash = head.lastIndexOf('/');
    if (slash > 0 && head.length - slash <= 12) head = head.slice(0, slash + 1);
    return `${head}…${tail}`.padEnd(width);
  }
  const keepEnd = Math.floor((width - 1) / 2);
  return `${clean.slice(0, width - 1 - keepEnd)}…${clean.slice(clean.length - keepEnd)}`;
}

/** Cuts from the left, keeping the end (paths are most telling at their end). */
export function fitTail(text: string, width: number): string {
  const clean = printable(text);
  if (clean.length <= width) return clean.padEnd(width);
  if (width <= 1) return '~'.slice(0, width);
  return '~' + clean.slice(clean.length - width + 1);
}

/** Raw header list [name, value, …] -> pairs, case kept. */
export function headerPairs(raw: readonly string[] | null | undefined): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  if (!raw) return pairs;
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  return pairs;
}

/** Decodes bytes as UTF-8 text, or returns null when they are not text (NUL bytes, invalid UTF-8). */
export function asText(bytes: Uint8Array): string | null {
  if (bytes.subarray(0, 8192).includes(0)) return null;
  // A body cut by a capture cap or a truncating gateway may end inside a multi-byte sequence:
  // it is still text, so allow up to 3 bytes to be dropped at the very end.
  for (let drop = 0; drop <= 3 && drop < bytes.length; drop++) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, bytes.length - drop));
    } catch {
      /* try one byte shorter */
    }
  }
  return bytes.length === 0 ? '' : null;
}

/** Classic 16-bytes-per-line hex dump: offset, hex, printable ASCII. */
export function hexDump(bytes: Uint8Array, maxLines = 4096): string[] {
  const lines: string[] = [];
  for (let off = 0; off < bytes.length && lines.length < maxLines; off += 16) {
    const slice = bytes.subarray(off, off + 16);
    const hex = Array.from(slice, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(slice, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  const shownBytes = lines.length * 16;
  if (bytes.length > shownBytes) lines.push(`… ${formatCount(bytes.length - shownBytes)} more bytes not shown`);
  return lines;
}

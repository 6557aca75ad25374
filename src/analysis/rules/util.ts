// Small helpers shared by the rule files: number formatting, where-the-body-ended sentences.
import type { Facts } from '../facts.js';

/** 10240 → "10,240" without depending on the runtime's locale data. */
export function n(value: number): string {
  return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${n(count)} ${count === 1 ? one : many}`;
}

const PLACES: Record<string, string> = { propstat: 'propstat', prop: 'prop', href: 'href', status: 'status', response: 'response' };

/** "inside propstat of /dav/x.txt; last complete response: /dav/w.txt" */
export function whereBodyEnded(f: Facts): string {
  const x = f.xml;
  const parts: string[] = [];
  if (x.openResponseHref !== undefined || x.openAtEnd.includes('response')) {
    const innermost = [...x.openAtEnd].reverse().find((e) => e in PLACES) ?? 'response';
    parts.push(`inside ${innermost} of ${x.openResponseHref ?? '(a response whose href had not arrived)'}`);
  } else if (x.openAtEnd.length > 0) {
    parts.push(`inside ${x.openAtEnd.join('>')}`);
  }
  parts.push(x.lastComplete ? `last complete response: ${x.lastComplete.href}` : 'no complete response');
  return parts.join('; ');
}

export function completeCount(f: Facts): number {
  return f.ledger.complete;
}

/** Printable rendering of raw bytes for evidence. */
export function printable(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1').replace(/[^\x20-\x7e\n\t]/g, '.');
}

export function isFailure(code: number | null): boolean {
  return code !== null && code >= 400;
}

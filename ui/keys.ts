// Every key the terminal UI understands, in one table: the `?` panel (panels/help.ts) and the
// README's key table are made from it (test/ui/keys.test.ts checks the README), so that neither can
// drift from the other. The bindings themselves are in app.ts; a key added there belongs here too.

export type KeyView = 'list' | 'detail' | 'pair';

export interface KeyBinding {
  view: KeyView;
  /** The keys as the help shows them ('j / k / Down / Up'). */
  keys: string;
  /** What they do: one line, or more separated by \n (the help indents the continuation lines). */
  does: string;
}

export const keyViewTitles: Record<KeyView, string> = { list: 'Flow list', detail: 'Flow detail', pair: 'Pair view (davtap sandwich)' };

export const keyTable: readonly KeyBinding[] = [
  { view: 'list', keys: 'j / k / Down / Up', does: 'move the cursor' },
  { view: 'list', keys: 'PgDn / PgUp', does: 'one screen down / up' },
  { view: 'list', keys: 'g / G / Home / End', does: 'first / last flow' },
  { view: 'list', keys: 'Enter', does: 'open the flow' },
  { view: 'list', keys: 'F', does: 'follow mode: stay on the newest flow' },
  { view: 'list', keys: '/', does: 'filter: a fresh prompt (Enter applies, Esc cancels, empty clears)' },
  { view: 'list', keys: '!', does: 'findings view: only flows with findings (again: every flow)' },
  { view: 'list', keys: 'm', does: 'mark / unmark the flow (# in front of the row; ~marked filters them)' },
  { view: 'list', keys: 'r', does: 'replay the flow: send it again, record it, show what changed' },
  { view: 'list', keys: 'e', does: 'edit the request in $VISUAL / $EDITOR / vi (request line, headers, empty line, body) and send it:\nrecorded as a replay of the flow, what changed shown as for r; on the row of a held request, what the\neditor saves is sent to the server in its place (as it goes there: its path and Host). Not sent when\nthe file is unchanged or the editor exits non-zero; Content-Length follows an edited body (unless\nchunked); a binary or partly recorded body (--max-request-body) is refused; credentials show as\n[redacted] (unless --show-secrets) and are sent as recorded when left as shown' },
  { view: 'list', keys: 'D', does: 'duplicate: edit a copy of the request like e and send it as a new flow of its own\n(not a replay: no link to the flow, no comparison; the status line names the new flow)' },
  { view: 'list', keys: 'i', does: 'intercept filter: hold matching requests in davtap, and responses too when it names a response\ncode (~s ~c ~hs ~bs ~ts ~a ~q: `~m PROPFIND & ~s` holds PROPFIND responses only); empty stops.\nHeld exchanges are rows of their own at the end of the list (H, HOLD or their status)' },
  { view: 'list', keys: 'a / A / X', does: 'resume the held exchange selected (else the oldest) / resume all / kill it: a killed request is\nanswered 502 unsent, a killed response never reaches its client (its connection is closed);\none whose client has gone sends nothing' },
  { view: 'list', keys: 'w / W', does: 'write the flow / the filtered list as a report bundle (./davtap-export-<time>/)' },
  { view: 'list', keys: 'c', does: "pair view: the flow's front leg (client → gateway) beside its back leg (gateway → origin)" },
  { view: 'list', keys: '?', does: 'this help (j / k, PgDn / PgUp scroll it; any other key closes it)' },
  { view: 'list', keys: 'q', does: 'quit; asks "Quit davtap? (y/n)" while the proxy runs in this davtap\n(davtap ui --db quits at once: the proxy runs elsewhere)' },
  { view: 'list', keys: 'mouse', does: 'click selects a flow, a click on the selected one opens it; wheel scrolls' },
  { view: 'detail', keys: 'Tab / Shift-Tab', does: 'next / previous tab' },
  { view: 'detail', keys: '1 … 6', does: 'Summary Findings Resources Request Response Raw' },
  { view: 'detail', keys: 'j / k, PgDn / PgUp', does: 'scroll;  g / G  top / bottom' },
  { view: 'detail', keys: 's', does: 'Resources: next sort (failures first, body order, href, code)' },
  { view: 'detail', keys: '/', does: 'search this tab: plain text, case-insensitive, in bodies, headers and\nthe resource table; matches in reverse video, the count (3/17) in the tab line' },
  { view: 'detail', keys: 'm', does: 'Request / Response / Raw: next body view (pretty XML, text, hex; for a\ngzip or br response also wire, the compressed bytes as relayed); shown in the tab line' },
  { view: 'detail', keys: 'n / N', does: 'next / previous match while a search is on (Esc clears the search)' },
  { view: 'detail', keys: 'n / p', does: 'next / previous flow (n: when no search is on)' },
  { view: 'detail', keys: 'r', does: 'replay this flow and show what changed' },
  { view: 'detail', keys: 'e / D', does: 'edit this flow\'s request and send it as its replay / as a new flow (as in the list)' },
  { view: 'detail', keys: 'w', does: 'write this flow as a report bundle' },
  { view: 'detail', keys: 'c', does: 'pair view of this flow (sandwich mode): front vs back' },
  { view: 'detail', keys: '?', does: 'this help' },
  { view: 'detail', keys: 'q / Esc / Backspace', does: 'back to the list' },
  { view: 'pair', keys: 'j / k, PgDn / PgUp', does: 'scroll;  g / G  top / bottom' },
  { view: 'pair', keys: 'c / q / Esc', does: 'back to the list or the flow it was opened from' },
  { view: 'pair', keys: '?', does: 'this help' },
];

const KEY_COLUMN = 21;

/** The table as the `?` panel shows it: a title per view, one line per binding (more when it wraps). */
export function keyHelpLines(): string[] {
  const lines: string[] = [];
  for (const view of Object.keys(keyViewTitles) as KeyView[]) {
    if (lines.length > 0) lines.push('');
    lines.push(keyViewTitles[view]);
    for (const k of keyTable.filter((b) => b.view === view)) {
      const [first, ...rest] = k.does.split('\n');
      lines.push(`  ${k.keys.padEnd(KEY_COLUMN - 1)} ${first}`);
      for (const more of rest) lines.push(`${' '.repeat(KEY_COLUMN + 2)}${more}`);
    }
  }
  return lines;
}

/** The table as the README shows it (between `<!-- ui-keys:begin -->` and `<!-- ui-keys:end -->`). */
export function keyTableMarkdown(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const rows = keyTable.map((k) => `| ${keyViewTitles[k.view].toLowerCase()} | \`${cell(k.keys)}\` | ${cell(k.does.replace(/\n/g, ' '))} |`);
  return ['| view | keys | does |', '|---|---|---|', ...rows].join('\n');
}

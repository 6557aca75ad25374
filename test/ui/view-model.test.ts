import test from 'ava';
import { findingBadges, headerCells, headerText, layoutColumns, multistatusSummary, pathText, rowCells, rowMarker, rowText, statusCell, tlsCell, type FlowListRow } from '../../ui/view-model.js';
import { fit, fitMiddle, fitTail, formatDuration, formatSize } from '../../ui/format.js';

const row = (over: Partial<FlowListRow> = {}): FlowListRow => ({
  seq: 1, id: 'a', start: Date.UTC(2026, 10, 21, 14, 3, 27, 512), method: 'PROPFIND', path: '/dav/projects/', status: 207,
  size: 51_200, durationMs: 1530, resources: 120, failed: 3, errors: 2, warnings: 1, infos: 0, outcome: 'complete', injected: null,
  ...over,
});

test('the 207 column says the worst severity first, in its colour: "E 3/120 failed"', (t) => {
  t.deepEqual(multistatusSummary(row()), { text: 'E 3/120 failed', style: 'error' });
  t.deepEqual(multistatusSummary(row({ errors: 0 })), { text: 'W 3/120 failed', style: 'warning' });
  t.deepEqual(multistatusSummary(row({ errors: 0, warnings: 0, infos: 1 })), { text: 'I 3/120 failed', style: 'info' });
  t.deepEqual(multistatusSummary(row({ errors: 0, warnings: 0, failed: 0 })), { text: '120 ok', style: 'ok' });
  t.deepEqual(multistatusSummary(row({ errors: 0, warnings: 0, infos: 2, failed: 0 })), { text: 'I 120 ok', style: 'info' });
  t.deepEqual(multistatusSummary(row({ errors: 0, warnings: 0, infos: 0, failed: 2 })), { text: '2/120 failed', style: 'warning' });
  t.deepEqual(multistatusSummary(row({ resources: null, failed: null })), { text: '', style: 'normal' });
});

test('a cut or malformed 207 whose resources all said 200 is never "ok"', (t) => {
  // The body ended (or broke) after two complete responses: no resource failed, the body did.
  t.deepEqual(multistatusSummary(row({ resources: 2, failed: 0, errors: 2, warnings: 0 })), { text: 'E 0/2 failed', style: 'error' });
  t.deepEqual(multistatusSummary(row({ resources: 2, failed: 0, errors: 0, warnings: 1 })), { text: 'W 0/2 failed', style: 'warning' });
  const columnsAt160 = layoutColumns(160);
  for (const errors of [1, 0]) {
    for (const warnings of [1, 0]) {
      if (errors + warnings === 0) continue;
      const cells = rowCells(row({ resources: 7, failed: 0, errors, warnings }), layoutColumns(160), true);
      t.false(cells.some((c) => /\bok\b/.test(c.text)), JSON.stringify(cells));
      t.is(cells[columnsAt160.findIndex((c) => c.key === 'multistatus')]!.style, errors > 0 ? 'error' : 'warning');
    }
  }
});

test('finding badges list severities worst first and take the worst one\'s style', (t) => {
  t.deepEqual(findingBadges(row()), { text: 'E2 W1', style: 'error' });
  t.deepEqual(findingBadges(row({ errors: 0, warnings: 0, infos: 4 })), { text: 'I4', style: 'info' });
  t.deepEqual(findingBadges(row({ errors: 0, warnings: 0 })), { text: '', style: 'normal' });
});

test('transport errors and fault injection are marked in front of the row', (t) => {
  t.is(rowMarker(row()).text, '');
  t.deepEqual(rowMarker(row({ outcome: 'upstream-aborted' })), { text: '!', style: 'error' });
  t.deepEqual(rowMarker(row({ injected: 'truncate:32k' })), { text: '*', style: 'injected' });
  t.is(rowMarker(row({ outcome: 'timeout', injected: 'slow' })).text, '!*');
  // Sandwich mode: the leg, and whether a front flow reached the origin.
  t.is(rowMarker(row({ leg: 'front', pairedWith: 'b-1' })).text, 'f');
  t.is(rowMarker(row({ leg: 'front', pairedWith: null })).text, 'g');
  t.is(rowMarker(row({ leg: 'back' })).text, 'b');
  t.is(rowMarker(row({ leg: 'front', outcome: 'upstream-aborted' })).text, '!g');
});

test('a flow without a response shows its outcome instead of a status', (t) => {
  t.deepEqual(statusCell(row({ status: null, outcome: 'error' })), { text: 'ERR', style: 'error' });
  t.deepEqual(statusCell(row({ status: null, outcome: 'timeout' })), { text: 'TMO', style: 'error' });
  t.is(statusCell(row({ status: 423 })).style, 'client-error');
  t.is(statusCell(row({ status: 502 })).style, 'server-error');
});

test('every cell is exactly its column wide, and the row fills the terminal width', (t) => {
  for (const width of [160, 120, 80, 60]) {
    const columns = layoutColumns(width);
    const cells = rowCells(row({ path: '/dav/' + 'deep/'.repeat(40) + 'file.txt' }), columns, true);
    t.true(cells.every((c) => !/^\s/.test(c.text) || c.text.trim() === '' || columns[cells.indexOf(c)]!.align === 'right' || c.text.startsWith(' ')));
    cells.forEach((c, i) => t.is(c.text.length, columns[i]!.width, `${columns[i]!.key} at ${width}`));
    t.is(rowText(row(), columns, true).length, width, `row fills ${width} columns`);
    t.is(headerCells(columns).length, columns.length);
  }
});

test('the row shows time, method, status, path, size, duration, 207 summary and badges', (t) => {
  const text = rowText(row(), layoutColumns(160), true);
  t.regex(text, /^ {2} 14:03:27\.512 {3}PROPFIND +207 +\/dav\/projects\/ +50k +1\.53s +E 3\/120 failed +E2 W1 *$/);
});

test('long paths are elided in the middle, keeping their start and last segment', (t) => {
  t.is(fitMiddle('/cal/user/calendar/deeper/event.ics', 21), '/cal/user/…/event.ics');
  t.is(fitMiddle('/cal/user/calendar/deeper/', 21), '/cal/user/…/deeper/  ');
  t.is(fitMiddle('/short', 10), '/short    ');
  t.is(fitMiddle('/a/' + 'x'.repeat(40), 12), '/a/xxx…xxxxx');
  for (const w of [3, 8, 13, 30]) t.is(fitMiddle('/dav/some/where/in/a/tree/file-name.txt', w).length, w);
  t.is(fitTail('/dav/a/very/long/path/file.txt', 12), '~th/file.txt');
  t.is(fit('207', 5, 'right'), '  207');
});

test('long methods are never cut: the method column grows for the rows on screen', (t) => {
  for (const method of ['MKCALENDAR', 'PROPPATCH', 'VERSION-CONTROL']) {
    const r = row({ method });
    t.regex(rowText(r, layoutColumns(80, [r]), true), new RegExp(` ${method} +207 `));
  }
  t.is(layoutColumns(160).find((c) => c.key === 'method')!.width, 10);
});

test('a REPORT row names its report before the path, and the path takes the free width at 80 columns', (t) => {
  const r = row({ method: 'REPORT', report: 'calendar-multiget', path: '/cal/user/calendars/personal/', errors: 0, warnings: 0, infos: 0, failed: 0 });
  const text = rowText(r, layoutColumns(160, [r]), true);
  t.regex(text, / REPORT +207 +calendar-multiget \/cal\/user\/calendars\/personal\/ +50k +1\.53s +120 ok/);
  const narrow = layoutColumns(80, [r]);
  t.is(rowText(r, narrow, true).length, 80);
  t.true(narrow.find((c) => c.key === 'path')!.width >= 24, 'at 80 columns the path keeps at least 24 columns');
  t.regex(rowText(r, narrow, true), / REPORT +207 +calendar-multiget \/cal\/…\/personal\/ +50k /);
  t.regex(rowText(r, layoutColumns(110, [r]), true), / REPORT +207 +calendar-multiget \/cal\/user\/…\/personal\/ /);
  t.is(pathText({ path: '/a/b/', report: 'sync-collection' }), 'sync-collection /a/b/');
});

test('narrow terminals drop duration, size and time before squeezing the path', (t) => {
  const keys = (w: number) => layoutColumns(w).map((c) => c.key);
  t.true(keys(160).includes('duration'));
  t.false(keys(70).includes('duration'));
  t.true(keys(80).includes('size'), 'the size (did the body get cut?) stays longest');
  t.true(layoutColumns(70).find((c) => c.key === 'path')!.width >= 20);
});

test('sizes and durations are short and human', (t) => {
  t.is(formatSize(512), '512b');
  t.is(formatSize(32_768), '32k');
  t.is(formatSize(1536), '1.5k');
  t.is(formatSize(5 * 1024 * 1024), '5.0M');
  t.is(formatSize(null), '-');
  t.is(formatDuration(42), '42ms');
  t.is(formatDuration(125_000), '2m05s');
});

test('control characters in a path cannot move the terminal cursor', (t) => {
  const text = rowText(row({ path: '/dav/\u001b[2Jevil\r\n' }), layoutColumns(160), true);
  t.false([...text].some((ch) => ch.charCodeAt(0) < 0x20), JSON.stringify(text));
});

test('forward-mode rows name the host, since one proxy then serves many servers', (t) => {
  const columns = layoutColumns(160);
  t.regex(rowText(row({ mode: 'forward', host: 'dav.example.org:8443' }), columns, true), / dav\.example\.org:8443\/dav\/projects\/ /);
  t.regex(rowText(row({ mode: 'reverse', host: 'dav.example.org:8443' }), columns, true), / \/dav\/projects\/ /);
});

test('a TLS client connection is marked with T just before the method; the columns stay aligned', (t) => {
  t.deepEqual(tlsCell(row({ clientTls: true })), { text: 'T', style: 'ok' });
  t.deepEqual(tlsCell(row({ clientTls: false })), { text: '', style: 'normal' });
  t.deepEqual(tlsCell(row()), { text: '', style: 'normal' }, 'rows without the field (older callers) are plain');
  for (const width of [160, 80, 60]) {
    const columns = layoutColumns(width);
    const tls = rowText(row({ clientTls: true, outcome: 'timeout', injected: 'slow' }), columns, true);
    const plain = rowText(row(), columns, true);
    t.is(tls.length, width);
    t.is(plain.length, width);
    // Every column starts at the same place in both rows: only the T differs (and the markers).
    const at = tls.indexOf('PROPFIND');
    t.is(at, plain.indexOf('PROPFIND'), `method column at ${width}`);
    t.is(tls[at - 2], 'T');
    t.is(plain[at - 2], ' ');
    t.is(tls.slice(at), plain.slice(at));
  }
  t.regex(rowText(row({ clientTls: true }), layoutColumns(160), true), /^ {2} 14:03:27\.512 T PROPFIND +207/);
});

test('the header names the mode, listener, upstream, flow count and database', (t) => {
  const base = { dbPath: '/tmp/cap/flows.db', total: 1234, cursor: 9, filterText: '', findingsView: false, follow: false, pending: 0, snapshot: false };
  t.is(
    headerText({ ...base, run: { mode: 'reverse', listen: ['http://127.0.0.1:8080/'], upstream: 'https://dav.example/' } }),
    'davtap  reverse http://127.0.0.1:8080/ → https://dav.example/   1,234 flows   10/1,234   db /tmp/cap/flows.db',
  );
  t.is(
    headerText({ ...base, run: { mode: 'reverse', listen: ['http://0.0.0.0:8080/'], upstream: 'http://origin/', publicUrl: 'https://dav.example/' }, follow: true, pending: 3 }),
    'davtap  reverse http://0.0.0.0:8080/ → http://origin/ (clients use https://dav.example/)   1,234 flows   10/1,234   [follow]   [3 being written]   db /tmp/cap/flows.db',
  );
  t.regex(headerText({ ...base, run: { mode: 'forward', listen: ['http://127.0.0.1:3128/'] }, findingsView: true, filterText: '~c 207' }), /^davtap {2}forward proxy http:\/\/127\.0\.0\.1:3128\/ {3}1,234 flows with findings matching ~c 207 /);
  t.regex(headerText({ ...base, run: null, total: 0, snapshot: true }), /^davtap {2}no proxy run recorded {3}0 flows {3}\[snapshot\] {3}db \/tmp\/cap\/flows\.db$/);
  // A count still being taken is a lower bound, and says so.
  t.regex(headerText({ ...base, run: null, filterText: '~h Depth', counting: true }), / {3}1,234\+ flows matching ~h Depth \(counting…\) {3}10\/1,234\+ {3}/);
  t.regex(headerText({ ...base, run: null, total: 1, cursor: 0, counting: true }), / {3}1\+ flows \(counting…\) {3}1\/1\+ {3}/);
  t.is(
    headerText({ ...base, run: { mode: 'sandwich', front: 'http://127.0.0.1:8080/', gateway: 'http://127.0.0.1:8081/', back: 'http://127.0.0.1:8082/', origin: 'http://127.0.0.1:8000/' } }),
    'davtap  sandwich http://127.0.0.1:8080/ → gateway http://127.0.0.1:8081/ → http://127.0.0.1:8082/ → origin http://127.0.0.1:8000/   1,234 flows   10/1,234   db /tmp/cap/flows.db',
  );
});

test('a marked flow carries # in front of its row, before the other markers', (t) => {
  t.is(rowMarker({ outcome: 'complete', injected: null, leg: null, pairedWith: null, marked: true }).text, '#');
  t.is(rowMarker({ outcome: 'upstream-aborted', injected: null, leg: null, pairedWith: null, marked: true }).text, '#!');
  t.is(rowMarker({ outcome: 'complete', injected: null, leg: null, pairedWith: null, marked: false }).text, '');
});

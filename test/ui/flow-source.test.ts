// What the UI reads from the store, as the panels get it: credentials masked unless --show-secrets.
import test from 'ava';
import { renderTab, tabs } from '../../ui/detail-model.js';
import { openStoreSource } from '../../ui/flow-source.js';
import { layoutColumns, rowText } from '../../ui/view-model.js';
import { captureFlow, storeWith } from '../export/flows.js';

// A real 207 whose Location carries a token, so the real analyzer's MS210 quotes it.
async function secretDb(t: Parameters<typeof storeWith>[0]): Promise<string> {
  const flow = captureFlow('apache-propfind-d1-allprop', 0, {
    query: '?token=UI-QUERY-SECRET',
    requestHeaders: ['Authorization', 'Basic UI-AUTH-SECRET'],
    responseHeaders: ['Location', 'http://x/a?token=UI-LOCATION-SECRET'],
  });
  t.true(flow.analysis!.findings.some((f) => f.rule === 'MS210' && f.message.includes('UI-LOCATION-SECRET')));
  const { file } = await storeWith(t, [flow]);
  return file;
}

/** Everything the UI can show of the database: the list row and every detail tab. */
function screenText(db: string, showSecrets: boolean): { row: string; tabs: Map<string, string> } {
  const source = openStoreSource(db, { showSecrets });
  try {
    const [row] = source.list(null, 0, 10);
    const flow = source.getFlow(row!.id)!;
    const shown = new Map(tabs.map((tab) => [tab, renderTab(flow, tab, { width: 200 }).map((l) => l.text).join('\n')]));
    return { row: rowText(row!, layoutColumns(200)), tabs: shown };
  } finally {
    source.close();
  }
}

test('the list and every detail tab mask a ?token= URL, the Authorization and the finding text by default', async (t) => {
  const { row, tabs: shown } = screenText(await secretDb(t), false);
  t.regex(row, /\/dav\/\?token=%5Bredacted%5D/);
  for (const [tab, text] of [['list', row] as const, ...shown]) t.false(/UI-[A-Z]+-SECRET/.test(text), `${tab}: ${/.*UI-[A-Z]+-SECRET.*/.exec(text)?.[0]}`);
  t.regex(shown.get('Findings')!, /Location header on a 207 \(http:\/\/x\/a\?token=%5Bredacted%5D\)/);
  t.regex(shown.get('Request')!, /^Authorization: \[redacted\]$/m);
});

test('--show-secrets shows them as recorded', async (t) => {
  const { row, tabs: shown } = screenText(await secretDb(t), true);
  t.regex(row, /\/dav\/\?token=UI-QUERY-SECRET/);
  t.regex(shown.get('Findings')!, /token=UI-LOCATION-SECRET/);
  t.regex(shown.get('Request')!, /^Authorization: Basic UI-AUTH-SECRET$/m);
});

// The pair view's lines (ui/pair-model.ts): both legs of a sandwich flow side by side, the
// headers that differ, and the two 207s resource by resource; unmatched flows say so.
import test from 'ava';
import type { Finding, Flow } from '../../src/types.js';
import { headerDiff, legPrefixMap, renderPair } from '../../ui/pair-model.js';

const ms = (hrefs: string[], extra = '') =>
  Buffer.from(
    `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">${hrefs
      .map((h) => `<D:response><D:href>${h}</D:href><D:propstat><D:prop><D:getetag>"1"</D:getetag>${extra}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`)
      .join('')}</D:multistatus>`,
  );

function flow(id: string, leg: 'front' | 'back', url: string, body: Buffer | null, extra: Partial<Flow> = {}, headers: string[] = ['Content-Type', 'application/xml']): Flow {
  return {
    id,
    mode: 'reverse',
    leg,
    client: { address: '127.0.0.1', port: 1 },
    timings: { start: 1, firstByte: 2, end: 3 },
    request: { method: 'PROPFIND', url, target: new URL(url).pathname, httpVersion: '1.1', rawHeaders: ['Host', new URL(url).host, 'Depth', '1'], body: { bytes: Buffer.alloc(0), bytesSeen: 0, captureComplete: true } },
    response: body && { status: 207, reason: 'Multi-Status', httpVersion: '1.1', rawHeaders: headers, framing: 'content-length', declaredLength: body.length, body: { bytes: body, bytesSeen: body.length, captureComplete: true }, decoded: null, informational: [], rawTrailers: [] },
    outcome: { kind: 'complete' },
    ...extra,
  };
}

const text = (lines: { text: string }[]) => lines.map((l) => l.text).join('\n');
const ms804: Finding = { rule: 'MS804', severity: 'error', category: 'semantic', blame: 'gateway', message: 'via rewrote hrefs to http://10.0.0.1/', evidence: {} };

test('a rewritten href is named as each leg has it, a dropped resource as missing, and the MS8xx findings of the front flow are listed', (t) => {
  const back = flow('b1', 'back', 'http://127.0.0.1:9000/dav/c/', ms(['/dav/c/', '/dav/c/a.ics', '/dav/c/b.ics']));
  const front = flow('f1', 'front', 'http://127.0.0.1:8081/gw/dav/c/', ms(['http://10.0.0.1/gw/dav/c/', '/gw/dav/c/a.ics']), {
    pairedWith: 'b1',
    analysis: { findings: [ms804], resources: [], summary: { resources: 2, failedResources: 0, byStatus: {}, findings: { error: 1, warning: 0, info: 0 }, text: '' } },
  });
  const out = text(renderPair({ opened: front, other: back }));
  t.regex(out, /Pair: front f1 +↔ +back b1/);
  t.regex(out, /request +PROPFIND 127\.0\.0\.1:8081\/gw\/dav\/c\/ +PROPFIND 127\.0\.0\.1:9000\/dav\/c\//);
  t.regex(out, /\[E\] MS804 +via rewrote hrefs/);
  t.regex(out, /href +front http:\/\/10\.0\.0\.1\/gw\/dav\/c\/ +← +back \/dav\/c\//);
  t.regex(out, /- \/dav\/c\/b\.ics +missing in front/);
  t.regex(out, /paths \/gw\/ = origin \//);
  t.regex(out, /1 of 3 resources the same on both legs/);
  // Opened from the back flow: the same pair, the same sides.
  t.is(text(renderPair({ opened: back, other: front })), out);
});

test('identical answers: no gateway difference, every resource the same', (t) => {
  const body = ms(['/d/', '/d/x']);
  const out = text(renderPair({ opened: flow('f', 'front', 'http://h:1/d/', body, { pairedWith: 'b' }), other: flow('b', 'back', 'http://o:2/d/', body) }));
  t.regex(out, /none: the gateway passed this answer on as the origin sent it/);
  t.regex(out, /all 2 resources the same on both legs/);
});

test('a property the gateway lost is named', (t) => {
  const back = flow('b', 'back', 'http://o:2/d/', ms(['/d/x'], '<D:displayname>X</D:displayname>'));
  const front = flow('f', 'front', 'http://h:1/d/', ms(['/d/x']), { pairedWith: 'b' });
  t.regex(text(renderPair({ opened: front, other: back })), /D:displayname removed in front \(back: 200\)/);
});

test('unmatched flows say so: a front flow the gateway answered itself, a back flow no front flow claims, a pair whose other leg is gone', (t) => {
  const front = flow('f', 'front', 'http://h:1/status', Buffer.from('ok'), {}, ['Content-Type', 'text/plain']);
  const alone = text(renderPair({ opened: front, other: null }));
  t.regex(alone, /unmatched: the gateway answered this request itself/);
  t.regex(alone, /Pair: front f +↔ +back —/);
  t.notRegex(alone, /Resources \(front vs back/);
  t.regex(text(renderPair({ opened: flow('b', 'back', 'http://o:2/d/', ms([])), other: null })), /unmatched: no front flow claims this back flow/);
  t.regex(text(renderPair({ opened: flow('f', 'front', 'http://h:1/d/', ms([]), { pairedWith: 'gone' }), other: undefined })), /The other leg \(flow gone\) is no longer in the database/);
});

test('header differences: changed, front only, back only; per-leg headers dimmed', (t) => {
  const lines = headerDiff(['Content-Type', 'text/html', 'Via', '1.1 gw', 'Date', 'a'], ['Content-Type', 'application/xml', 'Server', 'Apache', 'Date', 'b']);
  const out = text(lines);
  t.regex(out, /~ Content-Type: text\/html {2}← {2}application\/xml/);
  t.regex(out, /\+ Via: 1\.1 gw {3}\(front only\)/);
  t.regex(out, /- Server: Apache {3}\(back only\)/);
  t.is(lines.find((l) => l.text.includes('Date'))?.style, 'dim');
  t.is(lines.find((l) => l.text.includes('Content-Type'))?.style, 'warning');
  t.is(text(headerDiff(['A', '1'], ['a', '1'])), '  none');
});

test('the legs\' path prefixes are found from the two request paths', (t) => {
  t.deepEqual(legPrefixMap('http://g/gw/dav/c/', 'http://o/dav/c/'), { via: '/gw/', origin: '/' });
  t.deepEqual(legPrefixMap('http://g/dav/c/', 'http://o/dav/c/'), { via: '/', origin: '/' });
  t.deepEqual(legPrefixMap('http://g/a/x.ics', 'http://o/b/x.ics'), { via: '/a/', origin: '/b/' });
});

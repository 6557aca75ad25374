// The per-resource multistatus diff shared by verify and replay: what it names, what it counts.
import test from 'ava';
import { readMultistatus } from '../../src/analysis/compare.js';
import { diffMultistatus, volatileProperties } from '../../src/analysis/multistatus-diff.js';

interface R {
  href: string;
  status?: string;
  props?: [string, string, string?][];
}

/** A multistatus body; responses and properties in the order given, each prop `[name, value, status]`. */
function ms(responses: R[], reverse = false): string {
  const body = responses.map((r) => {
    if (r.status) return `<d:response><d:href>${r.href}</d:href><d:status>HTTP/1.1 ${r.status}</d:status></d:response>`;
    const byStatus = new Map<string, string[]>();
    for (const [name, value, status = '200 OK'] of r.props ?? []) {
      const list = byStatus.get(status) ?? [];
      list.push(value === '' ? `<${name}/>` : `<${name}>${value}</${name}>`);
      byStatus.set(status, list);
    }
    const propstats = [...byStatus].map(([st, props]) => `<d:propstat><d:prop>${props.join('')}</d:prop><d:status>HTTP/1.1 ${st}</d:status></d:propstat>`);
    return `<d:response><d:href>${r.href}</d:href>${(reverse ? propstats.reverse() : propstats).join('')}</d:response>`;
  });
  return `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:x="urn:x">${(reverse ? body.reverse() : body).join('')}</d:multistatus>`;
}

const base: R[] = [
  { href: '/dav/', props: [['d:resourcetype', '<d:collection/>'], ['d:getetag', '"1"'], ['x:color', 'red'], ['d:quota-used-bytes', '', '404 Not Found']] },
  { href: '/dav/a.txt', props: [['d:getcontentlength', '5'], ['d:getetag', '"2"'], ['d:getlastmodified', 'Mon, 07 Dec 2026 10:00:00 GMT']] },
  { href: '/dav/gone', status: '404 Not Found' },
];

test('the same answer serialized in another order (responses, propstats, prefixes) differs in nothing', (t) => {
  const other = ms(base, true).replace(/d:/g, 'D:').replace('xmlns:d=', 'xmlns:D=');
  const d = diffMultistatus(readMultistatus(ms(base)), readMultistatus(other), { values: true });
  t.deepEqual(d.resources, []);
  t.is(d.counted, 0);
  t.is(d.beforeResponses, 3);
});

test('added, missing, status and property changes are named per resource and counted', (t) => {
  const after: R[] = [
    { href: '/dav/', props: [['d:resourcetype', '<d:collection/>'], ['x:color', 'red', '403 Forbidden'], ['d:quota-used-bytes', '', '404 Not Found'], ['x:new', '1']] },
    { href: '/dav/a.txt', status: '423 Locked' },
    { href: '/dav/b.txt', status: '200 OK' },
  ];
  const d = diffMultistatus(readMultistatus(ms(base)), readMultistatus(ms(after)));
  const byKey = new Map(d.resources.map((r) => [r.key, r]));
  const root = byKey.get('/dav/')!;
  t.deepEqual(
    root.properties.map((c) => `${c.kind} ${c.name}`),
    ['removed {DAV:}getetag', 'status {urn:x}color', 'added {urn:x}new'],
  );
  t.is(root.properties[1]!.before!.status, 200);
  t.is(root.properties[1]!.after!.status, 403);
  const a = byKey.get('/dav/a.txt')!;
  t.true(a.statusChanged);
  t.is(a.after!.status, 423);
  t.is(byKey.get('/dav/gone')!.kind, 'missing');
  t.is(byKey.get('/dav/b.txt')!.kind, 'added');
  // 3 on the root, a.txt's status and its 3 properties gone, gone missing, b.txt added.
  t.is(d.counted, 3 + 1 + 3 + 1 + 1);
});

test('value changes count only with values; volatile ones are listed and never counted by default', (t) => {
  const after = structuredClone(base);
  after[0]!.props![2] = ['x:color', 'blue'];
  after[1]!.props![1] = ['d:getetag', '"3"'];
  after[1]!.props![2] = ['d:getlastmodified', 'Mon, 07 Dec 2026 11:00:00 GMT'];
  const before = readMultistatus(ms(base));
  const now = readMultistatus(ms(after));

  const plain = diffMultistatus(before, now);
  t.is(plain.counted, 0);
  t.is(plain.uncounted, 2);
  t.deepEqual(plain.resources.flatMap((r) => r.properties.map((c) => `${c.name} ${c.volatile}`)), ['{DAV:}getetag true', '{DAV:}getlastmodified true']);

  const values = diffMultistatus(before, now, { values: true });
  t.is(values.counted, 1);
  t.is(values.uncounted, 2);
  t.is(values.resources[0]!.properties[0]!.after!.value, 'blue');

  t.is(diffMultistatus(before, now, { volatile: true }).counted, 3);
  t.true(volatileProperties.includes('{DAV:}lockdiscovery'));
});

test('hrefs compare normalized: percent-encoding and absolute URIs on the same path are one resource', (t) => {
  const after = structuredClone(base);
  after[1]!.href = 'http://127.0.0.1:9/dav/%61.txt';
  t.is(diffMultistatus(readMultistatus(ms(base)), readMultistatus(ms(after))).counted, 0);
  // A key function that keeps the authority tells them apart.
  const keyOf = (h: string) => (h.startsWith('http') ? h : `local:${h}`);
  const d = diffMultistatus(readMultistatus(ms(base)), readMultistatus(ms(after)), { keyOf });
  t.deepEqual(d.resources.map((r) => r.kind).sort(), ['added', 'missing']);
});

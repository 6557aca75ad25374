// One HTTP/1 wire core: no file in src/ or ui/ outside src/http/ finds the end of a head, parses a
// hex chunk size or looks a header up in a raw header list with a loop of its own. They call
// src/http/ (findHeadEnd, readResponse, BodyFramer, firstHeader/headerValues/joinedHeader) instead.
//
// How the scan (test/helpers/wire-core-scan.ts) tells parsing from serialising: a CRLF CRLF counts
// only when it is searched for (the argument of indexOf, lastIndexOf, includes, search or split,
// directly or through a constant), never when it is written into a message such as
// socket.write('HTTP/1.1 200 OK\r\n\r\n…') or a head built by concatenation.
import test from 'ava';
import { scanSource, WIRE_CORE, wireFiles, wireFolders, wireHits } from '../helpers/wire-core-scan.js';

test('nothing outside src/http/ parses HTTP/1 wire framing or looks headers up itself', (t) => {
  const offenders = wireHits().filter((h) => !h.file.startsWith(WIRE_CORE));
  t.deepEqual(
    offenders.map((h) => `${h.file}:${h.line} ${h.kind}: ${h.text}`),
    [],
    'use src/http/ (findHeadEnd, readResponse, BodyFramer, firstHeader, headerValues, joinedHeader)',
  );
  const files = wireFiles();
  t.log(`wire-files=${files.length} in ${wireFolders(files).length} folder(s): ${files.join(', ')}`);
});

test('the wire core itself is found by the scan (it would not notice a pattern that stopped matching otherwise)', (t) => {
  const core = new Set(wireHits().filter((h) => h.file.startsWith(WIRE_CORE)).map((h) => h.kind));
  t.deepEqual([...core].sort(), ['chunk-size', 'head-end', 'header-lookup']);
});

test('the scan flags searches for a head end, hex chunk sizes and header loops, not a head being written', (t) => {
  const kinds = (text: string) => scanSource('x.ts', text).map((h) => h.kind);
  // Parsing.
  t.deepEqual(kinds(`const end = buf.indexOf('\\r\\n\\r\\n');`), ['head-end']);
  t.deepEqual(kinds(`if (head.includes("\\r\\n\\r\\n")) answer();`), ['head-end']);
  t.deepEqual(kinds(`const HEAD_END = Buffer.from('\\r\\n\\r\\n');\nconst at = all.indexOf(HEAD_END, from);`), ['head-end']);
  t.deepEqual(kinds(`// the next chunk\nconst size = parseInt(m[1]!, 16);`), ['chunk-size']);
  t.deepEqual(kinds(`for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];`), ['header-lookup']);
  t.deepEqual(kinds(`const at = raw.findIndex((v, i) => i % 2 === 0 && v.toLowerCase() === 'host');`), ['header-lookup']);
  t.deepEqual(kinds(`for (const [k, v] of headerPairs(raw)) if (k.toLowerCase() === lower) return v;`), ['header-lookup']);
  t.deepEqual(kinds(`return pairs.filter(([k]) => k.toLowerCase() === name.toLowerCase());`), ['header-lookup']);
  t.deepEqual(kinds(`if (rawHeaders[i] === 'content-type') return rawHeaders[i + 1];`), ['header-lookup']);
  // Serialising, and hex that is not a chunk size.
  t.deepEqual(kinds(`socket.write('HTTP/1.1 200 Connection Established\\r\\n\\r\\n');`), []);
  t.deepEqual(kinds(`const bytes = Buffer.from(lines.join('\\r\\n') + '\\r\\n\\r\\n', 'latin1');`), []);
  t.deepEqual(kinds(`const ch = String.fromCharCode(parseInt(hex, 16)); // %XX in an href`), []);
  t.deepEqual(kinds(`for (let i = 0; i + 1 < raw.length; i += 2) lines.push(\`\${raw[i]}: \${raw[i + 1]}\`);`), []);
});

test('the counting function names files and their folders', (t) => {
  const files = wireFiles();
  t.true(files.length > 0);
  t.true(files.every((f) => /^(src|ui)\//.test(f)));
  t.true(wireFolders(files).includes(WIRE_CORE));
});

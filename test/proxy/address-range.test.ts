// The allow-list rule on its own: addresses, CIDR ranges and their edges, IPv4-mapped IPv6.
import test from 'ava';
import { clientAllowedBy, isLoopbackAddress, parseAddress, parseRange, rangeContains } from '../../src/proxy/address-range.js';

const range = (text: string) => {
  const r = parseRange(text);
  if (!r) throw new Error(`not a range: ${text}`);
  return r;
};
const contains = (r: string, address: string) => rangeContains(range(r), parseAddress(address)!);

test('an IPv4-mapped IPv6 address is read as the IPv4 address it carries', (t) => {
  t.deepEqual(parseAddress('::ffff:10.1.2.3'), parseAddress('10.1.2.3'));
  t.deepEqual(parseAddress('::FFFF:a01:203'), parseAddress('10.1.2.3'));
  t.is(parseAddress('::ffff:10.1.2.3')!.family, 4);
  // Only ::ffff:0:0/96 is mapped: the deprecated IPv4-compatible form stays IPv6.
  t.is(parseAddress('::10.1.2.3')!.family, 6);
});

test('IPv6 addresses are expanded whatever their notation; zones and brackets are ignored', (t) => {
  t.deepEqual(parseAddress('2001:db8::1'), parseAddress('2001:0db8:0000:0000:0000:0000:0000:0001'));
  t.deepEqual(parseAddress('[fe80::1%eth0]'), parseAddress('fe80::1'));
  t.deepEqual([...parseAddress('::')!.bytes], Array(16).fill(0));
  t.deepEqual([...parseAddress('1::')!.bytes], [0, 1, ...Array(14).fill(0)]);
  t.is(parseAddress('localhost'), null);
  t.is(parseAddress('10.0.0.256'), null);
  t.is(parseAddress(''), null);
});

test('loopback is 127.0.0.0/8, ::1 and their mapped forms, and nothing else', (t) => {
  for (const a of ['127.0.0.1', '127.255.255.254', '127.0.0.2', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) t.true(isLoopbackAddress(a), a);
  for (const a of ['128.0.0.1', '126.255.255.255', '0.0.0.0', '::', '::2', '::ffff:10.0.0.1', '10.0.0.1', 'localhost', 'example.org', '']) t.false(isLoopbackAddress(a), a);
});

test('an IPv4 range admits exactly its addresses, at both edges', (t) => {
  t.true(contains('10.0.0.0/8', '10.0.0.0'));
  t.true(contains('10.0.0.0/8', '10.255.255.255'));
  t.false(contains('10.0.0.0/8', '9.255.255.255'));
  t.false(contains('10.0.0.0/8', '11.0.0.0'));
  // A prefix that does not fall on a byte boundary.
  t.true(contains('192.168.4.0/22', '192.168.7.255'));
  t.false(contains('192.168.4.0/22', '192.168.8.0'));
  t.false(contains('192.168.4.0/22', '192.168.3.255'));
  t.true(contains('172.16.0.0/12', '172.31.1.1'));
  t.false(contains('172.16.0.0/12', '172.32.0.0'));
  // Bits past the prefix are ignored, as most tools do.
  t.true(contains('10.1.2.3/8', '10.200.0.1'));
});

test('a single address is a /32 or /128; /0 is everything of its family', (t) => {
  t.true(contains('192.0.2.7', '192.0.2.7'));
  t.false(contains('192.0.2.7', '192.0.2.8'));
  t.true(contains('2001:db8::7', '2001:db8::7'));
  t.false(contains('2001:db8::7', '2001:db8::8'));
  t.true(contains('0.0.0.0/0', '203.0.113.9'));
  t.false(contains('0.0.0.0/0', '2001:db8::1'));
});

test('IPv4 clients on a dual-stack listener match IPv4 ranges, and mapped ranges match IPv4 clients', (t) => {
  t.true(contains('10.0.0.0/8', '::ffff:10.9.8.7'));
  t.false(contains('10.0.0.0/8', '::ffff:11.0.0.1'));
  const mapped = range('::ffff:10.0.0.0/104');
  t.is(mapped.family, 4);
  t.is(mapped.prefix, 8);
  t.true(contains('::ffff:10.0.0.0/104', '10.3.3.3'));
  t.false(contains('::ffff:10.0.0.0/104', '11.3.3.3'));
  // An IPv6 range wide enough to include ::ffff:0:0/96 covers IPv4 clients too.
  t.true(contains('::/0', '198.51.100.1'));
  t.false(contains('2001:db8::/32', '198.51.100.1'));
});

test('an IPv6 range admits exactly its addresses, at both edges', (t) => {
  t.true(contains('fd00::/8', 'fd12:3456::1'));
  t.true(contains('fd00::/8', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'));
  t.false(contains('fd00::/8', 'fc00::1'));
  t.false(contains('fd00::/8', 'fe00::'));
  t.true(contains('2001:db8:abcd::/46', '2001:db8:abcf:ffff::1'));
  t.false(contains('2001:db8:abcd::/46', '2001:db8:abd0::'));
  t.false(contains('fd00::/8', '10.0.0.1'));
});

test('what is not a range is refused', (t) => {
  for (const text of ['', '10.0.0.0/33', '::/129', '10.0.0.0/', '/8', '10.0.0/8', 'example.org', 'example.org/24', 'fe80::1%eth0', '10.0.0.0/8/8', '10.0.0.0/-1', '1.2.3.4.5']) {
    t.is(parseRange(text), null, text);
  }
  t.is(parseRange(' 10.0.0.0/8 ')!.text, '10.0.0.0/8');
});

test('the admission rule: loopback always, then the ranges; an unreadable address is refused', (t) => {
  const none = clientAllowedBy([]);
  t.true(none('127.0.0.1'));
  t.true(none('::1'));
  t.true(none('::ffff:127.0.0.1'));
  t.false(none('10.0.0.1'));
  t.false(none('::ffff:10.0.0.1'));
  t.false(none(''));
  const some = clientAllowedBy([range('10.0.0.0/8'), range('2001:db8::/32')]);
  t.true(some('10.1.1.1'));
  t.true(some('::ffff:10.1.1.1'));
  t.true(some('2001:db8::5'));
  t.true(some('127.0.0.1'));
  t.false(some('192.168.1.1'));
  t.false(some('2001:db9::5'));
  t.false(some('not an address'));
});

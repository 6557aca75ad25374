import test from 'ava';
import { parseMediaType } from '../../src/http/headers.js';

test('a Content-Type gives its lower-cased essence and charset, quoted or not, wherever the charset stands', (t) => {
  t.is(parseMediaType(undefined), undefined);
  t.deepEqual(parseMediaType('text/xml'), { essence: 'text/xml' });
  t.deepEqual(parseMediaType(' Application/XML ; charset="UTF-8"'), { essence: 'application/xml', charset: 'utf-8' });
  t.deepEqual(parseMediaType('text/xml;charset=ISO-8859-1'), { essence: 'text/xml', charset: 'iso-8859-1' });
  t.deepEqual(parseMediaType('text/calendar; component=vevent; CHARSET = utf-8 ;x=1'), { essence: 'text/calendar', charset: 'utf-8' });
  // A parameter without '=' or a lone quote is taken as it stands, never thrown on.
  t.deepEqual(parseMediaType('text/xml; charset; charset="'), { essence: 'text/xml', charset: '"' });
  t.deepEqual(parseMediaType(';'), { essence: '' });
});

#!/usr/bin/python3
# A CalDAV/CardDAV session as a calendar client makes it, with Debian's python3-caldav (0.11):
# principal discovery, MKCALENDAR, PUTs of real objects (VTIMEZONE + RRULE + EXDATE + VALARM +
# RECURRENCE-ID, an all-day event, VTODO, VJOURNAL, events with non-ASCII text and long folded
# lines), calendar-query (all, time range, VTODO, by UID), calendar-multiget, sync-collection
# (initial, after a change, after a delete), then an address book made by extended MKCOL (RFC
# 5689) with vCards 3.0 and 4.0, addressbook-query, addressbook-multiget and sync-collection on it.
#
#   /usr/bin/python3 bench/interop/caldav-session.py URL USER PASSWORD OBJECTS_DIR
#
# URL is the server's root as the client sees it (davtap in reverse mode); OBJECTS_DIR holds the
# .ics/.vcf objects (test/fixtures/servers/payloads). Prints one JSON object with what each step
# got back, so the caller can tell that the session really exercised the server; exits 1 with
# the step's name on the first step that failed.
import datetime
import json
import os
import sys
import uuid

import caldav
from caldav.elements import dav

URL, USER, PASSWORD, OBJECTS = sys.argv[1:5]
SUFFIX = uuid.uuid4().hex[:8]
out = {}


def step(name):
    def wrap(fn):
        try:
            out[name] = fn()
        except Exception as e:  # the step's name and the client's own error, for the report
            out['failed'] = f'{name}: {type(e).__name__}: {e}'
            print(json.dumps(out, default=str))
            sys.exit(1)
        return fn
    return wrap


def text(res):
    raw = res.raw
    return raw.decode('utf-8') if isinstance(raw, bytes) else raw


def read(name):
    with open(os.path.join(OBJECTS, name), encoding='utf-8') as f:
        return f.read()


def generated_event(i):
    # Long non-ASCII lines folded by the server or not at all: both are real traffic.
    description = ('Ordre du jour : budget, feuille de route, rétrospective — Zoë, Ångström, 東京. ' * 4).strip()
    return '\r\n'.join([
        'BEGIN:VCALENDAR',
        'VERSION:2.0',
        'PRODID:-//davtap//caldav session//EN',
        'BEGIN:VEVENT',
        f'UID:gen-{i}-{SUFFIX}@davtap.test',
        'DTSTAMP:20240105T080000Z',
        f'DTSTART:202402{10 + i:02d}T090000Z',
        f'DTEND:202402{10 + i:02d}T100000Z',
        'RRULE:FREQ=DAILY;COUNT=3',
        f'SUMMARY:Réunion n° {i} — ünïcödé',
        f'DESCRIPTION:{description}',
        'LOCATION:Salle Émile-Zola\\, 3ᵉ étage',
        'BEGIN:VALARM',
        'ACTION:DISPLAY',
        'DESCRIPTION:Rappel',
        'TRIGGER:-PT10M',
        'END:VALARM',
        'END:VEVENT',
        'END:VCALENDAR',
        '',
    ])


client = caldav.DAVClient(url=URL, username=USER, password=PASSWORD)
state = {}


@step('principal')
def _():
    state['principal'] = client.principal()
    return str(state['principal'].url)


@step('make_calendar')
def _():
    state['cal'] = state['principal'].make_calendar(name=f'Präsentation {SUFFIX}', cal_id=f'precision-{SUFFIX}')
    return str(state['cal'].url)


@step('calendars')
def _():
    return len(state['principal'].calendars())


@step('put')
def _():
    cal = state['cal']
    saved = [cal.save_event(read('weekly.ics')), cal.save_event(read('allday.ics')), cal.save_todo(read('todo.ics')), cal.save_journal(read('journal.ics'))]
    saved += [cal.save_event(generated_event(i)) for i in range(6)]
    state['saved'] = saved
    return len(saved)


@step('events')
def _():
    return len(state['cal'].events())


@step('date_search')
def _():
    return len(state['cal'].date_search(start=datetime.datetime(2024, 2, 1), end=datetime.datetime(2024, 3, 1), expand=False))


@step('todos')
def _():
    return len(state['cal'].todos(include_completed=True))


@step('journals')
def _():
    return len(state['cal'].journals())


@step('event_by_uid')
def _():
    return str(state['cal'].event_by_uid('allday-19@davtap.test').url)


@step('multiget')
def _():
    got = state['cal'].calendar_multiget([o.url for o in state['saved']])
    return sum(1 for e in got if e.data and 'END:VCALENDAR' in e.data)


@step('sync_initial')
def _():
    state['sync'] = state['cal'].objects_by_sync_token(load_objects=True)
    return len(list(state['sync']))


@step('modify')
def _():
    event = state['saved'][4]
    event.load()
    event.vobject_instance.vevent.summary.value = 'Réunion déplacée — ändrad'
    event.save()
    return str(event.url)


@step('delete')
def _():
    state['saved'][5].delete()
    return True


@step('sync_after_changes')
def _():
    updated, deleted = state['sync'].sync()
    return {'updated': len(updated), 'deleted': len(deleted)}


ADDRESSBOOK_MKCOL = '''<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype><D:displayname>Kontakte {s}</D:displayname></D:prop></D:set>
</D:mkcol>'''

ADDRESSBOOK_QUERY = '''<?xml version="1.0" encoding="utf-8"?>
<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><CR:address-data/></D:prop>
  <CR:filter><CR:prop-filter name="FN"/></CR:filter>
</CR:addressbook-query>'''

ADDRESSBOOK_MULTIGET = '''<?xml version="1.0" encoding="utf-8"?>
<CR:addressbook-multiget xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><CR:address-data/></D:prop>
  {hrefs}
</CR:addressbook-multiget>'''

SYNC = '''<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>
  <D:prop><D:getetag/><CR:address-data/></D:prop>
</D:sync-collection>'''


@step('addressbook')
def _():
    home = state['principal'].url.join(f'contacts-{SUFFIX}/')
    res = client.mkcol(str(home), ADDRESSBOOK_MKCOL.format(s=SUFFIX))
    state['book'] = home
    return res.status


@step('put_vcards')
def _():
    book = state['book']
    hrefs = []
    for name in ['ada-3.vcf', 'zoe-4.vcf']:
        url = book.join(name)
        res = client.put(str(url), read(name).encode('utf-8'), {'Content-Type': 'text/vcard; charset=utf-8'})
        if res.status not in (201, 204):
            raise RuntimeError(f'PUT {url}: {res.status}')
        hrefs.append(url.path)
    state['cards'] = hrefs
    return len(hrefs)


@step('addressbook_query')
def _():
    # Xandikos 0.2.8 answers any addressbook filter with a 500 (its own bug): the status is reported.
    res = client.report(str(state['book']), ADDRESSBOOK_QUERY, depth=1)
    return {'status': res.status, 'cards': text(res).count('END:VCARD')}


@step('addressbook_multiget')
def _():
    hrefs = ''.join(f'<D:href>{h}</D:href>' for h in state['cards'])
    res = client.report(str(state['book']), ADDRESSBOOK_MULTIGET.format(hrefs=hrefs), depth=1)
    return text(res).count('END:VCARD')


@step('addressbook_sync')
def _():
    # Depth 0, as RFC 6578 §3.2 says (python-caldav's own sync-collection sends Depth: 1).
    res = client.report(str(state['book']), SYNC.format(token=''), depth=0)
    return text(res).count('END:VCARD')


@step('cleanup')
def _():
    client.delete(str(state['book']))
    state['cal'].delete()
    return True


print(json.dumps(out, default=str))

// What the demo origin serves when it starts: a few files and folders, a calendar home with two
// calendars (events and a task), and an address book. Small enough to read in one PROPFIND, big
// enough that a cut listing or a multiget has something to lose.

export type CollectionKind = 'plain' | 'calendar' | 'addressbook';

export interface SeedCollection {
  path: string;
  kind: CollectionKind;
  displayName: string;
}

export interface SeedFile {
  path: string;
  contentType: string;
  body: string;
}

export const seedCollections: readonly SeedCollection[] = [
  { path: '/', kind: 'plain', displayName: 'davtap demo' },
  { path: '/files/', kind: 'plain', displayName: 'Files' },
  { path: '/files/photos/', kind: 'plain', displayName: 'Photos' },
  { path: '/files/archive/', kind: 'plain', displayName: 'Archive' },
  { path: '/shared/', kind: 'plain', displayName: 'Shared' },
  { path: '/calendars/', kind: 'plain', displayName: 'Calendars' },
  { path: '/calendars/alice/', kind: 'plain', displayName: 'Alice\'s calendars' },
  { path: '/calendars/alice/home/', kind: 'calendar', displayName: 'Home' },
  { path: '/calendars/alice/office/', kind: 'calendar', displayName: 'Office' },
  { path: '/contacts/', kind: 'plain', displayName: 'Contacts' },
  { path: '/contacts/alice/', kind: 'plain', displayName: 'Alice\'s address books' },
  { path: '/contacts/alice/book/', kind: 'addressbook', displayName: 'Address book' },
];

function vevent(uid: string, summary: string, start: string, end: string): string {
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//davtap//demo//EN',
    'BEGIN:VEVENT',
    `UID:${uid}`,
    'DTSTAMP:20260101T090000Z',
    `DTSTART:${start}`,
    `DTEND:${end}`,
    `SUMMARY:${summary}`,
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

function vtodo(uid: string, summary: string, due: string): string {
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//davtap//demo//EN',
    'BEGIN:VTODO',
    `UID:${uid}`,
    'DTSTAMP:20260101T090000Z',
    `DUE:${due}`,
    `SUMMARY:${summary}`,
    'STATUS:NEEDS-ACTION',
    'END:VTODO',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

function vcard(uid: string, name: string, email: string, phone: string): string {
  const [given = '', family = ''] = name.split(' ');
  return ['BEGIN:VCARD', 'VERSION:3.0', `UID:${uid}`, `FN:${name}`, `N:${family};${given};;;`, `EMAIL;TYPE=work:${email}`, `TEL;TYPE=cell:${phone}`, 'END:VCARD', ''].join('\r\n');
}

const text = 'text/plain; charset=utf-8';
const ics = 'text/calendar; charset=utf-8';
const vcf = 'text/vcard; charset=utf-8';

export const seedFiles: readonly SeedFile[] = [
  { path: '/readme.txt', contentType: text, body: 'This is davtap\'s demo server: WebDAV at /files/, CalDAV at /calendars/alice/, CardDAV at /contacts/alice/book/.\n' },
  { path: '/files/notes.txt', contentType: text, body: 'Shopping: milk, bread, coffee.\n' },
  { path: '/files/todo.md', contentType: 'text/markdown; charset=utf-8', body: '# To do\n\n- renew the certificate\n- back up the calendar\n' },
  { path: '/files/budget.csv', contentType: 'text/csv; charset=utf-8', body: 'month,amount\n2026-01,1200\n2026-02,1150\n' },
  { path: '/files/photos/beach.jpg', contentType: 'image/jpeg', body: 'not really a JPEG: demo bytes for beach.jpg\n' },
  { path: '/files/photos/mountains.jpg', contentType: 'image/jpeg', body: 'not really a JPEG: demo bytes for mountains.jpg\n' },
  { path: '/files/photos/city.jpg', contentType: 'image/jpeg', body: 'not really a JPEG: demo bytes for city.jpg\n' },
  ...Array.from({ length: 8 }, (_, i) => ({
    path: `/files/archive/report-2025-${String(i + 1).padStart(2, '0')}.txt`,
    contentType: text,
    body: `Monthly report ${i + 1} of 2025.\n`,
  })),
  { path: '/shared/team-plan.txt', contentType: text, body: 'Team plan: ship the release on Friday.\n' },
  { path: '/shared/contacts.csv', contentType: 'text/csv; charset=utf-8', body: 'name,email\nBob,bob@example.org\n' },
  { path: '/calendars/alice/home/dentist.ics', contentType: ics, body: vevent('dentist@demo', 'Dentist', '20260115T090000Z', '20260115T093000Z') },
  { path: '/calendars/alice/home/birthday.ics', contentType: ics, body: vevent('birthday@demo', 'Bob\'s birthday', '20260203T180000Z', '20260203T230000Z') },
  { path: '/calendars/alice/home/groceries.ics', contentType: ics, body: vtodo('groceries@demo', 'Buy groceries', '20260110T170000Z') },
  { path: '/calendars/alice/office/standup.ics', contentType: ics, body: vevent('standup@demo', 'Stand-up', '20260112T083000Z', '20260112T084500Z') },
  { path: '/calendars/alice/office/review.ics', contentType: ics, body: vevent('review@demo', 'Quarterly review', '20260120T130000Z', '20260120T150000Z') },
  { path: '/calendars/alice/office/expenses.ics', contentType: ics, body: vtodo('expenses@demo', 'File expenses', '20260131T170000Z') },
  { path: '/contacts/alice/book/bob.vcf', contentType: vcf, body: vcard('bob@demo', 'Bob Builder', 'bob@example.org', '+1-555-0101') },
  { path: '/contacts/alice/book/carol.vcf', contentType: vcf, body: vcard('carol@demo', 'Carol Danvers', 'carol@example.org', '+1-555-0102') },
  { path: '/contacts/alice/book/dave.vcf', contentType: vcf, body: vcard('dave@demo', 'Dave Lister', 'dave@example.org', '+1-555-0103') },
];

/** A new event (the scripted client's PUT), as a calendar client would create it. */
export const newEvent = (uid: string, summary: string): string => vevent(uid, summary, '20260125T100000Z', '20260125T110000Z');

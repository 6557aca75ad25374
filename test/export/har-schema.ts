// HAR 1.2 checks written from the spec (http://www.softwareishard.com/blog/har-12-spec/): every
// required field present with its type, optional ones typed when present, nothing unknown unless
// it starts with `_` (the spec's rule for custom fields), timings consistent with `time`.
// Returns the list of violations, each with its JSON path; empty means valid.

type Obj = Record<string, unknown>;

interface Field {
  type: 'string' | 'number' | 'boolean' | 'object' | 'array' | 'date';
  required?: boolean;
  check?: (v: unknown, at: string, errs: string[]) => void;
}

const isoDate = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function typeOk(v: unknown, type: Field['type']): boolean {
  switch (type) {
    case 'array':
      return Array.isArray(v);
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'date':
      return typeof v === 'string' && isoDate.test(v) && !Number.isNaN(Date.parse(v));
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    default:
      return typeof v === type;
  }
}

function object(v: unknown, at: string, errs: string[], fields: Record<string, Field>): void {
  if (!typeOk(v, 'object')) {
    errs.push(`${at}: expected an object`);
    return;
  }
  const o = v as Obj;
  for (const [name, f] of Object.entries(fields)) {
    if (!(name in o) || o[name] === undefined) {
      if (f.required) errs.push(`${at}.${name}: required`);
      continue;
    }
    if (!typeOk(o[name], f.type)) {
      errs.push(`${at}.${name}: expected ${f.type}, got ${JSON.stringify(o[name])?.slice(0, 40)}`);
      continue;
    }
    f.check?.(o[name], `${at}.${name}`, errs);
  }
  for (const key of Object.keys(o)) if (!(key in fields) && !key.startsWith('_')) errs.push(`${at}.${key}: not a HAR 1.2 field (custom fields start with _)`);
}

const each = (check: (v: unknown, at: string, errs: string[]) => void) => (v: unknown, at: string, errs: string[]) =>
  (v as unknown[]).forEach((item, i) => check(item, `${at}[${i}]`, errs));

const nameValue = (v: unknown, at: string, errs: string[]) =>
  object(v, at, errs, { name: { type: 'string', required: true }, value: { type: 'string', required: true }, comment: { type: 'string' } });

const cookie = (v: unknown, at: string, errs: string[]) =>
  object(v, at, errs, {
    name: { type: 'string', required: true },
    value: { type: 'string', required: true },
    path: { type: 'string' },
    domain: { type: 'string' },
    expires: { type: 'date' },
    httpOnly: { type: 'boolean' },
    secure: { type: 'boolean' },
    comment: { type: 'string' },
  });

const nonNegative = (v: unknown, at: string, errs: string[]) => {
  if ((v as number) < 0) errs.push(`${at}: must be >= 0`);
};
const minusOneOrMore = (v: unknown, at: string, errs: string[]) => {
  if ((v as number) < -1) errs.push(`${at}: must be -1 or >= 0`);
};

const absoluteUrl = (v: unknown, at: string, errs: string[]) => {
  try {
    new URL(v as string);
  } catch {
    errs.push(`${at}: not an absolute URL`);
  }
};

const cacheEntry = (v: unknown, at: string, errs: string[]) =>
  object(v, at, errs, {
    expires: { type: 'date' },
    lastAccess: { type: 'date', required: true },
    eTag: { type: 'string', required: true },
    hitCount: { type: 'number', required: true },
    comment: { type: 'string' },
  });

const request = (v: unknown, at: string, errs: string[]) =>
  object(v, at, errs, {
    method: { type: 'string', required: true },
    url: { type: 'string', required: true, check: absoluteUrl },
    httpVersion: { type: 'string', required: true },
    cookies: { type: 'array', required: true, check: each(cookie) },
    headers: { type: 'array', required: true, check: each(nameValue) },
    queryString: { type: 'array', required: true, check: each(nameValue) },
    postData: {
      type: 'object',
      check: (p, a, e) =>
        object(p, a, e, {
          mimeType: { type: 'string', required: true },
          params: { type: 'array', check: each((x, b, f) => object(x, b, f, { name: { type: 'string', required: true }, value: { type: 'string' }, fileName: { type: 'string' }, contentType: { type: 'string' }, comment: { type: 'string' } })) },
          text: { type: 'string' },
          comment: { type: 'string' },
        }),
    },
    headersSize: { type: 'number', required: true, check: minusOneOrMore },
    bodySize: { type: 'number', required: true, check: minusOneOrMore },
    comment: { type: 'string' },
  });

const response = (v: unknown, at: string, errs: string[]) =>
  object(v, at, errs, {
    status: { type: 'number', required: true },
    statusText: { type: 'string', required: true },
    httpVersion: { type: 'string', required: true },
    cookies: { type: 'array', required: true, check: each(cookie) },
    headers: { type: 'array', required: true, check: each(nameValue) },
    content: {
      type: 'object',
      required: true,
      check: (c, a, e) => {
        object(c, a, e, {
          size: { type: 'number', required: true, check: nonNegative },
          compression: { type: 'number' },
          mimeType: { type: 'string', required: true },
          text: { type: 'string' },
          encoding: { type: 'string' },
          comment: { type: 'string' },
        });
        const enc = (c as Obj).encoding;
        if (enc !== undefined && enc !== 'base64') e.push(`${a}.encoding: only base64 is meaningful, got ${String(enc)}`);
      },
    },
    redirectURL: { type: 'string', required: true },
    headersSize: { type: 'number', required: true, check: minusOneOrMore },
    bodySize: { type: 'number', required: true, check: minusOneOrMore },
    comment: { type: 'string' },
  });

const timingFields: Record<string, Field> = {
  blocked: { type: 'number', check: minusOneOrMore },
  dns: { type: 'number', check: minusOneOrMore },
  connect: { type: 'number', check: minusOneOrMore },
  send: { type: 'number', required: true, check: nonNegative },
  wait: { type: 'number', required: true, check: nonNegative },
  receive: { type: 'number', required: true, check: nonNegative },
  ssl: { type: 'number', check: minusOneOrMore },
  comment: { type: 'string' },
};

const entry = (v: unknown, at: string, errs: string[]) => {
  object(v, at, errs, {
    pageref: { type: 'string' },
    startedDateTime: { type: 'date', required: true },
    time: { type: 'number', required: true, check: nonNegative },
    request: { type: 'object', required: true, check: request },
    response: { type: 'object', required: true, check: response },
    cache: {
      type: 'object',
      required: true,
      check: (c, a, e) => object(c, a, e, { beforeRequest: { type: 'object', check: cacheEntry }, afterRequest: { type: 'object', check: cacheEntry }, comment: { type: 'string' } }),
    },
    timings: { type: 'object', required: true, check: (t, a, e) => object(t, a, e, timingFields) },
    serverIPAddress: { type: 'string' },
    connection: { type: 'string' },
    comment: { type: 'string' },
  });
  // The spec: time is the sum of the applicable timings (-1 means not applicable; ssl is inside connect).
  const e = v as Obj;
  const t = e.timings as Record<string, number> | undefined;
  if (t && typeof e.time === 'number') {
    const sum = ['blocked', 'dns', 'connect', 'send', 'wait', 'receive'].reduce((s, k) => s + (typeof t[k] === 'number' && t[k]! >= 0 ? t[k]! : 0), 0);
    if (Math.abs(sum - e.time) > 0.001) errs.push(`${at}.time: ${e.time} is not the sum of its timings (${sum})`);
  }
};

const creator = (v: unknown, at: string, errs: string[]) =>
  object(v, at, errs, { name: { type: 'string', required: true }, version: { type: 'string', required: true }, comment: { type: 'string' } });

export function harViolations(doc: unknown): string[] {
  const errs: string[] = [];
  object(doc, '$', errs, {
    log: {
      type: 'object',
      required: true,
      check: (log, at, e) =>
        object(log, at, e, {
          version: { type: 'string', required: true, check: (v, a, x) => void (v !== '1.2' && x.push(`${a}: expected "1.2"`)) },
          creator: { type: 'object', required: true, check: creator },
          browser: { type: 'object', check: creator },
          pages: {
            type: 'array',
            check: each((p, a, x) =>
              object(p, a, x, {
                startedDateTime: { type: 'date', required: true },
                id: { type: 'string', required: true },
                title: { type: 'string', required: true },
                pageTimings: { type: 'object', required: true },
                comment: { type: 'string' },
              }),
            ),
          },
          entries: { type: 'array', required: true, check: each(entry) },
          comment: { type: 'string' },
        }),
    },
  });
  return errs;
}

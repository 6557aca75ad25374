// davtap's own errors. A finding about a body is data, never one of these: these are for usage
// mistakes and I/O the user must act on. Every code maps to an exit status in one table, and every
// status davtap exits with is in the other; the README's "Exit codes" table is tested against both.

/** Every status the davtap process exits with. */
export const exitStatuses = {
  0: 'success; for check and verify, no finding or difference reached --fail-on; for replay, every answer was the same',
  1: 'check or verify: findings (or differences) reached --fail-on; replay: an answer differed',
  2: 'usage, option value, listening, file, database or CA error; the proxy also exits 2 when flows it relayed could not be recorded',
  70: 'internal error (a bug in davtap): the message carries the stack',
  130: 'a second SIGINT or SIGTERM while the proxy stops: it exits at once, without waiting for the recorder',
  141: 'the reader of standard output went away (SIGPIPE) during a one-shot command such as export',
} as const;

export type ExitStatus = keyof typeof exitStatuses;

export const errorCodes = {
  USAGE: { exit: 2, what: 'bad command line' },
  CONFIG: { exit: 2, what: 'bad option value' },
  LISTEN: { exit: 2, what: 'cannot listen' },
  IO: { exit: 2, what: 'file or network error' },
  STORE: { exit: 2, what: 'database error' },
  CA: { exit: 2, what: 'certificate authority error' },
  INTERNAL: { exit: 70, what: 'internal error' },
} as const satisfies Record<string, { exit: ExitStatus; what: string }>;

export type ErrorCode = keyof typeof errorCodes;

export class DavtapError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DavtapError';
    this.code = code;
  }
  get exitCode(): number {
    return errorCodes[this.code].exit;
  }
}

export class UsageError extends DavtapError {
  constructor(message: string) {
    super('USAGE', message);
    this.name = 'UsageError';
  }
}

export class ListenError extends DavtapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LISTEN', message, options);
    this.name = 'ListenError';
  }
}

export class StoreError extends DavtapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE', message, options);
    this.name = 'StoreError';
  }
}

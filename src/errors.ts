// davtap's own errors. A finding about a body is data, never one of these: these are for usage
// mistakes and I/O the user must act on. Every code maps to an exit status in one table.

export const errorCodes = {
  USAGE: { exit: 2, what: 'bad command line' },
  CONFIG: { exit: 2, what: 'bad option value' },
  LISTEN: { exit: 2, what: 'cannot listen' },
  IO: { exit: 2, what: 'file or network error' },
  STORE: { exit: 2, what: 'database error' },
  CA: { exit: 2, what: 'certificate authority error' },
  INTERNAL: { exit: 70, what: 'internal error' },
} as const;

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

/** What went wrong, as a stable code a program can branch on. */
export type SlimlmErrorCode =
  | 'SHAPE_MISMATCH'
  | 'DTYPE_MISMATCH'
  | 'INVALID_ARGUMENT'
  | 'DISPOSED'
  | 'NO_KERNEL'
  | 'NO_BACKEND'
  | 'BACKEND_MISMATCH'
  | 'UNSUPPORTED_DTYPE'
  | 'AUTOGRAD';

/** The one error type of slimlm: a code plus a message that says what to do. */
export class SlimlmError extends Error {
  readonly code: SlimlmErrorCode;

  constructor(code: SlimlmErrorCode, message: string) {
    super(message);
    this.name = 'SlimlmError';
    this.code = code;
  }
}

export function invalidArgument(op: string, message: string): SlimlmError {
  return new SlimlmError('INVALID_ARGUMENT', `${op}: ${message}`);
}

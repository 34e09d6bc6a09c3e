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
  | 'AUTOGRAD'
  /** A file is malformed or does not hold what it should (safetensors, JSON, tokenizer). */
  | 'INVALID_FILE'
  /** A config file is readable but a field is missing or has a bad value. */
  | 'INVALID_CONFIG'
  /** A local path, Hub repository, revision or file does not exist. */
  | 'NOT_FOUND'
  /** The Hub refused the request: missing or insufficient token. */
  | 'UNAUTHORIZED'
  /** The network or the server failed, or offline mode forbids the request. */
  | 'NETWORK'
  /** The input is valid but slimlm does not handle it (an architecture, dtype or feature). */
  | 'UNSUPPORTED'
  /**
   * A numerical algorithm failed on valid input: a matrix that should be positive definite is
   * not (cholesky). Callers may retry with a better-conditioned input (more damping, say).
   */
  | 'NUMERICAL';

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

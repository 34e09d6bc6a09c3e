import { SlimlmError } from '@slimlm/core';
import type { CliIO } from './io';

/** The command line itself is wrong (exit status 2): unknown command or flag, bad or missing value. */
export class UsageError extends Error {
  /** The command it concerns, for the usage line; set by the dispatcher. */
  command?: string;

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const ISSUES_HINT =
  'This looks like a bug in slimlm: please report it with the command you ran' +
  ' (SLIMLM_DEBUG=1 prints the stack trace).';

/**
 * Prints an error the way every command does and returns the exit status. SlimlmError and system
 * errors (a missing file, a refused permission) are the user's to fix, so only their message is
 * shown; anything else is a slimlm bug and says so. SLIMLM_DEBUG=1 adds the stack to all of them.
 */
export function reportError(
  error: unknown,
  io: CliIO,
  usage?: (command?: string) => string,
): number {
  const debug = isDebug(io.env);
  const stack = debug && error instanceof Error && error.stack ? `${error.stack}\n` : '';
  if (error instanceof UsageError) {
    io.stderr.write(`slimlm: error: ${error.message}\n${usage?.(error.command) ?? ''}`);
    return EXIT_USAGE;
  }
  if (error instanceof SlimlmError || isSystemError(error)) {
    io.stderr.write(`slimlm: error: ${(error as Error).message}\n${stack}`);
    return EXIT_FAILURE;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`slimlm: unexpected error: ${message}\n${ISSUES_HINT}\n${stack}`);
  return EXIT_FAILURE;
}

export function isDebug(env: CliIO['env']): boolean {
  const value = env.SLIMLM_DEBUG;
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

/** Node's errors from the OS (ENOENT, EACCES, ECONNREFUSED…) carry a string code such as 'ENOENT'. */
function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  return (
    error instanceof Error &&
    typeof (error as NodeJS.ErrnoException).code === 'string' &&
    /^E[A-Z]+$/.test((error as NodeJS.ErrnoException).code!)
  );
}

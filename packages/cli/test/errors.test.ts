import { SlimlmError } from '@slimlm/core';
import { describe, expect, it } from 'vitest';
import { reportError, UsageError } from '../src/errors';
import type { CliIO } from '../src/io';

function capture(env: Record<string, string> = {}) {
  const io: CliIO & { text: string } = {
    text: '',
    stdout: { write: () => undefined },
    stderr: {
      write: (chunk: string) => {
        io.text += chunk;
      },
    },
    env,
    cwd: '/',
  };
  return io;
}

describe('reportError', () => {
  it('prints a SlimlmError as the message alone, exit 1', () => {
    const io = capture();
    expect(reportError(new SlimlmError('NOT_FOUND', 'no model here'), io)).toBe(1);
    expect(io.text).toBe('slimlm: error: no model here\n');
  });

  it('treats system errors as the user’s to fix', () => {
    const io = capture();
    const error = Object.assign(new Error("EACCES: permission denied, open '/x'"), {
      code: 'EACCES',
    });
    expect(reportError(error, io)).toBe(1);
    expect(io.text).toBe("slimlm: error: EACCES: permission denied, open '/x'\n");
  });

  it('asks for a report on anything unexpected, with the stack only under SLIMLM_DEBUG', () => {
    const quiet = capture();
    expect(reportError(new TypeError('x is undefined'), quiet)).toBe(1);
    expect(quiet.text).toMatch(/^slimlm: unexpected error: x is undefined\n.*please report it/);
    expect(quiet.text).not.toMatch(/\n\s+at /);

    const debug = capture({ SLIMLM_DEBUG: '1' });
    reportError(new TypeError('x is undefined'), debug);
    expect(debug.text).toMatch(/TypeError: x is undefined\n\s+at /);
  });

  it('adds the usage line to usage errors, exit 2', () => {
    const io = capture();
    const error = new UsageError("unknown option '--x'");
    error.command = 'info';
    expect(reportError(error, io, (command) => `usage: slimlm ${command}\n`)).toBe(2);
    expect(io.text).toBe("slimlm: error: unknown option '--x'\nusage: slimlm info\n");
  });
});

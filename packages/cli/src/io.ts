/** Where a stream of text goes: process.stdout and process.stderr fit, and so does a test capture. */
export interface TextSink {
  write(chunk: string): unknown;
  /** True for a terminal: progress and diagnostics are drawn only there. */
  isTTY?: boolean;
  /** The terminal's width, when it is one. */
  columns?: number;
}

/** Everything `main` touches of the outside world, so that tests run it in-process. */
export interface CliIO {
  stdout: TextSink;
  stderr: TextSink;
  env: Readonly<Record<string, string | undefined>>;
  /** Working directory that relative model paths resolve against. */
  cwd: string;
}

export function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/**
 * What a command writes. stdout carries the result only (text, or one JSON document with --json);
 * stderr carries notes, and progress and timings only for a person watching a terminal.
 */
export class Output {
  constructor(
    readonly io: CliIO,
    /** --json: stdout holds exactly one JSON document and stderr only what must be said. */
    readonly json: boolean,
  ) {}

  /** Whether progress bars and timings are shown: stderr is a terminal and the output is for a person. */
  get interactive(): boolean {
    return this.io.stderr.isTTY === true && !this.json;
  }

  write(text: string): void {
    this.io.stdout.write(text);
  }

  line(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** The one JSON document of a --json run, on one line. */
  result(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Rows of [key, value], keys padded to one column. */
  table(rows: readonly (readonly [string, string])[]): void {
    const width = Math.max(0, ...rows.map(([key]) => key.length));
    for (const [key, value] of rows) this.line(`${key.padEnd(width)}  ${value}`);
  }

  /** A note that always matters (a fallback taken), on stderr. */
  note(text: string): void {
    this.io.stderr.write(`slimlm: ${text}\n`);
  }

  /** Diagnostics for a person (load time, speed): stderr, only when interactive. */
  diag(text: string): void {
    if (this.interactive) this.io.stderr.write(`${text}\n`);
  }
}

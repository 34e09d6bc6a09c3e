import { fileURLToPath } from 'node:url';
import { type CliIO, main } from '../src/index';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const STORIES = `${REPO_ROOT}fixtures/stories260K-hf`;
export const WIKILLAMA = `${REPO_ROOT}packages/models/assets/wikillama-7m`;

/** `slimlm generate` of 20 greedy tokens of stories260K after "Once upon a time". */
export const GENERATE_STORIES: readonly string[] = [
  'generate',
  STORIES,
  '--prompt',
  'Once upon a time',
  '--max-new-tokens',
  '20',
];

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `slimlm argv` in-process with captured output; `tty` makes stderr look like a terminal. */
export async function runCli(
  argv: string[],
  options: { env?: Record<string, string>; tty?: boolean } = {},
): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: {
      write: (chunk: string) => {
        stdout += chunk;
      },
    },
    stderr: {
      write: (chunk: string) => {
        stderr += chunk;
      },
      isTTY: options.tty ?? false,
      columns: 100,
    },
    env: options.env ?? {},
    cwd: REPO_ROOT,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

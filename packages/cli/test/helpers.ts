import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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

const PACKAGE = fileURLToPath(new URL('../', import.meta.url));

/**
 * Builds dist/ when missing: `nx run @slimlm/cli:test` builds first, but a bare `vitest run` in a
 * fresh checkout does not. Call it in beforeAll of tests that run the real bin.
 */
export function ensureBuilt(): void {
  if (existsSync(`${PACKAGE}dist/index.js`)) return;
  const build = spawnSync('npx', ['tsup'], { cwd: PACKAGE, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`building @slimlm/cli failed:\n${build.stderr}`);
}

/** Runs bin/slimlm.mjs in a child process from the repository root, as a user would. */
export function runBin(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [`${PACKAGE}bin/slimlm.mjs`, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, SLIMLM_DEBUG: '', ...options.env },
    timeout: options.timeoutMs ?? 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

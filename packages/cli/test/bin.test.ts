import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GenerateJson, ModelInfo } from '../src/index';
import { GENERATE_STORIES, REPO_ROOT, STORIES, WIKILLAMA } from './helpers';

const PACKAGE = fileURLToPath(new URL('../', import.meta.url));
const BIN = `${PACKAGE}bin/slimlm.mjs`;

function slimlm(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, SLIMLM_DEBUG: '', ...env },
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('bin/slimlm.mjs', () => {
  beforeAll(() => {
    // `nx run @slimlm/cli:test` builds first; a bare `vitest run` in a fresh checkout builds here.
    if (!existsSync(`${PACKAGE}dist/index.js`)) {
      const build = spawnSync('npx', ['tsup'], { cwd: PACKAGE, encoding: 'utf8' });
      if (build.status !== 0) throw new Error(`building @slimlm/cli failed:\n${build.stderr}`);
    }
  }, 120_000);

  it('info --json', () => {
    const { code, stdout } = slimlm(['info', WIKILLAMA, '--json']);
    expect(code).toBe(0);
    const info = JSON.parse(stdout) as ModelInfo;
    expect(info.parameters).toBe(6819072);
    expect(info.tensors).toBe(57);
    expect(Object.keys(info.dtypes)).toEqual(['f16']);
  });

  it('generate --json prints one JSON document and nothing else', () => {
    const { code, stdout } = slimlm([...GENERATE_STORIES, '--json']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as GenerateJson;
    expect(result.prompt_tokens).toEqual([1, 403, 407, 261, 378]);
    expect(result.tokens).toHaveLength(20);
    expect(result.text.startsWith(', there was a little girl named Lily')).toBe(true);
  });

  it('exit statuses: 2 for usage, 1 for failures, 0 for help', () => {
    const usage = slimlm(['generate', STORIES, '--prompt', 'x', '--top-p', '2']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/option '--top-p' expects a number > 0 and <= 1, got 2/);

    const missing = slimlm(['generate', 'missing-folder/', '--prompt', 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^slimlm: error: model folder .* does not exist/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);

    const help = slimlm(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/generate/);
  });
});

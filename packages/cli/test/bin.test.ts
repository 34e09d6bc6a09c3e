import { beforeAll, describe, expect, it } from 'vitest';
import type { GenerateJson, ModelInfo } from '../src/index';
import { ensureBuilt, GENERATE_STORIES, runBin, STORIES, WIKILLAMA } from './helpers';

describe('bin/slimlm.mjs', () => {
  beforeAll(ensureBuilt, 120_000);

  it('info --json', () => {
    const { code, stdout } = runBin(['info', WIKILLAMA, '--json']);
    expect(code).toBe(0);
    const info = JSON.parse(stdout) as ModelInfo;
    expect(info.parameters).toBe(6819072);
    expect(info.tensors).toBe(57);
    expect(Object.keys(info.dtypes)).toEqual(['f16']);
  });

  it('generate --json prints one JSON document and nothing else', () => {
    const { code, stdout } = runBin([...GENERATE_STORIES, '--json']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as GenerateJson;
    expect(result.prompt_tokens).toEqual([1, 403, 407, 261, 378]);
    expect(result.tokens).toHaveLength(20);
    expect(result.text.startsWith(', there was a little girl named Lily')).toBe(true);
  });

  it('exit statuses: 2 for usage, 1 for failures, 0 for help', () => {
    const usage = runBin(['generate', STORIES, '--prompt', 'x', '--top-p', '2']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/option '--top-p' expects a number > 0 and <= 1, got 2/);

    const missing = runBin(['generate', 'missing-folder/', '--prompt', 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^slimlm: error: model folder .* does not exist/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);

    const help = runBin(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/generate/);
  });
});

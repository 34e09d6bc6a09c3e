import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelFromFolder } from '@slimlm/models';
import { applyAdapter } from '@slimlm/peft-lora';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MergeJson } from '../src/commands/merge';
import type { GenerateJson } from '../src/index';
import { runCli, STORIES, WIKILLAMA } from './helpers';
import {
  maxAbsDiff,
  PROMPT,
  promptLogits,
  saveRandomAdapter,
  temporaryFolder,
} from './merge-helpers';

const work = temporaryFolder('slimlm-generate-adapter-');
afterAll(() => work.remove());

const adapter = join(work.path, 'adapter');
const merged = join(work.path, 'merged-f32');
beforeAll(() => saveRandomAdapter(WIKILLAMA, adapter));

const GREEDY = ['--prompt', PROMPT, '--max-new-tokens', '24', '--json'];

async function generateJson(argv: string[]): Promise<GenerateJson> {
  const { code, stdout, stderr } = await runCli(['generate', ...argv, ...GREEDY]);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  return JSON.parse(stdout) as GenerateJson;
}

describe('slimlm generate --adapter', () => {
  it('generates what the merged model generates (greedy), and not what the base does', async () => {
    const withAdapter = await generateJson(['wikillama', '--adapter', adapter]);
    const base = await generateJson(['wikillama']);
    expect(withAdapter.tokens).toHaveLength(24);
    expect(withAdapter.tokens).not.toEqual(base.tokens);

    // f32: the merged weights are the f32 sums W + scaling · B·A, what the adapter computes.
    const merge = await runCli([
      'merge',
      'wikillama',
      '--adapter',
      adapter,
      '--out',
      merged,
      '--dtype',
      'f32',
      '--json',
    ]);
    expect(merge.stderr).toBe('');
    expect(merge.code).toBe(0);
    const summary = JSON.parse(merge.stdout) as MergeJson;
    expect(summary).toMatchObject({
      out: merged,
      base: 'full-precision',
      requantize: null,
      merged_modules: 6 * 7,
      dtype: 'f32',
      quantization: null,
    });

    const fromMerged = await generateJson([merged]);
    expect(fromMerged.tokens).toEqual(withAdapter.tokens);
    expect(fromMerged.text).toBe(withAdapter.text);
  });

  it('loads the adapter as the library does: logits within 1e-4 of the merged model', async () => {
    const base = modelFromFolder(WIKILLAMA);
    const baseLogits = await promptLogits(base);
    applyAdapter(base, adapter);
    const adapted = await promptLogits(base);
    base.dispose();
    const mergedModel = modelFromFolder(merged);
    const mergedLogits = await promptLogits(mergedModel);
    mergedModel.dispose();
    expect(maxAbsDiff(adapted, baseLogits)).toBeGreaterThan(1);
    expect(maxAbsDiff(mergedLogits, adapted)).toBeLessThan(1e-4);
    // A plain checkpoint with the base's tokenizer and generation settings beside it.
    const config = JSON.parse(readFileSync(join(merged, 'config.json'), 'utf8'));
    expect(config.torch_dtype).toBe('float32');
    expect(config.quantization_config).toBeUndefined();
    for (const file of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      expect(existsSync(join(merged, file))).toBe(true);
    }
  });

  it('refuses a missing adapter folder before loading the model, naming the option', async () => {
    const missing = join(work.path, 'no-such-adapter');
    const { code, stdout, stderr } = await runCli([
      'generate',
      'wikillama',
      '--adapter',
      missing,
      ...GREEDY,
    ]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `slimlm: error: --adapter ${missing}: adapter folder ${missing} does not exist\n`,
    );
  });

  it('refuses an adapter made for another model, naming the module and both shapes', async () => {
    const other = join(work.path, 'stories-adapter');
    saveRandomAdapter(STORIES, other, { targetModules: ['q_proj', 'v_proj'] });
    const { code, stdout, stderr } = await runCli([
      'generate',
      'wikillama',
      '--adapter',
      other,
      ...GREEDY,
    ]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^slimlm: error: --adapter .*stories-adapter: /);
    expect(stderr).toMatch(/q_proj/);
    expect(stderr).toContain(STORIES);
  });
});

import { describe, expect, it } from 'vitest';
import type { BenchJson } from '../src/commands/bench';
import { runCli, STORIES } from './helpers';

const SMALL = ['--prompt-len', '16', '--new-tokens', '8', '--repeats', '2'];

describe('slimlm bench', () => {
  it('prints the benchmark as one JSON object with --json', async () => {
    const { code, stdout, stderr } = await runCli([
      'bench',
      STORIES,
      ...SMALL,
      '--batch',
      '2',
      '--json',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trimEnd().split('\n')).toHaveLength(1);
    const json = JSON.parse(stdout) as BenchJson;
    expect(Object.keys(json).sort()).toEqual(
      [
        'model',
        'weights',
        'backend',
        'batch',
        'prompt_len',
        'new_tokens',
        'repeats',
        'load_s',
        'per_token_ms',
        'tokens_per_s',
        'prefill_ms',
        'decode_tokens_per_s',
        'peak_memory_mb',
        'peak_rss_mb',
      ].sort(),
    );
    expect(json).toMatchObject({
      model: STORIES,
      weights: 'fp (float32)',
      backend: 'cpu',
      batch: 2,
      prompt_len: 16,
      new_tokens: 8,
      repeats: 2,
    });
    expect(json.tokens_per_s).toBeCloseTo(2 / (json.per_token_ms / 1000), 6);
    for (const key of ['load_s', 'per_token_ms', 'prefill_ms', 'peak_memory_mb'] as const) {
      expect(json[key]).toBeGreaterThan(0);
    }
  });

  it("prints optimum's table for people, and says when the default lengths were fitted", async () => {
    const table = await runCli(['bench', STORIES, ...SMALL]);
    expect(table.code).toBe(0);
    expect(table.stderr).toBe('');
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(
      '| model | weights | batch | prompt length | new tokens | Load time (s) | Per-token latency (ms) | Throughput (tok/s) | Peak memory (MB) |',
    );
    expect(lines[2]).toMatch(
      /^\| .*stories260K-hf \| fp \(float32\) \| 1 \| 16 \| 8 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$/,
    );

    // stories260K has 512 positions: 256 + 256 instead of 512 + 512.
    const fitted = await runCli(['bench', STORIES, '--repeats', '1', '--json'], { tty: true });
    expect(fitted.code).toBe(0);
    expect(fitted.stderr).toBe(
      "slimlm: prompt length 256 and 256 new tokens, to fit the model's positions\n",
    );
    expect(JSON.parse(fitted.stdout)).toMatchObject({ prompt_len: 256, new_tokens: 256 });
  });

  it('exits 2 on usage errors and 1 when the lengths do not fit', async () => {
    const usage = await runCli(['bench', STORIES, '--batch', '0']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/'--batch' expects an integer >= 1, got 0/);
    expect(usage.stderr).toContain('usage: slimlm bench <model> [options]');
    const tooLong = await runCli(['bench', STORIES, '--prompt-len', '500', '--new-tokens', '20']);
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(
      /a prompt of 500 and 20 new tokens need 520 positions; the model has 512/,
    );
  });
});

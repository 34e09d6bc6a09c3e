import '@slimlm/kernels-cpu';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memory, SlimlmError } from '@slimlm/core';
import { loadModel } from '@slimlm/models';
import { describe, expect, test } from 'vitest';
import { benchmarkGeneration, benchmarkTable, describeWeights, fitLengths } from '../src/index';
import { ROOT, STORIES } from './helpers';

describe('benchmarkGeneration', () => {
  test('measures load, latency, throughput and peak memory as optimum does, then frees the model', async () => {
    const liveBefore = memory().bytes;
    const phases: string[] = [];
    const result = await benchmarkGeneration(() => loadModel(STORIES), {
      promptLength: 16,
      newTokens: 8,
      batch: 2,
      repeats: 2,
      onProgress: (phase, done, total) => phases.push(`${phase} ${done}/${total}`),
    });
    expect(phases).toEqual([
      'load 0/1',
      'warmup 0/1',
      'memory 0/1',
      'timing 0/2',
      'timing 1/2',
      'timing 2/2',
    ]);
    expect(result).toMatchObject({
      weights: { method: 'fp', dtype: 'float32' },
      batch: 2,
      promptLength: 16,
      newTokens: 8,
      repeats: 2,
    });
    expect(result.loadSeconds).toBeGreaterThan(0);
    expect(result.perTokenMs).toBeGreaterThan(0);
    // Throughput counts every row: batch / per-token latency.
    expect(result.tokensPerSecond).toBeCloseTo(2 / (result.perTokenMs / 1000), 6);
    expect(result.prefillMs).toBeLessThan(result.perTokenMs * 8);
    expect(result.decodeTokensPerSecond).toBeGreaterThan(0);
    // The peak holds at least the weights (float32, as stored).
    const weightsMb = statSync(join(STORIES, 'model.safetensors')).size / 1e6;
    expect(result.peakMemoryMb).toBeGreaterThan(0.95 * weightsMb);
    expect(result.peakRssMb).toBeGreaterThan(result.peakMemoryMb);
    expect(memory().bytes).toBe(liveBefore);
  });

  test('refuses settings the model cannot hold, and disposes it anyway', async () => {
    const liveBefore = memory().bytes;
    let error: unknown;
    try {
      await benchmarkGeneration(() => loadModel(STORIES), { promptLength: 500, newTokens: 20 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SlimlmError);
    expect((error as Error).message).toMatch(
      /a prompt of 500 and 20 new tokens need 520 positions; the model has 512/,
    );
    expect(memory().bytes).toBe(liveBefore);
    await expect(benchmarkGeneration(() => loadModel(STORIES), { repeats: 0 })).rejects.toThrow(
      /repeats must be an integer >= 1, got 0/,
    );
  });
});

describe('fitLengths', () => {
  test('512 and 512 unless the model has fewer positions; explicit lengths kept', () => {
    expect(fitLengths({}, 2048)).toEqual({ promptLength: 512, newTokens: 512 });
    expect(fitLengths({}, 512)).toEqual({ promptLength: 256, newTokens: 256 });
    expect(fitLengths({ promptLength: 100 }, 512)).toEqual({ promptLength: 100, newTokens: 412 });
    expect(fitLengths({ newTokens: 500 }, 512)).toEqual({ promptLength: 12, newTokens: 500 });
    expect(fitLengths({ promptLength: 500, newTokens: 20 }, 512)).toEqual({
      promptLength: 500,
      newTokens: 20,
    });
  });
});

describe('describeWeights and benchmarkTable', () => {
  test("read config.json's quantization_config, and lay results out in optimum's columns", () => {
    const dir = mkdtempSync(join(tmpdir(), 'slimlm-weights-'));
    try {
      copyFileSync(`${ROOT}fixtures/gptq/optimum_phi-2-gptq.config.json`, join(dir, 'config.json'));
      const gptq = describeWeights(dir);
      expect(gptq).toEqual({ method: 'gptq', bits: 4, groupSize: 128, descAct: false });
      const fp = describeWeights(STORIES);
      const row = {
        batch: 1,
        promptLength: 512,
        newTokens: 512,
        repeats: 4,
        loadSeconds: 0.1234,
        perTokenMs: 4.56789,
        tokensPerSecond: 218.92,
        prefillMs: 20,
        decodeTokensPerSecond: 230,
        peakMemoryMb: 14.123,
        peakRssMb: 150,
      };
      expect(
        benchmarkTable([
          { ...row, weights: fp },
          { ...row, weights: gptq, model: 'q4' },
        ]).split('\n'),
      ).toEqual([
        '| model | weights | batch | prompt length | new tokens | Load time (s) | Per-token latency (ms) | Throughput (tok/s) | Peak memory (MB) |',
        '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        '|  | fp (float32) | 1 | 512 | 512 | 0.12 | 4.568 | 218.92 | 14.12 |',
        '| q4 | 4-bit g128 (gptq) | 1 | 512 | 512 | 0.12 | 4.568 | 218.92 | 14.12 |',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { Generator } from '@slimlm/core';
import { describe, expect, it } from 'vitest';
import {
  type ArchitectureConfig,
  argmax,
  type GenerationSettings,
  logitsProcessors,
  repetitionPenaltyProcessor,
  resolveGenerationSettings,
  sample,
  stoppingCriteria,
  temperatureWarper,
  topKWarper,
  topPWarper,
} from '../src/index';

const NEG = Number.NEGATIVE_INFINITY;

function scores(values: number[]): Float32Array {
  return Float32Array.from(values);
}

describe('logits processors (transformers semantics)', () => {
  it('repetition penalty divides positive and multiplies negative scores of seen ids, once', () => {
    const s = scores([1, -1, 3, 0.5, -2]);
    repetitionPenaltyProcessor(2)(s, [0, 1, 1, 3]);
    expect([...s]).toEqual([0.5, -2, 3, 0.25, -2]);
  });

  it('a penalty below 1 favours seen ids', () => {
    const s = scores([1, -1]);
    repetitionPenaltyProcessor(0.5)(s, [0, 1]);
    expect([...s]).toEqual([2, -0.5]);
  });

  it('temperature divides every score', () => {
    const s = scores([1, -1, 3]);
    temperatureWarper(0.5)(s, []);
    expect([...s]).toEqual([2, -2, 6]);
  });

  it('top-k keeps scores >= the k-th largest, ties included', () => {
    const s = scores([1, 3, 2, 3, 0]);
    topKWarper(3)(s, []);
    expect([...s]).toEqual([NEG, 3, 2, 3, NEG]);
    const tied = scores([1, 3, 2, 3, 0]);
    topKWarper(1)(tied, []);
    expect([...tied]).toEqual([NEG, 3, NEG, 3, NEG]);
    const all = scores([1, 2]);
    topKWarper(5)(all, []);
    expect([...all]).toEqual([1, 2]);
  });

  it('top-p keeps the smallest most-likely set reaching top_p', () => {
    const probabilities = [0.1, 0.2, 0.3, 0.4];
    const run = (topP: number) => {
      const s = scores(probabilities.map(Math.log));
      topPWarper(topP)(s, []);
      return [...s].map((v) => v !== NEG);
    };
    // Ascending cumulative mass 0.1, 0.3, 0.6, 1.0; removed while <= 1 - top_p.
    expect(run(0.75)).toEqual([false, true, true, true]);
    expect(run(0.65)).toEqual([false, false, true, true]);
    expect(run(0.35)).toEqual([false, false, false, true]);
    expect(run(0.01)).toEqual([false, false, false, true]);
    expect(run(1)).toEqual([true, true, true, true]);
  });

  it('top-p never removes every token and orders ties by id', () => {
    const s = scores([0, 0, 0, 0]);
    topPWarper(0.5)(s, []);
    // Each token holds 0.25: the two higher ids count as less likely and go first.
    expect([...s]).toEqual([0, 0, NEG, NEG]);
  });

  it('runs in transformers order: penalty, temperature, top-k, top-p', () => {
    const settings: GenerationSettings = {
      maxNewTokens: 1,
      temperature: 2,
      topK: 3,
      topP: 0.9,
      repetitionPenalty: 2,
      stopStrings: [],
      stopTokenIds: [],
      padTokenId: 0,
    };
    const s = scores([8, 6, 4, -2, 2]);
    for (const process of logitsProcessors(settings)) process(s, [0, 3]);
    // penalty: [4, 6, 4, -4, 2]; temperature: [2, 3, 2, -2, 1]; top-3 keeps >= 2: [2, 3, 2];
    // softmax(2, 3, 2) = (0.21, 0.58, 0.21): the least likely already exceeds 1 - 0.9, none go.
    expect([...s]).toEqual([2, 3, 2, NEG, NEG]);
  });

  it('greedy settings only apply the repetition penalty', () => {
    const base = { maxNewTokens: 1, topK: 1, topP: 0.1, stopStrings: [], stopTokenIds: [] };
    const greedy = { ...base, temperature: 0, repetitionPenalty: 1, padTokenId: 0 };
    expect(logitsProcessors(greedy)).toHaveLength(0);
    expect(logitsProcessors({ ...greedy, repetitionPenalty: 1.2 })).toHaveLength(1);
  });
});

describe('samplers', () => {
  it('argmax takes the first of equal maxima, like torch.argmax', () => {
    expect(argmax(scores([1, 3, 3, 2]))).toBe(1);
    expect(argmax(scores([NEG, NEG, -5]))).toBe(2);
  });

  it('the same seed draws the same tokens', () => {
    const s = scores([0.1, 0.5, 0.2, 1, -1, 0]);
    const draw = (seed: number) => {
      const generator = new Generator(seed);
      return Array.from({ length: 50 }, () => sample(s, generator));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('draws follow the softmax and never a -Infinity token', () => {
    const probabilities = [0.1, 0.2, 0, 0.3, 0.4];
    const s = scores(probabilities.map((p) => (p === 0 ? NEG : Math.log(p))));
    const generator = new Generator(123);
    const counts = new Array<number>(probabilities.length).fill(0);
    const draws = 20000;
    for (let i = 0; i < draws; i++) counts[sample(s, generator)]!++;
    expect(counts[2]).toBe(0);
    for (const [id, p] of probabilities.entries()) {
      expect(Math.abs(counts[id]! / draws - p)).toBeLessThan(0.015);
    }
  });
});

const CONFIG: ArchitectureConfig = {
  modelType: 'fake',
  vocabSize: 32,
  hiddenSize: 4,
  numLayers: 1,
  numHeads: 1,
  numKvHeads: 1,
  headDim: 4,
  maxPositions: 64,
  tieWordEmbeddings: false,
  eosTokenIds: [2],
  raw: {},
};

describe('generation settings', () => {
  it('defaults: greedy, 20 new tokens, HF sampling defaults, eos stops and pads', () => {
    expect(resolveGenerationSettings(CONFIG, {}, 5)).toEqual({
      maxNewTokens: 20,
      temperature: 0,
      topK: 50,
      topP: 1,
      repetitionPenalty: 1,
      stopStrings: [],
      stopTokenIds: [2],
      padTokenId: 2,
    });
  });

  it('falls back to the generation config, explicit options winning', () => {
    const generationConfig = {
      eosTokenIds: [3, 4],
      padTokenId: 5,
      doSample: true,
      temperature: 0.7,
      topK: 10,
      topP: 0.9,
      repetitionPenalty: 1.1,
      maxNewTokens: 7,
      raw: {},
    };
    const settings = resolveGenerationSettings(CONFIG, { generationConfig }, 5);
    expect(settings).toMatchObject({
      maxNewTokens: 7,
      temperature: 0,
      topK: 10,
      topP: 0.9,
      repetitionPenalty: 1.1,
      stopTokenIds: [3, 4],
      padTokenId: 5,
    });
    const explicit = resolveGenerationSettings(
      CONFIG,
      { generationConfig, maxNewTokens: 3, topK: 4, stopTokenIds: [], padTokenId: 6 },
      5,
    );
    expect(explicit).toMatchObject({ maxNewTokens: 3, topK: 4, stopTokenIds: [], padTokenId: 6 });
    const zeroTopK = { ...generationConfig, topK: 0 };
    expect(resolveGenerationSettings(CONFIG, { generationConfig: zeroTopK }, 5).topK).toBe(32);
  });

  it('max_length counts the prompt; defaults stop at maxPositions', () => {
    const generationConfig = { eosTokenIds: [], maxLength: 12, raw: {} };
    expect(resolveGenerationSettings(CONFIG, { generationConfig }, 5).maxNewTokens).toBe(7);
    expect(resolveGenerationSettings(CONFIG, {}, 60).maxNewTokens).toBe(4);
  });

  it('pads with the tokenizer pad, then the model pad, when options and config say nothing', () => {
    const tokenizer = { eosTokenIds: [9], padTokenId: 8 } as never;
    expect(resolveGenerationSettings(CONFIG, { tokenizer }, 1).padTokenId).toBe(8);
    expect(resolveGenerationSettings({ ...CONFIG, padTokenId: 1 }, {}, 1).padTokenId).toBe(1);
    expect(resolveGenerationSettings({ ...CONFIG, eosTokenIds: [] }, {}, 1)).toMatchObject({
      padTokenId: 0,
      stopTokenIds: [],
    });
  });

  it('rejects bad values with messages naming the option', () => {
    const bad: [object, RegExp][] = [
      [{ maxNewTokens: -1 }, /maxNewTokens must be a non-negative integer, got -1/],
      [{ maxNewTokens: 1.5 }, /maxNewTokens must be a non-negative integer/],
      [{ temperature: -0.1 }, /temperature must be .* >= 0/],
      [{ topK: 0 }, /topK must be a positive integer, got 0/],
      [{ topK: 2.5 }, /topK must be a positive integer/],
      [{ topP: 0 }, /topP must be in \(0, 1\], got 0/],
      [{ topP: 1.5 }, /topP must be in \(0, 1\]/],
      [{ repetitionPenalty: 0 }, /repetitionPenalty must be .* > 0, got 0/],
      [{ stopStrings: ['x'] }, /stopStrings need a tokenizer/],
      [{ stopStrings: [''] }, /stopStrings must be non-empty strings/],
      [{ stopTokenIds: [32] }, /stopTokenIds: 32 is not a token id of the 32-token vocabulary/],
      [{ padTokenId: -1 }, /padTokenId: -1 is not a token id/],
      [
        { maxNewTokens: 60 },
        /prompt \(5 tokens\) \+ maxNewTokens \(60\) = 65 exceeds the model's 64/,
      ],
    ];
    for (const [options, message] of bad) {
      expect(() => resolveGenerationSettings(CONFIG, options, 5), JSON.stringify(options)).toThrow(
        message,
      );
    }
    expect(() => resolveGenerationSettings(CONFIG, {}, 65)).toThrow(
      /the prompt has 65 tokens, more than the model's 64 positions/,
    );
  });
});

describe('stopping criteria', () => {
  it('stop token before stop string before length', () => {
    const settings = resolveGenerationSettings(
      CONFIG,
      { maxNewTokens: 3, stopStrings: ['END'], tokenizer: {} as never },
      1,
    );
    const done = stoppingCriteria(settings);
    expect(done(2, 3, 'xEND')).toBe('stop-token');
    expect(done(5, 3, 'xEND')).toBe('stop-string');
    expect(done(5, 3, 'xEN')).toBe('length');
    expect(done(5, 2, 'xEN')).toBeUndefined();
  });
});

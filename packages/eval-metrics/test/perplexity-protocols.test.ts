import '@slimlm/kernels-cpu';
import { readFileSync } from 'node:fs';
import { SlimlmError } from '@slimlm/core';
import { loadTokenizer } from '@slimlm/hub';
import { type CausalLM, modelFromFolder } from '@slimlm/models';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { defaultSeqlen, PERPLEXITY_PROTOCOLS, perplexity } from '../src/index';
import { bigramModel, bits, ROOT, relative, WIKILLAMA, wikitextIds } from './helpers';

const LN2 = Math.log(2);

/** Fails unless `run` throws INVALID_ARGUMENT with a message matching `pattern`. */
function expectInvalid(run: () => unknown, pattern: RegExp): void {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(SlimlmError);
  expect((error as SlimlmError).code).toBe('INVALID_ARGUMENT');
  expect((error as Error).message).toMatch(pattern);
}

describe('the protocols on a bigram model, against values computed by hand', () => {
  let model: CausalLM;
  beforeAll(() => {
    model = bigramModel();
  });
  afterAll(() => model.dispose());

  test('gptq-non-overlapping scores every next-token prediction of each window', () => {
    // Windows [1 2 3 0] [1 1 2 2], tail [3] dropped. Bits: 1→2 3, 2→3 2, 3→0 3; 1→1 1, 1→2 3, 2→2 1.
    const result = perplexity(model, [1, 2, 3, 0, 1, 1, 2, 2, 3], { seqlen: 4 });
    expect(result).toMatchObject({ windows: 2, tokens: 6, scoredPerWindow: 3, seqlen: 4 });
    expect(result.meanNll).toBeCloseTo((13 / 6) * LN2, 6);
    expect(result.ppl).toBeCloseTo(2 ** (13 / 6), 5);
  });

  test('llama.cpp scores the second half of each chunk only', () => {
    // n_ctx 4: first scored position 2, one prediction per chunk: 3→0 (3 bits) and 2→2 (1 bit).
    const four = perplexity(model, [1, 2, 3, 0, 1, 1, 2, 2], { protocol: 'llama.cpp', seqlen: 4 });
    expect(four).toMatchObject({
      windows: 2,
      tokens: 2,
      scoredPerWindow: 1,
      protocol: 'llama.cpp',
    });
    expect(four.meanNll).toBeCloseTo(2 * LN2, 6);
    expect(four.ppl).toBeCloseTo(4, 5);
    // n_ctx 5: positions 2 and 3 of each chunk: 3→0 3, 0→1 2; 2→3 2, 3→3 1 = 8 bits over 4.
    const five = perplexity(model, [1, 2, 3, 0, 1, 1, 2, 2, 3, 3, 0], {
      protocol: 'llama.cpp',
      seqlen: 5,
    });
    expect(five).toMatchObject({ windows: 2, tokens: 4, scoredPerWindow: 2 });
    expect(five.ppl).toBeCloseTo(4, 5);
    // The BOS put first in each chunk is context only: a bigram model does not see it.
    const withBos = perplexity(model, [1, 2, 3, 0, 1, 1, 2, 2], {
      protocol: 'llama.cpp',
      seqlen: 4,
      bosTokenId: 0,
    });
    expect(withBos.meanNll).toBeCloseTo(four.meanNll, 6);
  });

  test('optimum: windows of 512, every prediction scored; the same mean as gptq at 512', () => {
    const ids = Array.from({ length: 2 * 512 + 37 }, (_, i) => (i * i + 3 * i + (i >> 3)) % 4);
    let expectedBits = 0;
    for (const window of [0, 1]) {
      for (let t = 0; t < 511; t++)
        expectedBits += bits(ids[window * 512 + t]!, ids[window * 512 + t + 1]!);
    }
    const optimum = perplexity(model, ids, { protocol: 'optimum', batch: 2 });
    expect(optimum).toMatchObject({ windows: 2, tokens: 1022, seqlen: 512, protocol: 'optimum' });
    expect(optimum.meanNll).toBeCloseTo((expectedBits / 1022) * LN2, 6);
    const gptq = perplexity(model, ids, { seqlen: 512 });
    expect(relative(gptq.meanNll, optimum.meanNll)).toBeLessThan(1e-12);
  });

  test('default window lengths are the ones each protocol is quoted with', () => {
    expect(PERPLEXITY_PROTOCOLS).toEqual(['gptq-non-overlapping', 'optimum', 'llama.cpp']);
    expect(PERPLEXITY_PROTOCOLS.map(defaultSeqlen)).toEqual([2048, 512, 512]);
    const ids = Array.from({ length: 1030 }, (_, i) => i % 4);
    expect(perplexity(model, ids, { protocol: 'llama.cpp' }).seqlen).toBe(512);
    expect(perplexity(model, ids, { protocol: 'llama.cpp' }).tokens).toBe(2 * 255);
  });

  test('rejects what a protocol does not allow, naming it', () => {
    const ids = Array.from({ length: 1100 }, (_, i) => i % 4);
    expectInvalid(
      () => perplexity(model, ids, { protocol: 'optimum', seqlen: 256 }),
      /optimum protocol scores windows of 512 tokens only, got seqlen 256/,
    );
    expectInvalid(
      () => perplexity(model, ids.slice(0, 7), { protocol: 'llama.cpp', seqlen: 4 }),
      /7 tokens make 1 window of seqlen 4; the llama\.cpp protocol needs at least 8 tokens/,
    );
    expectInvalid(
      () => perplexity(model, ids, { seqlen: 4, bosTokenId: 1 }),
      /bosTokenId applies to the llama\.cpp protocol only/,
    );
    expectInvalid(
      () => perplexity(model, ids, { protocol: 'llama.cpp', seqlen: 4, bosTokenId: 9 }),
      /bosTokenId 9 is outside the vocabulary 0\.\.3/,
    );
    expectInvalid(
      () => perplexity(model, ids),
      /seqlen 2048 is more than the model's 1024 positions/,
    );
  });
});

interface ProtocolReference {
  windows: number;
  ids: number[];
  optimum: { ppl: number };
  'llama.cpp': { ppl: number; scored: number };
}
/** scripts/protocol-reference.py: float64 NumPy, written from optimum's and llama.cpp's code. */
const reference = JSON.parse(
  readFileSync(`${ROOT}fixtures/eval-metrics/wikillama-protocols-reference.json`, 'utf8'),
) as ProtocolReference;

describe('the protocols on wikillama and WikiText-2', () => {
  let model: CausalLM;
  let ids: number[];
  beforeAll(async () => {
    model = modelFromFolder(WIKILLAMA);
    ids = wikitextIds(await loadTokenizer(WIKILLAMA), 4 * 512 + 100);
  });
  afterAll(() => model.dispose());

  test('optimum and llama.cpp match the float64 reference on the first 4 windows of 512', () => {
    expect(ids.slice(0, 4 * 512)).toEqual(reference.ids);
    const optimum = perplexity(model, reference.ids, { protocol: 'optimum', batch: 2 });
    expect(optimum.windows).toBe(reference.windows);
    expect(relative(optimum.ppl, reference.optimum.ppl)).toBeLessThan(2e-5);
    const llamaCpp = perplexity(model, reference.ids, {
      protocol: 'llama.cpp',
      bosTokenId: 1,
      batch: 2,
    });
    expect(llamaCpp.tokens).toBe(reference['llama.cpp'].scored);
    expect(relative(llamaCpp.ppl, reference['llama.cpp'].ppl)).toBeLessThan(2e-5);
  });

  test('optimum equals gptq-non-overlapping at 512', () => {
    const optimum = perplexity(model, ids, { protocol: 'optimum', batch: 2 });
    const gptq = perplexity(model, ids, { seqlen: 512, batch: 4 });
    expect(optimum.windows).toBe(4);
    expect(optimum.tokens).toBe(4 * 511);
    expect(relative(optimum.meanNll, gptq.meanNll)).toBeLessThan(1e-6);
  });

  test('llama.cpp puts BOS first in every chunk and scores only its second half', () => {
    const withBos = perplexity(model, ids, { protocol: 'llama.cpp', bosTokenId: 1, batch: 2 });
    expect(withBos).toMatchObject({ windows: 4, tokens: 4 * 255, scoredPerWindow: 255 });
    // The same as feeding a stream whose chunks already start with BOS.
    const starts = [...ids];
    for (let chunk = 0; chunk < 4; chunk++) starts[chunk * 512] = 1;
    const literal = perplexity(model, starts, { protocol: 'llama.cpp' });
    expect(relative(literal.meanNll, withBos.meanNll)).toBeLessThan(1e-6);
    // Without BOS the chunks after the first start mid-text, and the model sees it.
    const without = perplexity(model, ids, { protocol: 'llama.cpp' });
    expect(relative(without.meanNll, withBos.meanNll)).toBeGreaterThan(1e-5);
  });
});

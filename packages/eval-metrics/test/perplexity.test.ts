import '@slimlm/kernels-cpu';
import { readFileSync } from 'node:fs';
import { SlimlmError } from '@slimlm/core';
import { loadTokenizer } from '@slimlm/hub';
import { type CausalLM, modelFromFolder } from '@slimlm/models';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { perplexity } from '../src/index';
import { ROOT, relative, STORIES, WIKILLAMA, WIKITEXT, wikitextIds } from './helpers';

interface NllEntry {
  ids_with_bos?: number[];
  predicted_positions: number;
  mean_nll_nats: number;
  perplexity: number;
}
const wikillamaReference = JSON.parse(
  readFileSync(`${ROOT}fixtures/wikillama-7m-reference.json`, 'utf8'),
) as { heldout_ppl: { first_64_windows: Record<string, number> } };
const storiesReference = JSON.parse(
  readFileSync(`${ROOT}fixtures/stories260K-reference.json`, 'utf8'),
) as { nll: NllEntry[] };

describe('perplexity, gptq-non-overlapping protocol, wikillama-7m', () => {
  let model: CausalLM;
  let ids: number[];
  beforeAll(async () => {
    model = modelFromFolder(WIKILLAMA);
    // 64 windows and a tail that the protocol drops.
    ids = wikitextIds(await loadTokenizer(WIKILLAMA), 64 * 256 + 200);
  });
  afterAll(() => model.dispose());

  test('the first 64 windows of 256 match the PyTorch reference', () => {
    const expected = wikillamaReference.heldout_ppl.first_64_windows;
    const progress: [number, number][] = [];
    const result = perplexity(model, ids, {
      seqlen: 256,
      batch: 8,
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(result.windows).toBe(64);
    expect(result.tokens).toBe(expected.predicted_tokens);
    expect(result.seqlen).toBe(256);
    expect(result.protocol).toBe('gptq-non-overlapping');
    expect(relative(result.ppl, expected.ppl!)).toBeLessThan(2e-5);
    expect(Math.abs(result.meanNll - expected.mean_nll_nats!)).toBeLessThan(2e-5);
    expect(result.ppl).toBeCloseTo(Math.exp(result.meanNll), 10);
    expect(progress[0]).toEqual([0, 64]);
    expect(progress.at(-1)).toEqual([64, 64]);
    expect(progress).toHaveLength(9);
  });

  test('maxWindows scores the first windows only', () => {
    const limited = perplexity(model, ids, { seqlen: 256, maxWindows: 5 });
    const exact = perplexity(model, ids.slice(0, 5 * 256), { seqlen: 256 });
    expect(limited.windows).toBe(5);
    expect(limited.tokens).toBe(5 * 255);
    expect(limited.meanNll).toBe(exact.meanNll);
    // More than there are is all of them.
    expect(
      perplexity(model, ids.slice(0, 2 * 256 + 7), { seqlen: 256, maxWindows: 9 }).windows,
    ).toBe(2);
  });

  test('batch sizes give the same result', () => {
    const options = { seqlen: 128, maxWindows: 7 };
    const one = perplexity(model, ids, { ...options, batch: 1 });
    for (const batch of [2, 3, 7, 16]) {
      const other = perplexity(model, ids, { ...options, batch });
      expect(other.windows).toBe(7);
      expect(relative(other.meanNll, one.meanNll)).toBeLessThan(1e-6);
    }
  });

  test('windows are scored independently (no context carried over)', () => {
    const a = perplexity(model, ids.slice(0, 256), { seqlen: 256 });
    const b = perplexity(model, ids.slice(256, 512), { seqlen: 256 });
    const both = perplexity(model, ids.slice(0, 512), { seqlen: 256, batch: 2 });
    expect(relative(both.meanNll, (a.meanNll + b.meanNll) / 2)).toBeLessThan(1e-6);
  });
});

describe('perplexity, stories260K', () => {
  let model: CausalLM;
  beforeAll(() => {
    model = modelFromFolder(STORIES);
  });
  afterAll(() => model.dispose());

  test('the story sentence (one window of 32 ids)', () => {
    const entry = storiesReference.nll[0]!;
    const ids = entry.ids_with_bos!;
    const result = perplexity(model, ids, { seqlen: ids.length });
    expect(result.tokens).toBe(entry.predicted_positions);
    expect(relative(result.meanNll, entry.mean_nll_nats)).toBeLessThan(1e-4);
    expect(relative(result.ppl, entry.perplexity)).toBeLessThan(1e-4);
  });

  test('the first 255 WikiText tokens (one window of 256 ids)', async () => {
    const entry = storiesReference.nll[1]!;
    const tokenizer = await loadTokenizer(STORIES);
    const text = Array.from(readFileSync(WIKITEXT, 'utf8')).slice(0, 4000).join('');
    const ids = [1, ...tokenizer.encode(text, { addSpecialTokens: false }).slice(0, 255)];
    const result = perplexity(model, ids, { seqlen: 256 });
    expect(result.windows).toBe(1);
    expect(result.tokens).toBe(entry.predicted_positions);
    expect(relative(result.meanNll, entry.mean_nll_nats)).toBeLessThan(1e-4);
    expect(relative(result.ppl, entry.perplexity)).toBeLessThan(1e-4);
  });

  test('rejects what cannot be scored, naming the problem', () => {
    const ids = [1, 2, 3, 4, 5];
    const fails = (options: Parameters<typeof perplexity>[2], pattern: RegExp, input = ids) => {
      let error: unknown;
      try {
        perplexity(model, input, options);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SlimlmError);
      expect((error as SlimlmError).code).toBe('INVALID_ARGUMENT');
      expect((error as Error).message).toMatch(pattern);
    };
    fails({ seqlen: 8 }, /5 tokens make no window of seqlen 8/);
    fails({ seqlen: 1 }, /seqlen must be an integer >= 2/);
    fails({ seqlen: 2, batch: 0 }, /batch must be an integer >= 1/);
    fails({ seqlen: 2, maxWindows: 0 }, /maxWindows must be an integer >= 1/);
    fails({ seqlen: 2, protocol: 'sliding' as never }, /unknown protocol 'sliding'/);
    fails({ seqlen: 2 }, /token 1 is 512, outside the vocabulary 0\.\.511/, [1, 512, 3]);
  });
});

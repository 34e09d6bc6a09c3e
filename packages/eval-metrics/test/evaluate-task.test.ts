import '@slimlm/kernels-cpu';
import { readFileSync } from 'node:fs';
import { SlimlmError } from '@slimlm/core';
import { type LoadedModel, loadModel } from '@slimlm/models';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bleu, evaluateTask, type TaskExample } from '../src/index';
import { ROOT, STORIES } from './helpers';

const golden = JSON.parse(readFileSync(`${ROOT}fixtures/stories260K-reference.json`, 'utf8')) as {
  llama2c_golden: { text: string };
};

const EXAMPLES: TaskExample[] = [
  { prompt: 'Once upon a time', response: 'There was a little girl named Lily.' },
  { prompt: 'One day, Tom', response: ['went to the park with his mom', 'went home'] },
];

describe('evaluateTask on stories260K', () => {
  let loaded: LoadedModel;
  beforeAll(async () => {
    loaded = await loadModel(STORIES);
  });
  afterAll(() => loaded.dispose());

  test('greedy answers, cut at the stop string, scored as worked out by hand', () => {
    const progress: [number, number][] = [];
    const result = evaluateTask(loaded.model, loaded.tokenizer, EXAMPLES, {
      maxNewTokens: 12,
      stopStrings: ['.'],
      onProgress: (done, total) => progress.push([done, total]),
    });
    // llama2.c's own greedy run continues "Once upon a time" the same way.
    expect(golden.llama2c_golden.text.startsWith(`Once upon a time${result.predictions[0]}.`)).toBe(
      true,
    );
    expect(result.predictions).toEqual([
      ', there was a little girl named Lily',
      'and his mom went to the park',
    ]);
    expect(result.examples).toBe(2);
    expect(progress).toEqual([
      [0, 2],
      [1, 2],
      [2, 2],
    ]);
    // Example 1 matches after normalisation. Example 2: "and his mom went to park" vs "went to
    // park with his mom" share 5 of 6 tokens; ROUGE-L keeps "the": LCS "went to the park", 4 of 7.
    expect(result.scores.exactMatch).toBeCloseTo(0.5, 12);
    expect(result.scores.tokenF1).toBeCloseTo((1 + 5 / 6) / 2, 12);
    expect(result.scores.rougeL).toBeCloseTo((1 + 4 / 7) / 2, 12);
    expect(result.scores.accuracy).toBe(0);
    const references = EXAMPLES.map((e) => e.response);
    expect(result.bleu).toEqual(bleu(result.predictions, references));
    expect(result.scores.bleu).toBe(result.bleu!.score);
    expect(result.generatedTokens).toBeGreaterThan(10);
  });

  test('batched generation gives the same answers; only the requested metrics are computed', () => {
    const one = evaluateTask(loaded.model, loaded.tokenizer, EXAMPLES, { maxNewTokens: 8 });
    const two = evaluateTask(loaded.model, loaded.tokenizer, EXAMPLES, {
      maxNewTokens: 8,
      batch: 2,
      metrics: ['exactMatch', 'rougeL'],
    });
    expect(two.predictions).toEqual(one.predictions);
    expect(Object.keys(two.scores).sort()).toEqual(['exactMatch', 'rougeL']);
    expect(two.bleu).toBeUndefined();
  });

  test('rejects bad examples and options, naming them', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => evaluateTask(loaded.model, loaded.tokenizer, []), /no examples to evaluate/],
      [
        () => evaluateTask(loaded.model, loaded.tokenizer, [{ prompt: '', response: 'x' }]),
        /example 0 has no prompt/,
      ],
      [
        () => evaluateTask(loaded.model, loaded.tokenizer, [{ prompt: 'a', response: [] }]),
        /example 0: response must be a string or a non-empty array/,
      ],
      [
        () =>
          evaluateTask(loaded.model, loaded.tokenizer, EXAMPLES, { metrics: ['meteor' as never] }),
        /unknown metric 'meteor'/,
      ],
      [
        () => evaluateTask(loaded.model, loaded.tokenizer, EXAMPLES, { maxNewTokens: 0 }),
        /maxNewTokens must be an integer >= 1/,
      ],
    ];
    for (const [run, pattern] of cases) {
      let error: unknown;
      try {
        run();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SlimlmError);
      expect((error as Error).message).toMatch(pattern);
    }
  });
});

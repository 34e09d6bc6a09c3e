import { activeBackend } from '@slimlm/core';
import { expect, test } from 'vitest';
import { greedyCached, logitRows, modelBeforeAll, STORIES, storiesReference } from './helpers';

// The same model on the reference backend (f64 math, no native kernels): a smaller check.
const reference = storiesReference();
const model = modelBeforeAll(STORIES);

test('runs on the reference backend', () => {
  expect(activeBackend().name).toBe('reference');
  expect(model().getParameter('model.embed_tokens.weight')?.backend.name).toBe('reference');
});

test('logits at position 0 after BOS match the float64 reference', () => {
  const [row] = logitRows(model(), [1]);
  for (const [id, logit] of reference.logits_pos0_after_bos.top5_id_logit as number[][]) {
    expect(Math.abs(row![id!]! - logit!)).toBeLessThan(1e-4);
  }
  const sum = row!.reduce((a, b) => a + b, 0);
  expect(Math.abs(sum - reference.logits_pos0_after_bos.sum_of_512_logits)).toBeLessThan(1e-3);
});

test('greedy decoding with a KV cache', () => {
  const { input_ids, output_ids } = reference.greedy_from_bos;
  expect(greedyCached(model(), input_ids, 12)).toEqual(output_ids.slice(0, 13));
});

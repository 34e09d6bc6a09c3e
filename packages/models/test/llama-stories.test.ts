import '@slimlm/kernels-cpu';
import { readFileSync } from 'node:fs';
import { loadTokenizer } from '@slimlm/hub';
import { describe, expect, test } from 'vitest';
import {
  greedyCached,
  greedyRecompute,
  logitRows,
  modelBeforeAll,
  STORIES,
  storiesReference,
  WIKITEXT,
  windowNlls,
} from './helpers';

// stories260K (f32 Llama, tied embeddings) against the float64 reference of HF Llama semantics.
const reference = storiesReference();
const model = modelBeforeAll(STORIES);

describe('stories260K on the cpu backend', () => {
  test('logits at position 0 after BOS', () => {
    const [row] = logitRows(model(), [1]);
    const expected = reference.logits_pos0_after_bos;
    const top5 = [...row!.keys()].sort((a, b) => row![b]! - row![a]!).slice(0, 5);
    expect(top5).toEqual(expected.top5_id_logit.map(([id]: number[]) => id));
    for (const [id, logit] of expected.top5_id_logit as number[][]) {
      expect(Math.abs(row![id!]! - logit!)).toBeLessThan(1e-4);
    }
    const sum = row!.reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - expected.sum_of_512_logits)).toBeLessThan(1e-3);
  });

  test('greedy 40 tokens from BOS, with a KV cache and by recomputation', () => {
    const { input_ids, new_tokens, output_ids } = reference.greedy_from_bos;
    expect(greedyCached(model(), input_ids, new_tokens)).toEqual(output_ids);
    expect(greedyRecompute(model(), input_ids, new_tokens)).toEqual(output_ids);
  });

  test('the llama2.c golden prompt continues as run.c does', () => {
    const { prompt_ids_with_bos } = reference.llama2c_golden;
    const out = greedyCached(model(), prompt_ids_with_bos, 10);
    // The golden prompt is a prefix of the greedy-from-BOS text, so the continuation is too.
    expect(out).toEqual(reference.greedy_from_bos.output_ids.slice(0, out.length));
  });

  test('mean NLL of the story sentence', () => {
    const entry = reference.nll[0];
    const [nll] = windowNlls(model(), [entry.ids_with_bos]);
    expect(Math.abs(nll! - entry.mean_nll_nats) / entry.mean_nll_nats).toBeLessThan(1e-3);
  });

  test('mean NLL of the first 255 WikiText tokens', async () => {
    const entry = reference.nll[1];
    const tokenizer = await loadTokenizer(STORIES);
    // Per the reference: the first 4000 characters, encoded, the first 255 tokens, BOS prepended.
    const text = Array.from(readFileSync(WIKITEXT, 'utf8')).slice(0, 4000).join('');
    const ids = [1, ...tokenizer.encode(text, { addSpecialTokens: false }).slice(0, 255)];
    expect(ids).toHaveLength(256);
    const [nll] = windowNlls(model(), [ids]);
    expect(Math.abs(nll! - entry.mean_nll_nats) / entry.mean_nll_nats).toBeLessThan(1e-3);
  });
});

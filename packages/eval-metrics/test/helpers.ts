import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tensor, zeros } from '@slimlm/core';
import type { Tokenizer } from '@slimlm/hub';
import { type CausalLM, getArchitecture } from '@slimlm/models';
import { expect } from 'vitest';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const WIKILLAMA = `${ROOT}packages/models/assets/wikillama-7m`;
export const STORIES = `${ROOT}fixtures/stories260K-hf`;
export const WIKITEXT = `${ROOT}fixtures/wikitext-2-raw/wiki.test.raw`;

export const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/**
 * The first `count` ids of [1] + encode(wiki.test.raw): a prefix cut at a line boundary encodes
 * to the same leading ids as the whole file (packages/models/scripts/heldout-ppl.mjs checks it).
 */
export function wikitextIds(tokenizer: Tokenizer, count: number): number[] {
  const text = readFileSync(WIKITEXT, 'utf8');
  const cut = text.lastIndexOf('\n', 6 * count) + 1;
  const ids = [1, ...tokenizer.encode(text.slice(0, cut), { addSpecialTokens: false })];
  expect(ids.length).toBeGreaterThanOrEqual(count);
  return ids.slice(0, count);
}

/**
 * Next-token probabilities of the bigram model below: row i is the distribution after token i.
 * Powers of two, so every NLL is a whole number of bits.
 */
export const BIGRAM = [
  [1 / 2, 1 / 4, 1 / 8, 1 / 8],
  [1 / 4, 1 / 2, 1 / 8, 1 / 8],
  [1 / 8, 1 / 8, 1 / 2, 1 / 4],
  [1 / 8, 1 / 8, 1 / 4, 1 / 2],
];

/** −log2 P(next | current) under BIGRAM: the cost of one prediction, in bits. */
export const bits = (current: number, next: number) => -Math.log2(BIGRAM[current]![next]!);

/**
 * A one-layer Llama whose next-token distribution depends on the current token only and is
 * exactly BIGRAM: embeddings are the identity, attention and MLP write zeros (o_proj, down_proj
 * zero), so the final RMSNorm sees the one-hot e_i and scales it to 2·e_i, and lm_head holds
 * ½·ln BIGRAM[i] in column i, giving logits ln BIGRAM[i] whose softmax is BIGRAM[i].
 */
export function bigramModel(maxPositions = 1024): CausalLM {
  const vocab = BIGRAM.length;
  const model = getArchitecture('llama').create(
    {
      model_type: 'llama',
      vocab_size: vocab,
      hidden_size: vocab,
      intermediate_size: vocab,
      num_hidden_layers: 1,
      num_attention_heads: 1,
      num_key_value_heads: 1,
      head_dim: vocab,
      max_position_embeddings: maxPositions,
      rms_norm_eps: 1e-12,
      tie_word_embeddings: false,
    },
    'bigram/config.json',
  );
  const identity = Array.from({ length: vocab * vocab }, (_, k) =>
    Math.floor(k / vocab) === k % vocab ? 1 : 0,
  );
  const head = Array.from({ length: vocab * vocab }, (_, k) => {
    const next = Math.floor(k / vocab);
    const current = k % vocab;
    return 0.5 * Math.log(BIGRAM[current]![next]!);
  });
  for (const [path, shape] of model.parameterShapes()) {
    if (path === 'model.embed_tokens.weight') {
      model.setParameter(path, tensor(identity, { shape: [vocab, vocab] }));
    } else if (path === 'lm_head.weight') {
      model.setParameter(path, tensor(head, { shape: [vocab, vocab] }));
    } else if (path.endsWith('norm.weight')) {
      model.setParameter(path, tensor(new Array(vocab).fill(1), { shape }));
    } else {
      model.setParameter(path, zeros(shape));
    }
  }
  return model;
}

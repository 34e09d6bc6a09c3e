import '@slimlm/kernels-cpu';
import { readFileSync } from 'node:fs';
import { memory } from '@slimlm/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, generateText, type LoadedModel, loadModel } from '../src/index';

// Generation on the real stories260K checkpoint (f32 Llama, 512-token sentencepiece vocabulary).
const ROOT = new URL('../../../', import.meta.url);
const STORIES = new URL('fixtures/stories260K-hf', ROOT).pathname;
const reference = JSON.parse(
  readFileSync(new URL('fixtures/stories260K-reference.json', ROOT), 'utf8'),
) as {
  greedy_from_bos: { input_ids: number[]; new_tokens: number; output_ids: number[] };
  llama2c_golden: { prompt_ids_with_bos: number[]; text: string };
};

let loaded: LoadedModel;
beforeAll(async () => {
  loaded = await loadModel(STORIES);
});
afterAll(() => loaded.dispose());

describe('generation on stories260K', () => {
  it('greedy 40 tokens from BOS match the reference ids', () => {
    const { input_ids, new_tokens, output_ids } = reference.greedy_from_bos;
    const result = generate(loaded.model, [input_ids], { maxNewTokens: new_tokens });
    expect([...input_ids, ...result.tokens[0]!]).toEqual(output_ids);
    expect(result.finishReasons).toEqual(['length']);
  });

  it("generateText('Once upon a time') continues as llama2.c's greedy golden text", () => {
    const golden = reference.llama2c_golden;
    const prompt = 'Once upon a time';
    const pieces: string[] = [];
    const result = generateText(loaded, prompt, {
      maxNewTokens: 64,
      onToken: (e) => pieces.push(e.text),
    });
    expect(result.promptTokens).toEqual(golden.prompt_ids_with_bos);
    expect(pieces.join('')).toBe(result.text);
    expect(result.text).toBe(loaded.tokenizer.decode(result.tokens, { skipSpecialTokens: true }));
    // llama2.c's -n 64 counts the prompt's positions too: its text is a prefix of ours.
    expect(`${prompt}${result.text}`.startsWith(golden.text)).toBe(true);
  });

  it('a left-padded batch generates what each prompt does alone (greedy)', () => {
    const prompts = [
      [1, 403, 407, 261, 378],
      [1, 403],
      [1, 403, 407, 261, 378, 432, 383, 286, 261],
    ];
    const before = memory().tensors;
    const batch = generate(loaded.model, prompts, { maxNewTokens: 24, stopTokenIds: [] });
    expect(memory().tensors).toBe(before);
    for (const [b, prompt] of prompts.entries()) {
      const alone = generate(loaded.model, [prompt], { maxNewTokens: 24, stopTokenIds: [] });
      expect(batch.tokens[b]).toEqual(alone.tokens[0]);
    }
  });

  it('sampling is reproducible with a seed and varies between seeds', () => {
    const options = { maxNewTokens: 30, temperature: 1.2, topK: 40, topP: 0.95, stopTokenIds: [] };
    const run = (seed: number) => generate(loaded.model, [[1]], { ...options, seed }).tokens[0];
    expect(run(3)).toEqual(run(3));
    expect(run(3)).not.toEqual(run(4));
  });

  it('stops on a stop string in the generated text, keeping its token', () => {
    const result = generateText(loaded, 'Once upon a time', {
      maxNewTokens: 64,
      stopStrings: ['Lily'],
    });
    expect(result.finishReason).toBe('stop-string');
    expect(result.text).toBe(', there was a little girl named Lily');
  });

  it('a repetition penalty steers greedy decoding away from seen tokens', () => {
    const plain = generate(loaded.model, [[1]], { maxNewTokens: 8 }).tokens[0]!;
    const penalised = generate(loaded.model, [[1]], { maxNewTokens: 8, repetitionPenalty: 3 });
    // '... a time, there was a' repeats 'a' (261) as its 8th token; penalised, it does not.
    expect(plain[7]).toBe(261);
    expect(penalised.tokens[0]!.slice(0, 7)).toEqual(plain.slice(0, 7));
    expect(penalised.tokens[0]![7]).not.toBe(261);
  });
});

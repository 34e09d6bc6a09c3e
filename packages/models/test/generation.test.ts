import { type Tensor, tensor } from '@slimlm/core';
import { loadTokenizer, type Tokenizer } from '@slimlm/hub';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type ArchitectureConfig,
  type BlockContext,
  CausalLM,
  type DecoderBlockInfo,
  type ForwardOptions,
  generate,
  generateText,
  type TokenEvent,
} from '../src/index';

const STORIES = new URL('../../../fixtures/stories260K-hf', import.meta.url).pathname;

/**
 * A model that "predicts" a fixed script per row: at decoding step s it puts all its mass on
 * scripts[row][s] (eos 2 once the script runs out). It records what generate feeds it.
 */
class ScriptedLM extends CausalLM {
  readonly config: ArchitectureConfig;
  readonly calls: { ids: number[][]; mask?: number[][]; past: number }[] = [];

  constructor(
    private readonly scripts: number[][],
    vocabSize = 512,
  ) {
    super();
    this.config = {
      modelType: 'scripted',
      vocabSize,
      hiddenSize: 1,
      numLayers: 1,
      numHeads: 1,
      numKvHeads: 1,
      headDim: 1,
      maxPositions: 128,
      tieWordEmbeddings: false,
      bosTokenId: 1,
      eosTokenIds: [2],
      raw: {},
    };
  }

  override forward(inputIds: Tensor, options: ForwardOptions = {}): Tensor {
    const [batch, length] = inputIds.shape as [number, number];
    const past = options.cache?.length(0) ?? 0;
    const step = this.calls.length;
    this.calls.push({
      ids: inputIds.toArray() as number[][],
      ...(options.attentionMask ? { mask: options.attentionMask.toArray() as number[][] } : {}),
      past,
    });
    // Stand in for the blocks' cache appends, so that `past` grows as with a real model.
    options.cache?.append(0, zeros(batch, length), zeros(batch, length)).k.dispose();
    const { vocabSize } = this.config;
    const logits = new Float32Array(batch * length * vocabSize);
    for (let b = 0; b < batch; b++) {
      const next = this.scripts[b]?.[step] ?? 2;
      logits[(b * length + length - 1) * vocabSize + next] = 10;
    }
    return tensor(logits, { shape: [batch, length, vocabSize] });
  }

  embed(_ids: Tensor, _context: BlockContext): Tensor {
    throw new Error('not used');
  }
  decoderBlocks(): DecoderBlockInfo[] {
    return [];
  }
  head(hidden: Tensor): Tensor {
    return hidden;
  }
}

function zeros(batch: number, length: number): Tensor {
  return tensor(new Float32Array(batch * length), { shape: [batch, 1, length, 1] });
}

describe('generate with a scripted model', () => {
  let tokenizer: Tokenizer;
  beforeAll(async () => {
    tokenizer = await loadTokenizer(STORIES);
  });

  it('prefills once, then feeds one token per step with a growing cache', () => {
    const model = new ScriptedLM([[5, 6, 7]]);
    const result = generate(model, [[1, 9, 9]], { maxNewTokens: 3 });
    expect(result).toEqual({ tokens: [[5, 6, 7]], finishReasons: ['length'] });
    expect(model.calls).toEqual([
      { ids: [[1, 9, 9]], past: 0 },
      { ids: [[5]], past: 3 },
      { ids: [[6]], past: 4 },
    ]);
  });

  it('left-pads prompts, extends the mask, feeds pad to rows after their stop token', () => {
    const model = new ScriptedLM([
      [5, 2, 8, 8],
      [6, 7, 8, 9],
    ]);
    const result = generate(model, [[1, 4], [1]], { maxNewTokens: 4, padTokenId: 0 });
    expect(result).toEqual({
      tokens: [
        [5, 2],
        [6, 7, 8, 9],
      ],
      finishReasons: ['stop-token', 'length'],
    });
    expect(model.calls.map((c) => c.ids)).toEqual([
      [
        [1, 4],
        [0, 1],
      ],
      [[5], [6]],
      [[2], [7]],
      [[0], [8]],
    ]);
    expect(model.calls.map((c) => c.mask)).toEqual([
      [
        [1, 1],
        [0, 1],
      ],
      [
        [1, 1, 1],
        [0, 1, 1],
      ],
      [
        [1, 1, 1, 1],
        [0, 1, 1, 1],
      ],
      [
        [1, 1, 1, 1, 1],
        [0, 1, 1, 1, 1],
      ],
    ]);
  });

  it('pads with eos when nothing names a pad token; equal prompts need no mask', () => {
    const model = new ScriptedLM([[5], [6]]);
    generate(model, [[1, 3], [1]], { maxNewTokens: 1 });
    expect(model.calls[0]?.ids).toEqual([
      [1, 3],
      [2, 1],
    ]);
    const unpadded = new ScriptedLM([[5], [6]]);
    generate(unpadded, [[1], [1]], { maxNewTokens: 1 });
    expect(unpadded.calls[0]?.mask).toBeUndefined();
  });

  it('stop token ids default to eos; an empty list disables them', () => {
    const script = [[5, 2, 6]];
    expect(generate(new ScriptedLM(script), [[1]], { maxNewTokens: 3 })).toEqual({
      tokens: [[5, 2]],
      finishReasons: ['stop-token'],
    });
    const noStop = generate(new ScriptedLM(script), [[1]], { maxNewTokens: 3, stopTokenIds: [] });
    expect(noStop).toEqual({ tokens: [[5, 2, 6]], finishReasons: ['length'] });
    const custom = generate(new ScriptedLM(script), [[1]], { maxNewTokens: 3, stopTokenIds: [5] });
    expect(custom).toEqual({ tokens: [[5]], finishReasons: ['stop-token'] });
  });

  it('stop strings end a row on the token completing them, which is kept', () => {
    // 'Once upon a time, there' with the stop string 'a ti' completed inside '▁time'.
    const ids = tokenizer.encode('Once upon a time, there', { addSpecialTokens: false });
    const model = new ScriptedLM([ids]);
    const result = generate(model, [[1]], { maxNewTokens: 10, stopStrings: ['a ti'], tokenizer });
    expect(result.tokens[0]).toEqual(ids.slice(0, 4));
    expect(result.finishReasons).toEqual(['stop-string']);
  });

  it("streams every token; a row's pieces concatenate to its text, multi-byte included", () => {
    const texts = ['日本 is far, €5!\nThe end', 'Once upon a time'];
    const scripts = texts.map((t) => tokenizer.encode(t, { addSpecialTokens: false }));
    const events: TokenEvent[] = [];
    const model = new ScriptedLM(scripts.map((s) => [...s, 2]));
    const result = generate(model, [[1, 403], [1]], {
      maxNewTokens: 40,
      tokenizer,
      onToken: (event) => events.push(event),
    });
    expect(result.finishReasons).toEqual(['stop-token', 'stop-token']);
    for (const [b, text] of texts.entries()) {
      const rowEvents = events.filter((e) => e.batchIndex === b);
      expect(rowEvents.map((e) => e.id)).toEqual(result.tokens[b]);
      expect(rowEvents.map((e) => e.text).join('')).toBe(b === 0 ? ` ${text}` : text);
    }
    const cjk = events.filter((e) => e.batchIndex === 0).slice(0, 8);
    expect(cjk.map((e) => e.text)).toEqual(['', '', '', ' 日', '', '', '本', '']);
  });

  it('without a tokenizer, onToken still reports ids with empty text', () => {
    const events: TokenEvent[] = [];
    generate(new ScriptedLM([[5, 6]]), [[1]], { maxNewTokens: 2, onToken: (e) => events.push(e) });
    expect(events).toEqual([
      { batchIndex: 0, id: 5, text: '' },
      { batchIndex: 0, id: 6, text: '' },
    ]);
  });

  it('maxNewTokens 0 returns at once', () => {
    const model = new ScriptedLM([[5]]);
    expect(generate(model, [[1], [1, 2]], { maxNewTokens: 0 })).toEqual({
      tokens: [[], []],
      finishReasons: ['length', 'length'],
    });
    expect(model.calls).toHaveLength(0);
  });

  it('rejects empty or out-of-vocabulary prompts', () => {
    const model = new ScriptedLM([[5]]);
    expect(() => generate(model, [])).toThrow(/prompts must be a non-empty array/);
    expect(() => generate(model, [[1], []])).toThrow(/prompt 1 is empty/);
    expect(() => generate(model, [[1, 512]])).toThrow(
      /prompt 0 holds 512, not a token id of the 512-token vocabulary/,
    );
    expect(() => generate(model, [[1]], { maxNewTokens: 128 })).toThrow(
      /prompt \(1 tokens\) \+ maxNewTokens \(128\) = 129 exceeds the model's 128 positions/,
    );
  });

  it('generateText encodes with BOS, streams and returns the generated text', () => {
    const ids = tokenizer.encode('Once upon a time, there was').slice(5);
    const model = new ScriptedLM([[...ids, 2]]);
    const pieces: string[] = [];
    const result = generateText(
      { model, tokenizer, generationConfig: { eosTokenIds: [2], maxNewTokens: 30, raw: {} } },
      'Once upon a time',
      { onToken: (e) => pieces.push(e.text) },
    );
    expect(result.promptTokens).toEqual([1, 403, 407, 261, 378]);
    expect(result.tokens).toEqual([...ids, 2]);
    expect(result.text).toBe(', there was');
    expect(pieces.join('')).toBe(result.text);
    expect(result.finishReason).toBe('stop-token');
  });
});

import { loadTokenizer, type Tokenizer } from '@slimlm/hub';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../hub/test/helpers/errors';
import {
  alpacaTemplate,
  chatTemplate,
  filterByLength,
  IGNORE_INDEX,
  packExamples,
  type TokenizedExample,
  tokenizeExample,
  tokenizeInstructions,
} from '../src/index';
import { ALPACA, scratchFolder, WIKILLAMA } from './helpers/fixtures';
import { LLAMA2_JINJA, wikillamaWithChatTemplate } from './helpers/tokenizers';

const scratch = scratchFolder('tokenize');
const BOS = 1;
const EOS = 2;

let tokenizer: Tokenizer;
beforeAll(async () => {
  tokenizer = await loadTokenizer(WIKILLAMA);
});

/** The ids whose labels count, and how many leading labels are masked. */
function supervised(example: TokenizedExample) {
  const masked = example.labels.findIndex((label) => label !== IGNORE_INDEX);
  return {
    masked,
    ids: example.inputIds.filter((_, i) => example.labels[i] !== IGNORE_INDEX),
  };
}

describe('tokenizeExample', () => {
  it('masks the prompt (BOS included) and learns the response and EOS, as Stanford Alpaca does', () => {
    const example = alpacaTemplate.render(ALPACA[1]!);
    const tokenized = tokenizeExample(tokenizer, example);
    const promptIds = tokenizer.encode(example.prompt);
    expect(promptIds[0]).toBe(BOS);
    // The whole text encodes as the prompt's 80 ids, then 'E' ',' '▁G' ',' '▁B', then EOS.
    expect(promptIds).toHaveLength(80);
    expect(tokenized.inputIds).toEqual([...promptIds, 3825, 3796, 390, 3796, 355, EOS]);
    expect(tokenized.labels).toEqual([
      ...promptIds.map(() => IGNORE_INDEX),
      3825,
      3796,
      390,
      3796,
      355,
      EOS,
    ]);
    expect(tokenizer.decode(supervised(tokenized).ids)).toBe('E, G, B</s>');
  });

  it('counts a token that straddles the prompt and the response as response', () => {
    // "...the ma" + "t." encodes "▁mat" whole: the prompt alone ends "▁m" "a".
    const tokenized = tokenizeExample(tokenizer, {
      prompt: 'The cat sat on the ma',
      response: 't.',
    });
    const tokens = tokenized.inputIds.map((id) => tokenizer.idToToken(id));
    expect(tokens).toEqual(['<s>', '▁The', '▁cat', '▁sat', '▁on', '▁the', '▁mat', '.', '</s>']);
    expect(tokenizer.encode('The cat sat on the ma')).toHaveLength(8);
    expect(supervised(tokenized)).toEqual({ masked: 6, ids: tokenized.inputIds.slice(6) });
  });

  it('cuts at maxLength, adds no EOS when asked not to or when one ends the text already', () => {
    const example = { prompt: 'Question: what is two and two?\nAnswer:', response: ' four' };
    const full = tokenizeExample(tokenizer, example);
    const cut = tokenizeExample(tokenizer, example, { maxLength: 5 });
    expect(cut).toEqual({ inputIds: full.inputIds.slice(0, 5), labels: full.labels.slice(0, 5) });
    expect(tokenizeExample(tokenizer, example, { addEos: false }).inputIds).toEqual(
      full.inputIds.slice(0, -1),
    );
    const closed = tokenizeExample(tokenizer, { prompt: 'Q:', response: ' four</s>' });
    expect(closed.inputIds.filter((id) => id === EOS)).toHaveLength(1);
    expect(closed.inputIds.at(-1)).toBe(EOS);
    expectError(
      () => tokenizeExample(tokenizer, example, { maxLength: 0 }),
      'INVALID_ARGUMENT',
      /maxLength must be a positive integer/,
    );
  });

  it("encodes a chat template's text without adding a second BOS", async () => {
    const chat = await wikillamaWithChatTemplate(scratch, LLAMA2_JINJA);
    const [tokenized] = tokenizeInstructions(chat, [ALPACA[1]!], chatTemplate(chat));
    expect(tokenized!.inputIds.slice(0, 2)).toEqual([BOS, tokenizer.tokenToId('▁[')]);
    expect(tokenized!.inputIds.filter((id) => id === BOS)).toHaveLength(1);
    expect(tokenizer.decode(supervised(tokenized!).ids)).toBe('E, G, B </s>'); // the decoder strips the leading space
  });
});

describe('tokenizeInstructions', () => {
  it('renders and tokenizes every record, dropping those left with nothing to learn', () => {
    const records = ALPACA.slice(0, 20);
    const progress: number[] = [];
    const all = tokenizeInstructions(tokenizer, records, alpacaTemplate, {
      onProgress: (done, total) => progress.push(done / total),
    });
    expect(all).toEqual(records.map((r) => tokenizeExample(tokenizer, alpacaTemplate.render(r))));
    expect(progress.at(-1)).toBe(1);

    // Cut at 90 tokens, the examples whose prompt alone is longer have no label left.
    const cut = tokenizeInstructions(tokenizer, records, alpacaTemplate, { maxLength: 90 });
    const kept = all.filter((e) => supervised(e).masked < 90);
    expect(kept.length).toBeLessThan(all.length);
    expect(cut).toHaveLength(kept.length);
    const withEmpty = tokenizeInstructions(tokenizer, records, alpacaTemplate, {
      maxLength: 90,
      dropUnsupervised: false,
    });
    expect(withEmpty).toHaveLength(20);
  });
});

describe('packExamples', () => {
  const a = { inputIds: [1, 11, 12], labels: [IGNORE_INDEX, 11, 12] };
  const b = { inputIds: [1, 21], labels: [21, 21] };
  const c = { inputIds: [1, 31, 32, 33], labels: [IGNORE_INDEX, IGNORE_INDEX, 32, 33] };

  it('fills sequences in order without splitting examples, masking each later start', () => {
    expect(packExamples([a, b, c, { inputIds: [], labels: [] }], { seqLength: 5 })).toEqual([
      {
        inputIds: [1, 11, 12, 1, 21],
        labels: [IGNORE_INDEX, 11, 12, IGNORE_INDEX, 21],
        exampleStarts: [0, 3],
      },
      { inputIds: [1, 31, 32, 33], labels: c.labels, exampleStarts: [0] },
    ]);
    expect(packExamples([a, b, c], { seqLength: 9 })).toEqual([
      {
        inputIds: [1, 11, 12, 1, 21, 1, 31, 32, 33],
        labels: [IGNORE_INDEX, 11, 12, IGNORE_INDEX, 21, IGNORE_INDEX, IGNORE_INDEX, 32, 33],
        exampleStarts: [0, 3, 5],
      },
    ]);
  });

  it('refuses examples longer than a sequence, or with mismatched labels', () => {
    expectError(
      () => packExamples([c], { seqLength: 3 }),
      'INVALID_ARGUMENT',
      /example 0 has 4 tokens, more than seqLength 3/,
    );
    expectError(
      () => packExamples([{ inputIds: [1, 2], labels: [1] }], { seqLength: 3 }),
      'INVALID_ARGUMENT',
      /2 ids and 1 labels/,
    );
  });
});

describe('filterByLength', () => {
  it('keeps the items whose length lies in [min, max]', () => {
    const examples = [3, 1, 5, 4].map((n) => ({
      inputIds: Array(n).fill(7),
      labels: Array(n).fill(7),
    }));
    expect(filterByLength(examples, { min: 3, max: 4 }).map((e) => e.inputIds.length)).toEqual([
      3, 4,
    ]);
    expect(filterByLength(['ab', 'abcd'], { max: 3, length: (s) => s.length })).toEqual(['ab']);
    expectError(
      () => filterByLength(examples, { min: 5, max: 4 }),
      'INVALID_ARGUMENT',
      /0 ≤ min ≤ max/,
    );
    expectError(() => filterByLength(['x'], { max: 3 }), 'INVALID_ARGUMENT', /no inputIds/);
  });
});

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cutWord } from '../src/tokenizer/bpe-pieces';
import { loadTokenizer } from '../src/tokenizer/load-tokenizer';
import type { Tokenizer } from '../src/tokenizer/tokenizer';

// Tokenizer.encode cuts long words where no BPE merge can cross (src/tokenizer/bpe-pieces.ts).
// Every test here holds it to the library's own one-word encode of the same text.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FOLDERS = {
  wikillama: join(ROOT, 'packages/models/assets/wikillama-7m'),
  stories260K: join(ROOT, 'fixtures/stories260K-hf'),
  'opt-125m (byte-level)': join(ROOT, 'fixtures/datasets/opt-125m-tokenizer'),
};
const WIKITEXT = readFileSync(join(ROOT, 'fixtures/wikitext-2-raw/wiki.test.raw'), 'utf8');
const C4 = readFileSync(join(ROOT, 'fixtures/c4/c4-sample.utf8'), 'utf8');

/** The unmodified library on the same tokenizer.json: one encode of the whole text. */
function referenceEncoder(folder: string): (text: string) => number[] {
  const json = JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8'));
  const tokenizer = new JsTokenizer(json, {});
  return (text) => tokenizer.encode(text, { add_special_tokens: false }).ids;
}

/** Slices of `text` at its start, middle and end (whole words not needed: any cut is a text). */
function slices(text: string, length: number): string[] {
  const middle = Math.floor(text.length / 2);
  return [text.slice(0, length), text.slice(middle, middle + length), text.slice(-length)];
}

const EDGE_CASES = [
  '',
  ' ',
  '   ',
  '\n',
  '\n\n\n',
  ' leading space',
  '   three leading spaces and trailing   ',
  'runs    of     spaces\t\ttabs\n\n  and newlines  \n',
  'unicode: naïve café, 中文字符, emoji 😀👍🏽, combining e\u0301, RTL שלום',
  'a lone surrogate \ud800 in the middle',
  '▁already▁has▁the▁meta▁symbol▁▁▁twice',
  '<s> special tokens </s> inside <unk> the text',
  `${'x'.repeat(700)} one long word`,
  `${' '.repeat(600)}spaces before`,
  `${'ab '.repeat(300)}`,
  `${'😀'.repeat(300)}`,
];

describe.each(Object.entries(FOLDERS))('%s: encode equals one whole-text encode', (_, folder) => {
  let tokenizer: Tokenizer;
  let reference: (text: string) => number[];
  beforeAll(async () => {
    tokenizer = await loadTokenizer(folder);
    reference = referenceEncoder(folder);
  });
  const encode = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });

  it('on WikiText-2 and C4 text', () => {
    for (const text of [...slices(WIKITEXT, 12_000), ...slices(C4, 12_000)]) {
      expect(encode(text)).toEqual(reference(text));
    }
  });

  it('on edge cases: empty, spaces, newlines, unicode, special tokens, long runs', () => {
    for (const text of EDGE_CASES) {
      expect(encode(text), JSON.stringify(text.slice(0, 40))).toEqual(reference(text));
    }
  });

  it('on random texts built from words, spaces, newlines and unicode', () => {
    const fragment = fc.constantFrom(
      ' ',
      '  ',
      '\n',
      '\n\n',
      '\t',
      '▁',
      'the',
      'The',
      ' of',
      'tion',
      'ing',
      '@-@',
      ',',
      '.',
      '1',
      '024',
      'é',
      '中',
      '😀',
      'aaaa',
      'zzqx',
      '<s>',
    );
    fc.assert(
      fc.property(fc.array(fragment, { minLength: 60, maxLength: 400 }), (parts) => {
        const text = parts.join('');
        expect(encode(text)).toEqual(reference(text));
      }),
      { numRuns: 40, seed: 6 },
    );
  });
});

describe('the whole of WikiText-2 test', () => {
  it('encodes with wikillama to the ids SentencePiece gives (count from the reference)', async () => {
    const tokenizer = await loadTokenizer(FOLDERS.wikillama);
    const reference = JSON.parse(
      readFileSync(join(ROOT, 'fixtures/wikillama-7m-reference.json'), 'utf8'),
    );
    const ids = tokenizer.encode(WIKITEXT);
    // [1] + sentencepiece.encode(text), from the model's training machine.
    expect(ids.length).toBe(reference.heldout_ppl.total_ids_incl_bos);
    expect(ids[0]).toBe(1);
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe(WIKITEXT);
  });
});

describe('tokenizers built to test the cut', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'slimlm-bpe-pieces-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** A SentencePiece-like BPE (spaces become '▁', no pre-tokenizer) with these merges. */
  function tinyTokenizer(
    vocab: string[],
    merges: [string, string][],
    options: { ignoreMerges?: boolean } = {},
  ): string {
    const folder = mkdtempSync(join(scratch, 't-'));
    const json = {
      version: '1.0',
      added_tokens: [],
      normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: '<unk>',
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: false,
        ignore_merges: options.ignoreMerges ?? false,
        vocab: Object.fromEntries(['<unk>', ...vocab].map((s, i) => [s, i])),
        merges,
      },
    };
    writeFileSync(join(folder, 'tokenizer.json'), JSON.stringify(json));
    return folder;
  }

  it('never cuts between two characters some merge joins', async () => {
    const joinable = new Map([
      ['a', new Set(['▁', 'b'])],
      ['▁', new Set(['a', 'b'])],
    ]);
    expect(cutWord('a▁b▁▁ab', joinable)).toEqual(['a▁b', '▁', '▁ab']);
    expect(cutWord('bb', joinable)).toEqual(['b', 'b']);
    expect(cutWord('😀😀', joinable)).toEqual(['😀', '😀']);
    expect(cutWord('', joinable)).toEqual(['']);

    // Merges that join 'a' to the '▁' after it: the text must not be cut before those '▁'.
    const folder = tinyTokenizer(
      ['▁', 'a', 'b', 'a▁', '▁b', 'a▁b', '▁a', 'ab', '▁ab'],
      [
        ['a', '▁'],
        ['a▁', 'b'],
        ['▁', 'a'],
        ['a', 'b'],
        ['▁', 'b'],
        ['▁', 'ab'],
      ],
    );
    const tokenizer = await loadTokenizer(folder);
    const reference = referenceEncoder(folder);
    for (const text of ['a b a ab  b c a'.repeat(40), 'a'.repeat(300), ' b'.repeat(200)]) {
      expect(tokenizer.encode(text)).toEqual(reference(text));
    }
    expect(tokenizer.encode('a b a ab  b c a'.repeat(40))).toContain(tokenizer.tokenToId('a▁b'));
  });

  it('leaves a model with ignore_merges to encode whole words', async () => {
    // '▁ab' is in the vocabulary, but the merges make '▁a' + 'b' of it: ignore_merges takes a
    // word found whole in the vocabulary as it is, so a cut-out piece '▁ab' would differ.
    const folder = tinyTokenizer(
      ['▁', 'a', 'b', '▁a', '▁ab'],
      [
        ['▁', 'a'],
        ['a', 'b'],
      ],
      { ignoreMerges: true },
    );
    const tokenizer = await loadTokenizer(folder);
    const reference = referenceEncoder(folder);
    const piece = reference(' ab');
    expect(piece).toEqual([tokenizer.tokenToId('▁ab')]);
    const text = ' ab'.repeat(100);
    const ids = tokenizer.encode(text);
    expect(ids).toEqual(reference(text));
    expect(ids.slice(0, 2)).toEqual([tokenizer.tokenToId('▁a'), tokenizer.tokenToId('b')]);
  });
});

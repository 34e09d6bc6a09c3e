import { loadTokenizer, type Tokenizer } from '@slimlm/hub';
import { beforeAll, describe, expect, it } from 'vitest';
import { TextStreamer } from '../src/index';

const STORIES = new URL('../../../fixtures/stories260K-hf', import.meta.url).pathname;

function stream(tokenizer: Pick<Tokenizer, 'decode'>, prompt: number[], ids: number[]) {
  const streamer = new TextStreamer(tokenizer, prompt);
  const pieces = ids.map((id) => streamer.put(id));
  pieces.push(streamer.end());
  return pieces;
}

describe('TextStreamer on the stories260K sentencepiece tokenizer', () => {
  let tokenizer: Tokenizer;
  beforeAll(async () => {
    tokenizer = await loadTokenizer(STORIES);
  });

  it('holds byte-fallback bytes back until their character is complete', () => {
    // '▁', three byte tokens per CJK character, '▁', '€', '!'.
    const ids = tokenizer.encode('日本 €!', { addSpecialTokens: false });
    expect(ids).toEqual([410, 233, 154, 168, 233, 159, 175, 410, 503, 443]);
    const pieces = stream(tokenizer, [1], ids);
    expect(pieces).toEqual(['', '', '', '日', '', '', '本', '', ' €', '!', '']);
    expect(pieces.join('')).toBe('日本 €!');
    expect(pieces.join('')).toBe(tokenizer.decode(ids, { skipSpecialTokens: true }));
  });

  it('keeps the leading space a continuation needs, and drops it at the start of a text', () => {
    const [bos, once, upon, a, time] = [1, 403, 407, 261, 378];
    expect(stream(tokenizer, [bos, once], [upon, a, time]).join('')).toBe(' upon a time');
    expect(stream(tokenizer, [bos], [once, upon]).join('')).toBe('Once upon');
    expect(stream(tokenizer, [], [once, upon]).join('')).toBe('Once upon');
  });

  it('streams newlines and skips special tokens', () => {
    const ids = tokenizer.encode('a\nb', { addSpecialTokens: false });
    const pieces = stream(tokenizer, [1, 403], [...ids, 2]);
    expect(pieces.join('')).toBe(' a\nb');
    expect(pieces.at(-2)).toBe('');
  });

  it('text shows held-back characters (for stop strings) before they are emitted', () => {
    const streamer = new TextStreamer(tokenizer, [1]);
    streamer.put(403);
    expect(streamer.put(233)).toBe('');
    expect(streamer.text).toBe('Once\uFFFD');
  });
});

describe('TextStreamer on a decoder that rewrites text', () => {
  // Like clean_up_tokenization_spaces: ' .' becomes '.', so a trailing space is not final.
  const pieces = ['<s>', 'Hello', ' ', '.', ' world'];
  const tokenizer = {
    decode: (ids: readonly number[], options?: { skipSpecialTokens?: boolean }) =>
      ids
        .filter((id) => !(options?.skipSpecialTokens && id === 0))
        .map((id) => pieces[id])
        .join('')
        .replaceAll(' .', '.'),
  };

  it('holds trailing whitespace back, so the pieces still concatenate to the text', () => {
    const streamed = stream(tokenizer, [0], [1, 2, 3, 4, 2]);
    expect(streamed).toEqual(['Hello', '', '.', ' world', '', ' ']);
    expect(streamed.join('')).toBe(tokenizer.decode([1, 2, 3, 4, 2]));
  });
});

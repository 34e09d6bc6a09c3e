import { BPE, type Tokenizer as JsTokenizer } from '@huggingface/tokenizers';

/** Words at least this long are cut before BPE; shorter ones are cheap to merge (and cached) whole. */
const MIN_CUT_LENGTH = 256;

/** Pieces whose tokens are remembered (a few MB at most) before the memory is emptied. */
const PIECE_CACHE_SIZE = 100_000;

/**
 * Makes the tokenizer's BPE model encode long words as independent pieces, with exactly the
 * tokens it gives the whole word, or leaves it alone where that cannot be guaranteed.
 *
 * Why: @huggingface/tokenizers merges each pre-tokenized word with one priority queue over all its
 * characters. A tokenizer without a pre-tokenizer (SentencePiece-style Llama, whose normalizer only
 * turns spaces into '▁') hands the model a whole text as one word: WikiText-2's 1.3M characters
 * become a 1.3M-node queue, ~30 s, where the pieces take ~1 s, mostly served from a cache of the
 * pieces already seen.
 *
 * Why the tokens are the same. A symbol starts as one character and grows only by a merge rule
 * (a, b) joining two neighbours, so the symbol ending at position i always ends with character
 * w[i] and the one starting at i+1 starts with w[i+1]. If no rule has an `a` ending with w[i] and a
 * `b` starting with w[i+1], no merge ever crosses that boundary: cutting there is safe. Between
 * safe boundaries the pieces evolve independently: the queue always merges the pair of lowest
 * (rank, position), and within one piece that is the lowest pair of the piece, so each piece goes
 * through the merges it would alone, in the same order. What the model does after merging
 * (vocabulary lookup and byte fallback per token, fusing unknowns over its whole output) sees the
 * same token list, so the tokens of a piece can also be remembered and reused. Three settings
 * would break this, and leave the model as it is: `ignore_merges` (a piece found whole in the
 * vocabulary skips merging), and `end_of_word_suffix` / `continuing_subword_suffix` (added once
 * per word). Other models (Unigram, WordPiece) are left alone too.
 */
export function encodeLongWordsInPieces(tokenizer: JsTokenizer): void {
  const model = tokenizer.model;
  if (!(model instanceof BPE)) return;
  if (model.ignore_merges || model.end_of_word_suffix || model.continuing_subword_suffix) return;
  const joinable = joinableCharacters(model.merges);
  const encodeWords = model.encode.bind(model);
  // The model's own cache is a 10,000-word LRU whose bookkeeping costs more than the lookups
  // save on a long text; a plain map of piece → tokens, emptied when full, serves the pieces.
  const pieceTokens = new Map<string, string[]>();
  const tokensOf = (piece: string): string[] => {
    let tokens = pieceTokens.get(piece);
    if (tokens === undefined) {
      tokens = encodeWords([piece]);
      if (pieceTokens.size >= PIECE_CACHE_SIZE) pieceTokens.clear();
      pieceTokens.set(piece, tokens);
    }
    return tokens;
  };
  model.encode = (words: string[]) => {
    const tokens: string[] = [];
    for (const word of words) {
      const pieces = word.length < MIN_CUT_LENGTH ? [word] : cutWord(word, joinable);
      for (const piece of pieces) for (const token of tokensOf(piece)) tokens.push(token);
    }
    return tokens;
  };
}

/** For each character that ends some rule's left side, the characters its right sides start with. */
function joinableCharacters(merges: readonly [string, string][]): Map<string, Set<string>> {
  const joinable = new Map<string, Set<string>>();
  for (const [left, right] of merges) {
    const last = [...left].at(-1);
    const first = [...right][0];
    if (last === undefined || first === undefined) continue;
    let followers = joinable.get(last);
    if (!followers) {
      followers = new Set();
      joinable.set(last, followers);
    }
    followers.add(first);
  }
  return joinable;
}

/** The word cut at every boundary no merge can cross (by code points, as the model splits words). */
export function cutWord(word: string, joinable: Map<string, Set<string>>): string[] {
  const pieces: string[] = [];
  let start = 0;
  let at = 0;
  let previous: string | undefined;
  for (const char of word) {
    if (previous !== undefined && !joinable.get(previous)?.has(char)) {
      pieces.push(word.slice(start, at));
      start = at;
    }
    previous = char;
    at += char.length;
  }
  pieces.push(word.slice(start));
  return pieces;
}

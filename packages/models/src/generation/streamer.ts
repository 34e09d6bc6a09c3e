import type { Tokenizer } from '@slimlm/hub';

/** Prompt ids decoded ahead of the generated ones, for the spacing rules that look back. */
const CONTEXT_TOKENS = 8;
const REPLACEMENT = '\uFFFD';
/** An incomplete UTF-8 character decodes to at most 3 replacement characters (one per byte). */
const MAX_PENDING_BYTES = 3;

/**
 * Incremental detokenization of one generated sequence (transformers' TextStreamer, made exact).
 * Every step decodes the last prompt tokens plus everything generated and takes what follows the
 * prompt's own text, so that sentencepiece's leading-space rule and multi-token characters come
 * out as in a one-shot decode; it then holds back trailing replacement characters (an incomplete
 * UTF-8 character from byte-fallback tokens) and trailing whitespace (which cleanup rules may
 * still remove). `put` returns the newly stable text, `end` the rest: together they are the text.
 * Special tokens are skipped.
 */
export class TextStreamer {
  private readonly context: number[];
  private readonly contextText: string;
  private readonly ids: number[] = [];
  private emitted = '';
  private current = '';

  constructor(
    private readonly tokenizer: Pick<Tokenizer, 'decode'>,
    promptIds: readonly number[] = [],
  ) {
    this.context = promptIds.slice(-CONTEXT_TOKENS);
    this.contextText = this.decode(this.context);
  }

  /** The generated text as decoded now, held-back characters included (for stop strings). */
  get text(): string {
    return this.current;
  }

  /** Adds a token; returns the text it made stable ('' while a character is incomplete). */
  put(id: number): string {
    this.ids.push(id);
    const full = this.decode([...this.context, ...this.ids]);
    this.current = full.slice(commonPrefixLength(full, this.contextText));
    return this.take(stablePart(this.current));
  }

  /** Ends the sequence: returns whatever was held back. */
  end(): string {
    return this.take(this.current);
  }

  private take(text: string): string {
    // Emitted text cannot be taken back: should a decoder still rewrite it, go on from its length
    // (the pieces then concatenate to what was shown, which generateText returns as the text).
    if (text.length <= this.emitted.length) return '';
    const piece = text.slice(this.emitted.length);
    this.emitted += piece;
    return piece;
  }

  private decode(ids: number[]): string {
    return ids.length === 0 ? '' : this.tokenizer.decode(ids, { skipSpecialTokens: true });
  }
}

function stablePart(text: string): string {
  let end = text.length;
  let pending = 0;
  while (end > 0 && pending < MAX_PENDING_BYTES && text[end - 1] === REPLACEMENT) {
    end--;
    pending++;
  }
  while (end > 0 && /\s/.test(text[end - 1]!)) end--;
  // A lone high surrogate would split a character in two across events.
  if (end > 0 && /[\uD800-\uDBFF]/.test(text[end - 1]!)) end--;
  return text.slice(0, end);
}

function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

import { SlimlmError } from '@slimlm/core';
import type { Tokenizer } from '@slimlm/hub';
import type { DataRecord } from '../records/record';
import type { InstructionExample, PromptTemplate } from '../templates/template';

/** The label of a position whose loss is not counted (PyTorch's cross_entropy ignore_index). */
export const IGNORE_INDEX = -100;

/** Token ids and their labels: the ids where the loss counts, IGNORE_INDEX elsewhere. */
export interface TokenizedExample {
  inputIds: number[];
  labels: number[];
}

export interface TokenizeOptions {
  /** Keep at most this many tokens (the end is cut, as truncation=True does). */
  maxLength?: number;
  /** End with the tokenizer's first EOS id unless the ids end with one already; default true. */
  addEos?: boolean;
  /** Add the tokenizer's special tokens (BOS for Llama); default true. */
  addSpecialTokens?: boolean;
}

/**
 * Encodes prompt + response as one text, as Stanford Alpaca and TRL do, and masks the prompt:
 * labels are IGNORE_INDEX over the tokens the example shares with the prompt encoded alone (its
 * BOS and prompt tokens), the ids themselves over the response and EOS. A token that straddles
 * the prompt/response boundary is counted as response.
 */
export function tokenizeExample(
  tokenizer: Tokenizer,
  example: InstructionExample,
  options: TokenizeOptions = {},
): TokenizedExample {
  const { maxLength } = options;
  if (maxLength !== undefined && (!Number.isSafeInteger(maxLength) || maxLength < 1)) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `tokenizeExample: maxLength must be a positive integer, got ${maxLength}`,
    );
  }
  const encodeOptions = { addSpecialTokens: options.addSpecialTokens ?? true };
  const promptIds = tokenizer.encode(example.prompt, encodeOptions);
  const ids = tokenizer.encode(example.prompt + example.response, encodeOptions);
  if (options.addEos ?? true) {
    const eos = tokenizer.eosTokenIds[0];
    if (eos === undefined) {
      throw new SlimlmError(
        'INVALID_CONFIG',
        'tokenizeExample: the tokenizer has no EOS token to end examples with; pass addEos: false',
      );
    }
    if (!tokenizer.eosTokenIds.includes(ids.at(-1)!)) ids.push(eos);
  }
  let masked = 0;
  while (masked < promptIds.length && masked < ids.length && promptIds[masked] === ids[masked]) {
    masked++;
  }
  const labels = ids.map((id, i) => (i < masked ? IGNORE_INDEX : id));
  if (maxLength !== undefined && ids.length > maxLength) {
    return { inputIds: ids.slice(0, maxLength), labels: labels.slice(0, maxLength) };
  }
  return { inputIds: ids, labels };
}

export interface TokenizeInstructionsOptions {
  maxLength?: number;
  /**
   * Drop examples left with no label to learn from (the response cut off by maxLength); default
   * true.
   */
  dropUnsupervised?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Renders every record with the template and tokenizes it as the template says. */
export function tokenizeInstructions(
  tokenizer: Tokenizer,
  records: readonly DataRecord[],
  template: PromptTemplate,
  options: TokenizeInstructionsOptions = {},
): TokenizedExample[] {
  const examples: TokenizedExample[] = [];
  const { maxLength, onProgress } = options;
  for (const [i, record] of records.entries()) {
    const example = tokenizeExample(tokenizer, template.render(record), {
      maxLength,
      addEos: template.addEos,
      addSpecialTokens: template.addSpecialTokens,
    });
    const supervised = example.labels.some((label) => label !== IGNORE_INDEX);
    if (supervised || options.dropUnsupervised === false) examples.push(example);
    onProgress?.(i + 1, records.length);
  }
  return examples;
}

import { Generator, SlimlmError } from '@slimlm/core';
import type { Tokenizer } from '@slimlm/hub';

export interface DocumentWindowsOptions {
  nsamples: number;
  seqlen: number;
  seed?: number;
  /** Encode each document with the tokenizer's special tokens (BOS for Llama); default true. */
  addSpecialTokens?: boolean;
}

/**
 * Calibration windows drawn as optimum's and AutoGPTQ's C4 loaders draw them: for each window, a
 * document at random, encoded alone, drawn again until it is longer than `seqlen` tokens (the
 * length filter), then a window at a random offset inside it. Seeded, so the same seed gives the
 * same windows; documents are encoded once however often they are drawn.
 */
export function documentWindows(
  documents: readonly string[],
  tokenizer: Tokenizer,
  options: DocumentWindowsOptions,
): number[][] {
  const { nsamples, seqlen } = options;
  for (const [name, value] of [
    ['nsamples', nsamples],
    ['seqlen', seqlen],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `documentWindows: ${name} must be a positive integer, got ${value}`,
      );
    }
  }
  if (documents.length === 0) {
    throw new SlimlmError('INVALID_ARGUMENT', 'documentWindows: no documents to draw from');
  }
  const generator = new Generator(options.seed ?? 0);
  const draw = (count: number) => Math.floor(generator.nextFloat() * count);
  const encoded = new Map<number, number[]>();
  const tooShort = new Set<number>();
  const windows: number[][] = [];
  while (windows.length < nsamples) {
    const index = draw(documents.length);
    let ids = encoded.get(index);
    if (ids === undefined && !tooShort.has(index)) {
      ids = tokenizer.encode(documents[index]!, {
        addSpecialTokens: options.addSpecialTokens ?? true,
      });
      if (ids.length > seqlen) encoded.set(index, ids);
      else tooShort.add(index);
    }
    if (ids === undefined || ids.length <= seqlen) {
      if (tooShort.size === documents.length) {
        throw new SlimlmError(
          'INVALID_ARGUMENT',
          `documentWindows: none of the ${documents.length} documents is longer than seqlen ${seqlen} tokens; give longer documents or a smaller seqlen`,
        );
      }
      continue;
    }
    // Python's random.randint(0, len - seqlen - 1), inclusive at both ends.
    const start = draw(ids.length - seqlen);
    windows.push(ids.slice(start, start + seqlen));
  }
  return windows;
}

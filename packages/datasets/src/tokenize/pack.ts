import { SlimlmError } from '@slimlm/core';
import { IGNORE_INDEX, type TokenizedExample } from './tokenize-example';

/** Several examples in one sequence, with where each begins. */
export interface PackedExample extends TokenizedExample {
  exampleStarts: number[];
}

/**
 * Packs examples, in order, into sequences of at most `seqLength` tokens, starting a new sequence
 * when the next example does not fit; no example is split. The first label of every example after
 * the first in a sequence is IGNORE_INDEX, so no loss is counted for predicting one example from
 * the one before it (as transformers' DataCollatorWithFlattening does).
 */
export function packExamples(
  examples: readonly TokenizedExample[],
  options: { seqLength: number },
): PackedExample[] {
  const { seqLength } = options;
  if (!Number.isSafeInteger(seqLength) || seqLength < 1) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `packExamples: seqLength must be a positive integer, got ${seqLength}`,
    );
  }
  const packed: PackedExample[] = [];
  let current: PackedExample | undefined;
  for (const [i, example] of examples.entries()) {
    const length = example.inputIds.length;
    if (length !== example.labels.length) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `packExamples: example ${i} has ${length} ids and ${example.labels.length} labels`,
      );
    }
    if (length > seqLength) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `packExamples: example ${i} has ${length} tokens, more than seqLength ${seqLength}; tokenize with maxLength ${seqLength} first`,
      );
    }
    if (length === 0) continue;
    if (current === undefined || current.inputIds.length + length > seqLength) {
      current = { inputIds: [], labels: [], exampleStarts: [] };
      packed.push(current);
    }
    const start = current.inputIds.length;
    current.exampleStarts.push(start);
    current.inputIds.push(...example.inputIds);
    current.labels.push(...example.labels);
    if (start > 0) current.labels[start] = IGNORE_INDEX;
  }
  return packed;
}

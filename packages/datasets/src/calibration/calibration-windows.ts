import { Generator, SlimlmError } from '@slimlm/core';

/**
 * Calibration windows of `seqlen` token ids cut from one encoded text.
 *
 * - 'first': window i = ids[i·seqlen, (i+1)·seqlen) for i < nsamples, non-overlapping and in file
 *   order, no BOS added per window (the protocol of fixtures/gptq/gptq-reference.json).
 * - 'random': as AutoGPTQ's and optimum's C4 loaders, each window starts at a uniformly drawn
 *   offset in [0, len - seqlen - 1] (windows may overlap), from a seeded generator so the same
 *   seed gives the same windows.
 */
export function calibrationWindows(
  ids: readonly number[],
  nsamples: number,
  seqlen: number,
  mode: 'first' | 'random',
  seed = 0,
): number[][] {
  for (const [name, value] of [
    ['nsamples', nsamples],
    ['seqlen', seqlen],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `calibrationWindows: ${name} must be a positive integer, got ${value}`,
      );
    }
  }
  if (mode === 'first') {
    if (nsamples * seqlen > ids.length) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `calibrationWindows: ${nsamples} windows of ${seqlen} tokens need ${nsamples * seqlen} ids, the text has ${ids.length} (${Math.floor(ids.length / seqlen)} windows)`,
      );
    }
    return Array.from({ length: nsamples }, (_, i) => ids.slice(i * seqlen, (i + 1) * seqlen));
  }
  if (mode !== 'random') {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `calibrationWindows: mode must be 'first' or 'random', got '${String(mode)}'`,
    );
  }
  if (ids.length <= seqlen) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `calibrationWindows: random windows of ${seqlen} tokens need more than ${seqlen} ids, the text has ${ids.length}`,
    );
  }
  const generator = new Generator(seed);
  // Python's random.randint(0, len - seqlen - 1) is inclusive at both ends.
  const starts = ids.length - seqlen;
  return Array.from({ length: nsamples }, () => {
    const start = Math.floor(generator.nextFloat() * starts);
    return ids.slice(start, start + seqlen);
  });
}

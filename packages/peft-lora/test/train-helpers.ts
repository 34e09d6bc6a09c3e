import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '@slimlm/hub';
import type { CausalLM } from '@slimlm/models';
import type { TrainingExample } from '../src/index';

/** The repository root (fixtures/ lives there). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const STORIES = join(ROOT, 'fixtures', 'stories260K-hf');
export const WIKILLAMA = join(ROOT, 'packages', 'models', 'assets', 'wikillama-7m');
export const WIKITEXT = join(ROOT, 'fixtures', 'wikitext-2-raw', 'wiki.test.raw');

/**
 * Token ids of the start of WikiText-2 test with `folder`'s tokenizer: BOS, then the text cut at a
 * line boundary after about `chars` characters.
 */
export async function wikitextIds(folder: string, chars: number): Promise<number[]> {
  const tokenizer = await loadTokenizer(folder);
  const text = readFileSync(WIKITEXT, 'utf8');
  const cut = text.lastIndexOf('\n', chars) + 1;
  return [1, ...tokenizer.encode(text.slice(0, cut), { addSpecialTokens: false })];
}

/**
 * Consecutive windows of `ids` as language-modelling examples (every label scored), with lengths
 * cycling through `lengths` so that batches need padding.
 */
export function windows(
  ids: readonly number[],
  count: number,
  lengths: readonly number[],
): TrainingExample[] {
  const examples: TrainingExample[] = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const length = lengths[i % lengths.length]!;
    if (start + length > ids.length) throw new Error(`only ${ids.length} ids for ${count} windows`);
    const inputIds = ids.slice(start, start + length);
    examples.push({ inputIds, labels: [...inputIds] });
    start += length;
  }
  return examples;
}

/** Host copies of every parameter, by name. */
export function parameterValues(model: CausalLM): Map<string, Float32Array> {
  return new Map(
    [...model.namedParameters()].map(([name, t]) => [name, Float32Array.from(t.dataSync())]),
  );
}

/** The largest |a - b| over all parameters of two snapshots. */
export function largestDifference(
  a: Map<string, Float32Array>,
  b: Map<string, Float32Array>,
): number {
  let worst = 0;
  for (const [name, values] of a) {
    const other = b.get(name)!;
    for (let i = 0; i < values.length; i++)
      worst = Math.max(worst, Math.abs(values[i]! - other[i]!));
  }
  return worst;
}

import '@slimlm/kernels-cpu';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scope, setBackend, tensor } from '@slimlm/core';
import { loadTokenizer } from '@slimlm/hub';
import { type CausalLM, modelFromFolder } from '@slimlm/models';
import { injectLora, type LoraConfig, saveAdapter } from '@slimlm/peft-lora';
import { WIKILLAMA } from './helpers';

/** The prompt the adapter tests generate from and compare logits on. */
export const PROMPT = 'The history of the city';

/** A temporary folder, removed by the returned function. */
export function temporaryFolder(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * A PEFT adapter for the model in `folder`, saved in `dir`: LoRA injected with a random B
 * (`initLoraWeights: false`), so that the adapter changes the model's output from the start.
 */
export function saveRandomAdapter(
  folder: string,
  dir: string,
  config: Partial<LoraConfig> = {},
  seed = 3,
): void {
  const model = modelFromFolder(folder);
  try {
    injectLora(
      model,
      { r: 8, loraAlpha: 16, targetModules: 'all-linear', initLoraWeights: false, ...config },
      { seed },
    );
    saveAdapter(model, dir, { baseModelNameOrPath: folder });
  } finally {
    model.dispose();
  }
}

/** The logits of `model` for PROMPT (wikillama's tokenizer, BOS first), as a host f64 copy. */
export async function promptLogits(model: CausalLM): Promise<Float64Array> {
  await setBackend('cpu');
  const ids = (await loadTokenizer(WIKILLAMA)).encode(PROMPT);
  return scope(() =>
    Float64Array.from(
      model.forward(tensor(ids, { dtype: 'i32', shape: [1, ids.length] })).dataSync(),
    ),
  );
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

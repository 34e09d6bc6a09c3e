import { setQuantActivations } from '@slimlm/gptq';
import { type LoadedModel, type LoadOptions, loadModel } from '@slimlm/models';
import type { Output } from '../io';
import { formatBytes, formatSeconds } from './format';
import { progressBar } from './progress';

/** What some commands add to a load. */
export interface LoadExtras {
  weightsDType?: LoadOptions['weightsDType'];
  /** The --activations argument. */
  activations?: string;
}

/**
 * Loads a resolved model folder with a progress bar on an interactive stderr, and reports the load
 * time there: the one way every command loads a model. `weightsDType` is models' load option;
 * `activations` 'int8' switches the GPTQ layers that can take int8 activations, and says how many did.
 */
export async function loadWithProgress(
  folder: string,
  argument: string,
  backend: string,
  dtype: string | undefined,
  out: Output,
  { weightsDType, activations }: LoadExtras = {},
): Promise<LoadedModel> {
  const started = performance.now();
  const bar = progressBar(out.io.stderr, 'loading', {
    enabled: out.interactive,
    format: (done, total) => `${formatBytes(done)}/${formatBytes(total)}`,
  });
  let loaded: LoadedModel;
  try {
    loaded = await loadModel(folder, {
      backend,
      ...(dtype === undefined ? {} : { computeDType: dtype as 'f32' | 'f16' | 'bf16' }),
      ...(weightsDType === undefined ? {} : { weightsDType }),
      onProgress: (p) => bar.update(p.loaded, p.total, p.name),
    });
  } finally {
    bar.finish();
  }
  out.diag(`loaded ${argument} in ${formatSeconds(performance.now() - started)} (${backend})`);
  if (activations === 'int8') {
    const { switched, kept } = setQuantActivations(loaded.model, 'int8');
    if (switched.length === 0)
      out.note('--activations int8: the model has no GPTQ layer that takes them; it runs in f32');
    else
      out.diag(
        `int8 activations on ${switched.length} GPTQ layers${kept.length > 0 ? ` (${kept.length} kept in f32: 3-bit or groups not multiples of 32)` : ''}`,
      );
  }
  return loaded;
}

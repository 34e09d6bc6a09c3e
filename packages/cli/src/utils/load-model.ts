import { type LoadedModel, type LoadOptions, loadModel } from '@slimlm/models';
import type { Output } from '../io';
import { formatBytes, formatSeconds } from './format';
import { progressBar } from './progress';

/**
 * Loads a resolved model folder with a progress bar on an interactive stderr, and reports the load
 * time there: the one way every command loads a model.
 */
export async function loadWithProgress(
  folder: string,
  argument: string,
  backend: string,
  dtype: string | undefined,
  out: Output,
  weightsDType?: LoadOptions['weightsDType'],
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
  return loaded;
}

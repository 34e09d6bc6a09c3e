import { SlimlmError, setBackend } from '@slimlm/core';
import type { Output } from '../io';

export const BACKENDS = ['cpu', 'reference'] as const;
export type BackendName = (typeof BACKENDS)[number];

/**
 * Makes `requested` the active backend, or by default the native "cpu" backend when
 * @slimlm/kernels-cpu loads, else the reference backend with a one-line note on stderr.
 */
export async function selectBackend(
  requested: BackendName | undefined,
  out: Output,
): Promise<BackendName> {
  if (requested === 'reference') {
    await setBackend('reference');
    return 'reference';
  }
  let available = false;
  let importFailure: string | undefined;
  try {
    // Imported only when wanted: loading it loads the native addon.
    ({ available } = await import('@slimlm/kernels-cpu'));
  } catch (error) {
    importFailure = (error as Error).message.split('\n')[0];
  }
  if (available) {
    await setBackend('cpu');
    return 'cpu';
  }
  if (requested === 'cpu') {
    throw new SlimlmError(
      'NO_BACKEND',
      `--backend cpu: the native CPU backend is unavailable (${importFailure ?? 'its addon did not load; see the note above'}); build @slimlm/kernels-cpu or use --backend reference`,
    );
  }
  // When the package loads without its addon it has already said why, in one line.
  if (importFailure !== undefined) {
    out.note(`@slimlm/kernels-cpu did not load (${importFailure}); using the reference backend`);
  }
  await setBackend('reference');
  return 'reference';
}

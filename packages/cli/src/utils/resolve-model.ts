import { resolve } from 'node:path';
import { resolveModelFolder } from '@slimlm/models';
import { UsageError } from '../errors';
import type { Output } from '../io';
import { type BackendName, selectBackend } from './backend';
import { pullProgress } from './pull-progress';

/**
 * A <model> argument → its folder, by @slimlm/models' rules (built-in name, local folder, or Hub
 * id pulled into the Hugging Face cache), with a progress bar on an interactive stderr.
 */
export async function resolveModel(
  argument: string,
  options: { revision?: string; out: Output },
): Promise<{ folder: string }> {
  const { out } = options;
  const progress = pullProgress(out, `pulling ${argument}`);
  try {
    const folder = await resolveModelFolder(argument, {
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      cwd: out.io.cwd,
      env: out.io.env as NodeJS.ProcessEnv,
      onProgress: progress.onProgress,
    });
    return { folder };
  } finally {
    progress.finish();
  }
}

/**
 * For a command that reads <model> and writes --out: the backend it runs on and the model's
 * folder, refusing an --out that is the model's own folder (the output replaces --out whole).
 */
export async function resolveModelForOutput(
  argument: string,
  outFolder: string,
  options: { backend?: string; revision?: string; out: Output },
): Promise<{ backend: BackendName; folder: string }> {
  const backend = await selectBackend(options.backend as BackendName | undefined, options.out);
  const { folder } = await resolveModel(argument, options);
  if (resolve(folder) === outFolder) {
    throw new UsageError("option '--out' is the model's own folder: choose another");
  }
  return { backend, folder };
}

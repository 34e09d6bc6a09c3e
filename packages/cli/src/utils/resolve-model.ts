import { resolveModelFolder } from '@slimlm/models';
import type { Output } from '../io';
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

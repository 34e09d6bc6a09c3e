import { resolveModelFolder } from '@slimlm/models';
import type { Output } from '../io';
import { formatBytes } from './format';
import { progressBar } from './progress';

/**
 * A <model> argument → its folder, by @slimlm/models' rules (built-in name, local folder, or Hub
 * id pulled into the Hugging Face cache), with a progress bar on an interactive stderr.
 */
export async function resolveModel(
  argument: string,
  options: { revision?: string; out: Output },
): Promise<{ folder: string }> {
  const { out } = options;
  const bar = progressBar(out.io.stderr, `pulling ${argument}`, {
    enabled: out.interactive,
    format: (done, total) => `${formatBytes(done)}/${formatBytes(total)}`,
  });
  try {
    const folder = await resolveModelFolder(argument, {
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      cwd: out.io.cwd,
      env: out.io.env as NodeJS.ProcessEnv,
      onProgress: (p) =>
        bar.update(p.loaded, p.total, `(${p.filesDone}/${p.filesTotal} files) ${p.file}`),
    });
    return { folder };
  } finally {
    bar.finish();
  }
}

import type { PullProgress } from '@slimlm/hub';
import type { Output } from '../io';
import { formatBytes } from './format';
import { progressBar } from './progress';

/** The progress bar of a Hub download (bytes of the current file, files done), on a terminal only. */
export function pullProgress(out: Output, label: string) {
  const bar = progressBar(out.io.stderr, label, {
    enabled: out.interactive,
    format: (done, total) => `${formatBytes(done)}/${formatBytes(total)}`,
  });
  return {
    onProgress: (p: PullProgress) =>
      bar.update(p.loaded, p.total, `(${p.filesDone}/${p.filesTotal} files) ${p.file}`),
    finish: () => bar.finish(),
  };
}

import type { TextSink } from '../io';

/** A one-line progress bar redrawn in place on a terminal; every method is a no-op elsewhere. */
export interface ProgressBar {
  update(done: number, total: number, detail?: string): void;
  /** Clears the line, so that what follows starts clean. */
  finish(): void;
}

const REDRAW_MS = 80;
const BAR_WIDTH = 24;

export function progressBar(
  sink: TextSink,
  label: string,
  options: { enabled: boolean; format?: (done: number, total: number) => string },
): ProgressBar {
  if (!options.enabled) return { update() {}, finish() {} };
  const format = options.format ?? ((done, total) => `${done}/${total}`);
  let lastDraw = 0;
  let drawn = false;
  return {
    update(done, total, detail) {
      const now = Date.now();
      if (now - lastDraw < REDRAW_MS && done < total) return;
      lastDraw = now;
      const fraction = total > 0 ? Math.min(1, done / total) : 0;
      const filled = Math.round(fraction * BAR_WIDTH);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
      const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
      let line = `${label} ${bar} ${percent} ${format(done, total)}${detail ? ` ${detail}` : ''}`;
      // A pseudo-terminal may report 0 columns.
      const columns = sink.columns || 80;
      if (line.length > columns - 1) line = line.slice(0, Math.max(0, columns - 1));
      sink.write(`\r\x1b[2K${line}`);
      drawn = true;
    },
    finish() {
      if (drawn) sink.write('\r\x1b[2K');
      drawn = false;
    },
  };
}

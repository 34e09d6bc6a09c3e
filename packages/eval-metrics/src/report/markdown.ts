import { SlimlmError } from '@slimlm/core';
import type { GenerationBenchmark, WeightsDescription } from '../benchmark';
import type { ForgettingReport } from '../forgetting';

export type Cell = string | number | boolean | null | undefined;

/**
 * A GitHub Markdown table. Numbers are right-aligned, everything else left-aligned; `|` in a cell
 * is escaped and line breaks become spaces, so any text fits in one cell; undefined and null print
 * as empty cells.
 */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
): string {
  if (headers.length === 0) {
    throw new SlimlmError('INVALID_ARGUMENT', 'markdownTable: give at least one column header');
  }
  for (const [i, row] of rows.entries()) {
    if (row.length !== headers.length) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `markdownTable: row ${i} has ${row.length} cells for ${headers.length} columns`,
      );
    }
  }
  const numeric = headers.map(
    (_, c) => rows.length > 0 && rows.every((row) => typeof row[c] === 'number' || row[c] == null),
  );
  const text = (cell: Cell) =>
    cell == null ? '' : String(cell).replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [
    line(headers.map(text)),
    line(numeric.map((right) => (right ? '---:' : '---'))),
    ...rows.map((row) => line(row.map(text))),
  ].join('\n');
}

/** '4-bit g128 act-order (gptq)', 'fp (float16)'. */
export function weightsLabel(weights: WeightsDescription): string {
  if (weights.method === 'fp') return weights.dtype ? `fp (${weights.dtype})` : 'fp';
  const parts = [
    weights.bits === undefined ? undefined : `${weights.bits}-bit`,
    weights.groupSize === undefined
      ? undefined
      : weights.groupSize < 0
        ? 'per-column'
        : `g${weights.groupSize}`,
    weights.descAct ? 'act-order' : undefined,
  ].filter(Boolean);
  return `${parts.join(' ')} (${weights.method})`;
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

/** Benchmark results side by side, in the columns of optimum's GPTQ benchmark table. */
export function benchmarkTable(
  results: readonly (GenerationBenchmark & { model?: string })[],
): string {
  const named = results.some((r) => r.model !== undefined);
  return markdownTable(
    [
      ...(named ? ['model'] : []),
      'weights',
      'batch',
      'prompt length',
      'new tokens',
      'Load time (s)',
      'Per-token latency (ms)',
      'Throughput (tok/s)',
      'Peak memory (MB)',
    ],
    results.map((r) => [
      ...(named ? [r.model] : []),
      weightsLabel(r.weights),
      r.batch,
      r.promptLength,
      r.newTokens,
      round(r.loadSeconds, 2),
      round(r.perTokenMs, 3),
      round(r.tokensPerSecond, 2),
      round(r.peakMemoryMb, 2),
    ]),
  );
}

/** A forgetting report's rows: what was measured, before, after, and the relative change. */
export function forgettingTable(report: ForgettingReport): string {
  return markdownTable(
    ['kind', 'metric', 'before', 'after', 'change', 'better?'],
    report.rows.map((r) => [
      r.kind,
      r.name,
      round(r.before, 4),
      round(r.after, 4),
      Number.isFinite(r.relativeChange)
        ? `${r.relativeChange >= 0 ? '+' : ''}${(r.relativeChange * 100).toFixed(1)}%`
        : `${r.change >= 0 ? '+' : ''}${r.change}`,
      r.improved ? 'yes' : 'no',
    ]),
  );
}

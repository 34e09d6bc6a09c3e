import { SlimlmError } from '@slimlm/core';
import type { PerplexityResult } from './perplexity';
import type { TaskMetric } from './task/evaluate-task';

/** What was measured on one model: general-text perplexities and task scores. */
export interface EvaluationSnapshot {
  /** Perplexity on general text by name (lower is better), e.g. `{ 'wikitext-2': 107.3 }`. */
  perplexity?: Readonly<Record<string, number | Pick<PerplexityResult, 'ppl'>>>;
  /** Task scores (higher is better), e.g. `evaluateTask(...).scores`. */
  task?: Readonly<Partial<Record<TaskMetric, number>>>;
}

export interface ForgettingRow {
  kind: 'perplexity' | 'task';
  name: string;
  before: number;
  after: number;
  /** after − before. */
  change: number;
  /** (after − before) / before (Infinity from a zero task score). */
  relativeChange: number;
  /** Whether the change is for the better: perplexity down, task score up. */
  improved: boolean;
}

export interface ForgettingReport {
  rows: ForgettingRow[];
  /** Some general-text perplexity rose by more than the tolerance. */
  forgetting: boolean;
  /** Some task score rose. */
  learned: boolean;
  /** One sentence saying what happened. */
  summary: string;
}

export interface ForgettingOptions {
  /** Relative perplexity rise that counts as forgetting (default 0.01, that is 1 %). */
  tolerance?: number;
}

/**
 * Compares evaluations before and after fine-tuning: every perplexity and task score present in
 * both, with its change. Catastrophic forgetting is general-text perplexity rising (by more than
 * `tolerance`) while the task is learned; the report says whether that happened.
 */
export function forgettingReport(
  before: EvaluationSnapshot,
  after: EvaluationSnapshot,
  options: ForgettingOptions = {},
): ForgettingReport {
  const { tolerance = 0.01 } = options;
  if (!(tolerance >= 0)) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `forgettingReport: tolerance must be >= 0, got ${tolerance}`,
    );
  }
  const rows: ForgettingRow[] = [
    ...pairRows('perplexity', before.perplexity ?? {}, after.perplexity ?? {}),
    ...pairRows('task', before.task ?? {}, after.task ?? {}),
  ];
  if (rows.length === 0) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      'forgettingReport: the snapshots share no perplexity or task score to compare',
    );
  }
  const perplexityRows = rows.filter((r) => r.kind === 'perplexity');
  const taskRows = rows.filter((r) => r.kind === 'task');
  const forgotten = perplexityRows.filter((r) => r.relativeChange > tolerance);
  const learned = taskRows.some((r) => r.improved);
  return {
    rows,
    forgetting: forgotten.length > 0,
    learned,
    summary: summarize(forgotten, perplexityRows, taskRows, learned),
  };
}

function pairRows(
  kind: ForgettingRow['kind'],
  before: Readonly<Record<string, number | Pick<PerplexityResult, 'ppl'> | undefined>>,
  after: Readonly<Record<string, number | Pick<PerplexityResult, 'ppl'> | undefined>>,
): ForgettingRow[] {
  const names = Object.keys(before).filter((n) => before[n] !== undefined);
  const afterNames = Object.keys(after).filter((n) => after[n] !== undefined);
  const unpaired = [...names, ...afterNames].filter(
    (n) => !(names.includes(n) && afterNames.includes(n)),
  );
  if (unpaired.length > 0) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `forgettingReport: ${kind} '${unpaired[0]}' is measured on one side only: measure the same things before and after`,
    );
  }
  return names.map((name) => {
    const b = measuredValue(kind, name, before[name]!);
    const a = measuredValue(kind, name, after[name]!);
    const change = a - b;
    return {
      kind,
      name,
      before: b,
      after: a,
      change,
      relativeChange: b === 0 ? (change === 0 ? 0 : Math.sign(change) * Infinity) : change / b,
      improved: kind === 'perplexity' ? change < 0 : change > 0,
    };
  });
}

function measuredValue(
  kind: string,
  name: string,
  value: number | Pick<PerplexityResult, 'ppl'>,
): number {
  const number = typeof value === 'number' ? value : value?.ppl;
  if (typeof number !== 'number' || !Number.isFinite(number) || number < 0) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `forgettingReport: ${kind} '${name}' is ${JSON.stringify(value)}, expected a finite number >= 0`,
    );
  }
  return number;
}

function percent(relative: number): string {
  return `${relative >= 0 ? '+' : ''}${(relative * 100).toFixed(1)}%`;
}

function summarize(
  forgotten: readonly ForgettingRow[],
  perplexityRows: readonly ForgettingRow[],
  taskRows: readonly ForgettingRow[],
  learned: boolean,
): string {
  const ppl = (rows: readonly ForgettingRow[]) =>
    rows
      .map(
        (r) =>
          `${r.name} ${r.before.toFixed(2)} → ${r.after.toFixed(2)} (${percent(r.relativeChange)})`,
      )
      .join(', ');
  const task = taskRows
    .map((r) => `${r.name} ${r.before.toFixed(3)} → ${r.after.toFixed(3)}`)
    .join(', ');
  const parts: string[] = [];
  if (perplexityRows.length > 0) parts.push(`general-text perplexity ${ppl(perplexityRows)}`);
  if (taskRows.length > 0) parts.push(`task ${task}`);
  const verdict =
    forgotten.length > 0 && learned
      ? 'catastrophic forgetting: the task was learned at the cost of general text'
      : forgotten.length > 0
        ? 'forgetting: general-text perplexity rose'
        : learned
          ? 'the task was learned without forgetting general text'
          : 'no task gain and no forgetting';
  return `${parts.join('; ')}: ${verdict}`;
}

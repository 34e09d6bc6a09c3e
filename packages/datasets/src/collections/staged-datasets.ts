import { Generator, SlimlmError } from '@slimlm/core';
import { shuffleWith } from './shuffle';

/** One stage of sequential fine-tuning: a task's training data and, optionally, its held-out data. */
export interface DatasetStage<T> {
  name: string;
  train: readonly T[];
  validation?: readonly T[];
}

/** A stage as it is to be run: what to train on, and which validation sets to measure after. */
export interface PlannedStage<T> {
  index: number;
  name: string;
  /** This stage's training items, followed by the items replayed from earlier stages. */
  train: T[];
  /** How many items of `train` were replayed from earlier stages. */
  replayed: number;
  /** The validation sets of this stage and every earlier one, to measure forgetting after it. */
  evaluateOn: { name: string; items: readonly T[] }[];
}

export interface StagedOptions {
  /**
   * Rehearsal: add to each stage this fraction of its own size in items drawn at random (seeded)
   * from the earlier stages' training data. Default 0.
   */
  replay?: number;
  seed?: number;
}

/**
 * Plans sequential fine-tuning over stages in order: each stage trains on its own data (plus
 * replayed earlier data, when asked) and is evaluated on its own and all earlier validation sets,
 * which is what a forgetting report compares.
 */
export function stagedDatasets<T>(
  stages: readonly DatasetStage<T>[],
  options: StagedOptions = {},
): PlannedStage<T>[] {
  const replay = options.replay ?? 0;
  if (!(replay >= 0) || !Number.isFinite(replay)) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `stagedDatasets: replay must be a fraction ≥ 0, got ${replay}`,
    );
  }
  const names = new Set<string>();
  for (const [i, stage] of stages.entries()) {
    if (stage.name === '' || names.has(stage.name)) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `stagedDatasets: stage ${i} needs a name of its own, got "${stage.name}"`,
      );
    }
    if (stage.train.length === 0) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `stagedDatasets: stage "${stage.name}" has no training items`,
      );
    }
    names.add(stage.name);
  }
  const generator = new Generator(options.seed ?? 0);
  const seen: T[] = [];
  const evaluateOn: { name: string; items: readonly T[] }[] = [];
  return stages.map((stage, index) => {
    const count = Math.min(Math.round(replay * stage.train.length), seen.length);
    const replayed = shuffleWith(seen, generator).slice(0, count);
    if (stage.validation !== undefined) {
      evaluateOn.push({ name: stage.name, items: stage.validation });
    }
    const planned = {
      index,
      name: stage.name,
      train: [...stage.train, ...replayed],
      replayed: count,
      evaluateOn: [...evaluateOn],
    };
    seen.push(...stage.train);
    return planned;
  });
}

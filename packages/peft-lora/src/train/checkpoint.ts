import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { SlimlmError, type Tensor } from '@slimlm/core';
import { openSafetensors, saveSafetensors, type TensorSource } from '@slimlm/hub';

const PREFIX = 'checkpoint-';
const STATE_FILE = 'trainer_state.json';
const TENSORS_FILE = 'training_state.safetensors';

/** A checkpoint as read back: its JSON state and its tensors (close the source when done). */
export interface LoadedCheckpoint<State> {
  path: string;
  state: State;
  tensors: TensorSource;
}

// JSON has no NaN or Infinity (a skipped step's gradient norm): they travel as strings.
const NON_FINITE = new Set(['NaN', 'Infinity', '-Infinity']);
const writeNonFinite = (_key: string, value: unknown) =>
  typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
const readNonFinite = (_key: string, value: unknown) =>
  typeof value === 'string' && NON_FINITE.has(value) ? Number(value) : value;

/** The folder of the checkpoint after `step` optimizer steps. */
export function checkpointPath(dir: string, step: number): string {
  return join(dir, `${PREFIX}${step}`);
}

/** The newest complete checkpoint in `dir` (highest step), or undefined. */
export function latestCheckpoint(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const steps = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^checkpoint-\d+$/.test(e.name))
    .map((e) => Number(e.name.slice(PREFIX.length)))
    .sort((a, b) => b - a);
  return steps.length > 0 ? checkpointPath(dir, steps[0]!) : undefined;
}

/**
 * Writes `dir/checkpoint-<step>` (JSON state and one safetensors file) atomically: both files go
 * into a temporary folder that is renamed into place once complete, so an interruption leaves
 * either the previous checkpoint or the new one, never a partial one. Older checkpoints in `dir`
 * are then removed. Returns the new folder.
 */
export function saveCheckpoint(
  dir: string,
  step: number,
  state: unknown,
  tensors: Iterable<readonly [string, Tensor]>,
): string {
  mkdirSync(dir, { recursive: true });
  const target = checkpointPath(dir, step);
  const temporary = `${target}.tmp-${process.pid}`;
  rmSync(temporary, { recursive: true, force: true });
  try {
    mkdirSync(temporary);
    saveSafetensors(join(temporary, TENSORS_FILE), tensors, {
      metadata: { format: 'slimlm-trainer' },
    });
    writeFileSync(join(temporary, STATE_FILE), `${JSON.stringify(state, writeNonFinite, 1)}\n`);
    rmSync(target, { recursive: true, force: true });
    renameSync(temporary, target);
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith(PREFIX) && join(dir, entry) !== target) {
      rmSync(join(dir, entry), { recursive: true, force: true });
    }
  }
  return target;
}

/** Reads a checkpoint folder written by `saveCheckpoint`. */
export function loadCheckpoint<State>(path: string): LoadedCheckpoint<State> {
  const stateFile = join(path, STATE_FILE);
  if (!existsSync(stateFile) || !existsSync(join(path, TENSORS_FILE))) {
    throw new SlimlmError(
      'NOT_FOUND',
      `${path} is not a training checkpoint (expected ${STATE_FILE} and ${TENSORS_FILE})`,
    );
  }
  let state: State;
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8'), readNonFinite) as State;
  } catch (error) {
    throw new SlimlmError(
      'INVALID_FILE',
      `${stateFile}: not valid JSON (${(error as Error).message})`,
    );
  }
  const tensors = openSafetensors(join(path, TENSORS_FILE));
  return { path, state, tensors };
}

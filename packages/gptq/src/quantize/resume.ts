import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlimlmError, type Tensor } from '@slimlm/core';
import { openSafetensors, saveSafetensors, type TensorSource } from '@slimlm/hub';
import type { ModuleRecord, QuantizeOptions, SkippedModule } from './options';

/** Bump when a change makes checkpoints of earlier versions unusable for a resume. */
const STATE_VERSION = 1;

/** Where `<out>.partial/` keeps what a resume needs (removed before the rename). */
export const RESUME_FOLDER = '.resume';

/** The progress of a run, saved after every finished block. */
export interface RunState {
  version: number;
  settingsHash: string;
  blocksDone: number;
  modules: ModuleRecord[];
  blockSeconds: number[];
  skipped: SkippedModule[];
}

/**
 * A digest of everything that decides the output: the settings, the calibration windows, the
 * source model's config.json and tensor list. A resume with another digest would mix two runs.
 */
export function settingsHash(
  options: QuantizeOptions,
  configText: string,
  source: TensorSource,
): string {
  const hash = createHash('sha256');
  const settings = {
    version: STATE_VERSION,
    bits: options.bits,
    groupSize: options.groupSize,
    sym: options.sym,
    descAct: options.descAct,
    staticGroups: options.staticGroups,
    dampPercent: options.dampPercent,
    method: options.method,
    format: options.format,
    trueSequential: options.trueSequential ?? true,
    mse: options.mse ?? false,
    blockSize: options.blockSize ?? 128,
  };
  hash.update(JSON.stringify(settings));
  hash.update('\0calibration');
  for (const window of options.calibration) {
    hash.update(new Uint8Array(Int32Array.from(window).buffer));
    hash.update('\0');
  }
  hash.update('\0config');
  hash.update(configText);
  hash.update('\0tensors');
  for (const name of source.names().sort()) {
    const info = source.info(name);
    hash.update(`${name}:${info.dtype}:${info.shape.join('x')}\n`);
  }
  return hash.digest('hex');
}

export function blockFile(resumeFolder: string, index: number): string {
  return join(resumeFolder, `block-${String(index).padStart(5, '0')}.safetensors`);
}

/** The inputs of block `index` (the outputs of the block before it). */
export function activationsFile(resumeFolder: string, index: number): string {
  return join(resumeFolder, `inputs-${String(index).padStart(5, '0')}.safetensors`);
}

const STATE = 'state.json';

/** The saved state of an interrupted run, or undefined when there is none (or it is unreadable). */
export function readState(resumeFolder: string): RunState | undefined {
  const file = join(resumeFolder, STATE);
  if (!existsSync(file)) return undefined;
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as RunState;
    return state.version === STATE_VERSION ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the state by rename, so it always describes files that are complete. */
export function writeState(resumeFolder: string, state: RunState): void {
  const file = join(resumeFolder, STATE);
  const temporary = `${file}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state)}\n`);
  renameSync(temporary, file);
}

/**
 * Saves the inputs of block `index` (one tensor per calibration window), exactly (f32). Each
 * block has its own file, so the state always names files that are complete.
 */
export function saveActivations(
  resumeFolder: string,
  index: number,
  hidden: readonly Tensor[],
): void {
  saveSafetensors(
    activationsFile(resumeFolder, index),
    hidden.map((t, i) => [`window.${i}`, t] as const),
  );
}

/** The activations a finished block left, checked against the expected window count. */
export function loadActivations(resumeFolder: string, index: number, windows: number): Tensor[] {
  const file = activationsFile(resumeFolder, index);
  if (!existsSync(file)) {
    throw new SlimlmError('INVALID_FILE', `resume: ${file} is missing; run without resume`);
  }
  const source = openSafetensors(file);
  try {
    if (source.names().length !== windows) {
      throw new SlimlmError(
        'INVALID_FILE',
        `resume: ${file} holds ${source.names().length} windows, expected ${windows}; run without resume`,
      );
    }
    return Array.from({ length: windows }, (_, i) => source.read(`window.${i}`));
  } finally {
    source.close();
  }
}

export function removeFolder(folder: string): void {
  rmSync(folder, { recursive: true, force: true });
}

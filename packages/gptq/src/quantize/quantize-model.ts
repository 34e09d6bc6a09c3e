import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  contiguous,
  matmul,
  mul,
  SlimlmError,
  scope,
  sub,
  sum,
  type Tensor,
  tensor,
  transpose,
} from '@slimlm/core';
import { openCheckpoint, saveSafetensors } from '@slimlm/hub';
import {
  ARCHITECTURES,
  type BlockContext,
  type DecoderBlockInfo,
  getArchitecture,
  Linear,
} from '@slimlm/models';
import { gptqQuantize, type LayerQuantization } from '../algorithm/gptq';
import { HessianAccumulator } from '../algorithm/hessian';
import { rtnQuantize } from '../algorithm/rtn';
import { dynamicSkips, type GptqConfig, gptqConfigJson } from '../format/config';
import { isPackable } from '../format/pack';
import { QuantLinear } from '../quant-linear';
import { withCapture } from './capture';
import {
  checkOptions,
  type ModuleRecord,
  type QuantizeOptions,
  type QuantizeProgress,
  type QuantizeSummary,
  type SkippedModule,
} from './options';
import { copyCompanionFiles, writeJson, writeQuantLog, writeWeights } from './output';
import {
  activationsFile,
  blockFile,
  loadActivations,
  RESUME_FOLDER,
  type RunState,
  readState,
  removeFolder,
  saveActivations,
  settingsHash,
  writeState,
} from './resume';
import { loadParameters } from './weights';

/** Why a Linear of K inputs and N outputs cannot be stored with these settings, if it cannot. */
export function unsupportedReason(
  inFeatures: number,
  outFeatures: number,
  options: Pick<QuantizeOptions, 'groupSize'>,
): string | undefined {
  if (!isPackable(inFeatures, outFeatures)) {
    return `in_features ${inFeatures} and out_features ${outFeatures} must be multiples of 32 to pack`;
  }
  if (options.groupSize !== -1 && inFeatures % options.groupSize !== 0) {
    return `in_features ${inFeatures} is not a multiple of group_size ${options.groupSize}`;
  }
  return undefined;
}

/** One calibration window on the host side: ids and the context its blocks run with. */
interface Window {
  ids: Tensor;
  context: BlockContext;
}

function disposeContext(context: BlockContext): void {
  context.positionIds.dispose();
  context.paddingMask?.dispose();
  context.rotary?.cos.dispose();
  context.rotary?.sin.dispose();
}

/**
 * The weight of a Linear as the algorithm takes it: f32 [N, K] (Conv1D's [K, N] transposed). An
 * f32 [N, K] weight is lent as it is (the algorithms copy what they read and modify nothing), so
 * that a large Linear's weight is not held twice; otherwise a new tensor. `owned` says which.
 */
function weightNK(linear: Linear): { weight: Tensor; owned: boolean } {
  const w = linear.weight;
  if (linear.layout === 'out-in' && w.dtype === 'f32') return { weight: w, owned: false };
  return {
    weight: scope(() => (linear.layout === 'out-in' ? mul(w, 1) : contiguous(transpose(w)))),
    owned: true,
  };
}

/**
 * Frees the parameters at `paths` (the embeddings, final norm and head once the calibration
 * windows are embedded: only the blocks run after that, and the output is written from the
 * source checkpoint), so that they do not stay in memory beside every block.
 */
function releaseParameters(
  model: { getParameter(path: string): Tensor | undefined },
  paths: readonly string[],
): void {
  for (const path of paths) {
    const t = model.getParameter(path);
    if (t && !t.isDisposed) t.dispose();
  }
}

/**
 * GPTQ's loss measure for a weight error ΔW under Hessian H: ½ Σ_rows ΔW (H + λI) ΔWᵀ, with λ the
 * same relative damping GPTQ adds. GPTQ's reported loss is this quantity for its own ΔW (the sum
 * of its column-by-column increments), so RTN's figure computed this way compares with it.
 */
function hessianLoss(
  weight: Tensor,
  quantized: Tensor,
  hessian: Tensor,
  dampPercent: number,
): number {
  return scope(() => {
    const k = hessian.shape[0]!;
    const h = Float32Array.from(hessian.dataSync());
    const damp = dampPercent * meanDiagonal(h, k);
    for (let i = 0; i < k; i++) h[i * k + i]! += damp;
    const delta = sub(weight, quantized);
    const damped = tensor(h, { shape: [k, k], dtype: 'f32' });
    return sum(mul(matmul(delta, damped), delta)).item() / 2;
  });
}

/** mean(diag H) after GPTQ's dead-column fix (a zero diagonal entry counts as 1). */
function meanDiagonal(h: ArrayLike<number>, k: number): number {
  let total = 0;
  for (let i = 0; i < k; i++) total += h[i * k + i]! === 0 ? 1 : h[i * k + i]!;
  return total / k;
}

/**
 * The relative damping GPTQ ended with (GPTQModel logs this): the damping it added divided by
 * mean(diag H), rounded to the 1e-6 its steps are multiples of.
 */
function dampPercentUsed(damp: number, hessian: Tensor): number {
  const k = hessian.shape[0]!;
  const mean = meanDiagonal(hessian.dataSync(), k);
  return mean === 0 ? 0 : Math.round((damp / mean) * 1e6) / 1e6;
}

const now = () => performance.now() / 1000;

/**
 * Quantizes the model in `modelFolder` with GPTQ (or RTN) block by block and writes a GPTQ
 * checkpoint folder that @slimlm/models loads (after importing @slimlm/gptq), AutoGPTQ's and
 * GPTQModel's tools read, at `outFolder`.
 *
 * Only one decoder block's weights are in memory at a time, besides the embeddings, final norm
 * and head: each block is read from the checkpoint just before it is processed and freed after.
 * For each block, each group of Linears in true-sequential order: the block runs on every
 * calibration window (batch 1, like the reference) while the group's Linears feed their inputs to
 * Hessian accumulators; each Linear is then quantized and its fake-quantized weight put back so
 * the next groups see it; finally the block runs again to give the next block its inputs.
 * Linears whose shapes the format cannot hold stay in full precision and are listed as GPTQModel
 * `dynamic` skip rules. Everything is written into `<out>.partial/` (with a checkpoint after each
 * block, for `resume`) and renamed to `outFolder` only when complete.
 */
export async function quantizeModel(
  modelFolder: string,
  outFolder: string,
  options: QuantizeOptions,
): Promise<QuantizeSummary> {
  checkOptions(options);
  const started = now();
  const out = resolve(outFolder);
  const partial = `${out}.partial`;
  const resumeFolder = join(partial, RESUME_FOLDER);
  if (existsSync(out) && !options.overwrite) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `quantizeModel: ${out} already exists; pass overwrite: true to replace it`,
    );
  }
  const configFile = join(modelFolder, 'config.json');
  if (!existsSync(configFile)) {
    throw new SlimlmError('NOT_FOUND', `quantizeModel: ${configFile} does not exist`);
  }
  const configText = readFileSync(configFile, 'utf8');
  const rawConfig = JSON.parse(configText) as Record<string, unknown>;
  if (rawConfig.quantization_config !== undefined) {
    throw new SlimlmError(
      'UNSUPPORTED',
      `quantizeModel: ${configFile} has a quantization_config; quantize a full-precision model`,
    );
  }
  if (typeof rawConfig.model_type !== 'string') {
    throw new SlimlmError('INVALID_CONFIG', `${configFile}: model_type is missing`);
  }
  // Referencing the list registers the built-in architectures (the package has no side effects).
  void ARCHITECTURES;
  const model = getArchitecture(rawConfig.model_type, configFile).create(
    { ...rawConfig },
    configFile,
  );
  model.computeDType = 'f32';
  const source = openCheckpoint(modelFolder);
  const windows: Window[] = [];
  // Windows of one length share their context (positions and rotary tables).
  const owned: BlockContext[] = [];
  let hidden: Tensor[] = [];
  const emit = (event: QuantizeProgress) => options.onProgress?.(event);
  try {
    const blocks = model.decoderBlocks();
    const hash = settingsHash(options, configText, source);
    const state = startState(partial, resumeFolder, hash, options.resume ?? false);
    const resumedBlocks = state.blocksDone;

    const blockPaths = blocks.map((b) => b.path);
    const outside = [...model.parameterShapes()]
      .map(([path]) => path)
      .filter((path) => !blockPaths.some((b) => path.startsWith(`${b}.`)));
    const useCalibration = options.calibration.length > 0;
    emit({ phase: 'start', block: state.blocksDone, blocks: blocks.length });
    if (useCalibration && state.blocksDone < blocks.length) {
      loadParameters(model, source, outside, 'stored');
      const contexts = new Map<number, BlockContext>();
      for (const ids of options.calibration) {
        const idsTensor = tensor(ids, { dtype: 'i32', shape: [1, ids.length] });
        let context = contexts.get(ids.length);
        if (!context) {
          context = model.buildContext(idsTensor);
          contexts.set(ids.length, context);
          owned.push(context);
        }
        windows.push({ ids: idsTensor, context });
      }
      hidden =
        state.blocksDone === 0
          ? windows.map((w) => model.embed(w.ids, w.context))
          : loadActivations(resumeFolder, state.blocksDone, windows.length);
      releaseParameters(model, outside);
    }

    for (let index = state.blocksDone; index < blocks.length; index++) {
      const info = blocks[index]!;
      const blockStarted = now();
      const blockParams = [...info.block.parameterShapes(info.path)].map(([path]) => path);
      loadParameters(model, source, blockParams, 'f32');
      try {
        const result = quantizeBlock(info, index, blocks.length, windows, hidden, options, emit);
        state.modules.push(...result.modules);
        state.skipped.push(...result.skipped);
        saveSafetensors(blockFile(resumeFolder, index), result.tensors, {});
        const last = index === blocks.length - 1;
        if (useCalibration && !last) {
          const next = windows.map((w, i) => info.block.forward(hidden[i]!, w.context));
          for (const t of hidden) t.dispose();
          hidden = next;
          saveActivations(resumeFolder, index + 1, hidden);
        }
        for (const [, t] of result.tensors) t.dispose();
      } finally {
        info.block.dispose();
      }
      const seconds = now() - blockStarted;
      state.blockSeconds.push(seconds);
      state.blocksDone = index + 1;
      writeState(resumeFolder, state);
      removeFolder(activationsFile(resumeFolder, index));
      emit({ phase: 'block', block: index, blocks: blocks.length, seconds });
    }
    for (const t of hidden) t.dispose();
    hidden = [];

    emit({ phase: 'write', block: blocks.length, blocks: blocks.length });
    const quantizedPaths = new Set(
      state.modules.map((m) => `${blocks[m.layer]!.path}.${m.module}`),
    );
    writeWeights(partial, {
      model,
      source,
      blockPaths,
      quantized: quantizedPaths,
      resumeFolder,
      ...(options.maxShardSize === undefined ? {} : { maxShardSize: options.maxShardSize }),
    });
    const gptqConfig = outputConfig(
      options,
      state.skipped.map((s) => s.module),
    );
    writeJson(partial, 'config.json', {
      ...rawConfig,
      quantization_config: gptqConfigJson(gptqConfig, 'gptqmodel'),
    });
    writeJson(partial, 'quantize_config.json', gptqConfigJson(gptqConfig, 'autogptq'));
    copyCompanionFiles(modelFolder, partial);
    writeQuantLog(
      partial,
      state.modules,
      state.skipped.map((s) => {
        const layer = blockPaths.findIndex((b) => s.module.startsWith(`${b}.`));
        return { ...s, layer, name: s.module.slice(blockPaths[layer]!.length + 1) };
      }),
    );
    removeFolder(resumeFolder);
    if (existsSync(out)) removeFolder(out);
    renameSync(partial, out);
    const seconds = now() - started;
    emit({ phase: 'done', block: blocks.length, blocks: blocks.length, seconds });
    return {
      outFolder: out,
      modules: state.modules,
      blockSeconds: state.blockSeconds,
      skipped: state.skipped,
      totalLoss: state.modules.reduce((total, m) => total + m.loss, 0),
      seconds,
      resumedBlocks,
    };
  } finally {
    for (const t of hidden) t.dispose();
    for (const w of windows) w.ids.dispose();
    for (const context of owned) disposeContext(context);
    source.close();
    model.dispose();
  }
}

/**
 * The state to run from: an interrupted run's, when resuming one with the same settings, else a
 * fresh `<out>.partial/`.
 */
function startState(
  partial: string,
  resumeFolder: string,
  hash: string,
  resume: boolean,
): RunState {
  if (resume && existsSync(partial)) {
    const saved = readState(resumeFolder);
    if (saved && saved.settingsHash !== hash) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `quantizeModel: ${partial} holds a run with other settings, calibration or model; run without resume to start over`,
      );
    }
    if (saved) return saved;
  }
  removeFolder(partial);
  mkdirSync(resumeFolder, { recursive: true });
  return {
    version: 1,
    settingsHash: hash,
    blocksDone: 0,
    modules: [],
    blockSeconds: [],
    skipped: [],
  };
}

/** The config the output declares: the settings, plus a `dynamic` skip rule per fp Linear. */
function outputConfig(options: QuantizeOptions, skipped: readonly string[]): GptqConfig {
  const gptq = options.method === 'gptq';
  const mse = options.mse === undefined || options.mse === false ? undefined : options.mse;
  return {
    bits: options.bits,
    groupSize: options.groupSize,
    descAct: gptq && options.descAct,
    sym: options.sym,
    staticGroups: gptq && options.staticGroups,
    dampPercent: options.dampPercent,
    trueSequential: options.trueSequential ?? true,
    checkpointFormat: options.format,
    quantMethod: 'gptq',
    lmHead: false,
    ...(skipped.length > 0 ? { dynamic: dynamicSkips(skipped) } : {}),
    ...(mse === undefined ? {} : { mse: mse === true ? 2.4 : mse.norm }),
    raw: {},
  };
}

interface BlockResult {
  modules: ModuleRecord[];
  skipped: SkippedModule[];
  /** The packed tensors of the block's quantized Linears, by full name. */
  tensors: [string, Tensor][];
}

/** Quantizes the Linears of one loaded block, group by group. */
function quantizeBlock(
  info: DecoderBlockInfo,
  index: number,
  blocks: number,
  windows: readonly Window[],
  hidden: readonly Tensor[],
  options: QuantizeOptions,
  emit: (event: QuantizeProgress) => void,
): BlockResult {
  const result: BlockResult = { modules: [], skipped: [], tensors: [] };
  const groups = options.trueSequential === false ? [info.linearGroups.flat()] : info.linearGroups;
  for (const group of groups) {
    const targets: string[] = [];
    for (const path of group) {
      const layer = info.block.getModule(path);
      const full = `${info.path}.${path}`;
      const reason =
        layer instanceof Linear
          ? unsupportedReason(layer.inFeatures, layer.outFeatures, options)
          : `${layer.constructor.name} is not a full-precision Linear`;
      if (reason === undefined) {
        targets.push(path);
      } else {
        result.skipped.push({ module: full, reason });
        emit({ phase: 'skip', block: index, blocks, module: path });
      }
    }
    if (targets.length === 0) continue;
    const hessians = new Map<string, HessianAccumulator>();
    try {
      if (windows.length > 0) {
        for (const path of targets) {
          hessians.set(
            path,
            new HessianAccumulator((info.block.getModule(path) as Linear).inFeatures),
          );
        }
        emit({ phase: 'capture', block: index, blocks });
        withCapture(
          info.block,
          targets,
          (path, x) => hessians.get(path)!.add(x),
          () => {
            windows.forEach((w, i) => {
              scope(() => {
                info.block.forward(hidden[i]!, w.context);
              });
            });
          },
        );
      }
      for (const path of targets) {
        const record = quantizeLinear(info, path, hessians.get(path), options, result);
        record.layer = index;
        result.modules.push(record);
        emit({
          phase: 'module',
          block: index,
          blocks,
          module: path,
          loss: record.loss,
          damp: record.damp,
          seconds: record.time,
        });
      }
    } finally {
      for (const h of hessians.values()) h.dispose();
    }
  }
  return result;
}

/** Quantizes one Linear, puts its fake-quantized weight back and packs its checkpoint tensors. */
function quantizeLinear(
  info: DecoderBlockInfo,
  path: string,
  accumulator: HessianAccumulator | undefined,
  options: QuantizeOptions,
  result: BlockResult,
): ModuleRecord {
  const linear = info.block.getModule(path) as Linear;
  const started = now();
  const { weight, owned } = weightNK(linear);
  const hessian = accumulator?.hessian();
  // Each accumulator serves one Linear: free its running sum before the algorithm's working set
  // (K² floats each) is allocated.
  accumulator?.dispose();
  let quantized: LayerQuantization | undefined;
  try {
    const settings = {
      bits: options.bits,
      sym: options.sym,
      groupSize: options.groupSize,
      ...(options.mse === undefined ? {} : { mse: options.mse }),
    };
    if (options.method === 'gptq') {
      quantized = gptqQuantize(weight, hessian!, {
        ...settings,
        descAct: options.descAct,
        staticGroups: options.staticGroups,
        dampPercent: options.dampPercent,
        ...(options.blockSize === undefined ? {} : { blockSize: options.blockSize }),
        ...(options.onLog ? { onLog: options.onLog } : {}),
      });
    } else {
      quantized = rtnQuantize(weight, settings);
    }
    const loss =
      options.method === 'rtn' && hessian
        ? hessianLoss(weight, quantized.dequantized, hessian, options.dampPercent)
        : quantized.loss;
    const packed = QuantLinear.fromQuantization({
      codes: quantized.codes,
      scales: quantized.scales,
      zeros: quantized.zeros,
      gIdx: quantized.gIdx,
      bias: linear.bias,
      bits: options.bits,
      groupSize: options.groupSize,
      format: options.format,
    });
    for (const [name, t] of Object.entries(
      packed.toCheckpointTensors({ prefix: `${info.path}.${path}` }),
    )) {
      result.tensors.push([name, t]);
    }
    const fake =
      linear.layout === 'out-in'
        ? quantized.dequantized
        : scope(() => contiguous(transpose(quantized!.dequantized)));
    info.block.setParameter(`${path}.weight`, fake);
    if (fake !== quantized.dequantized) quantized.dequantized.dispose();
    return {
      layer: -1,
      module: path,
      loss,
      damp: options.method === 'gptq' ? dampPercentUsed(quantized.damp, hessian!) : 0,
      time: now() - started,
    };
  } catch (error) {
    quantized?.dequantized.dispose();
    throw error;
  } finally {
    if (owned) weight.dispose();
    hessian?.dispose();
  }
}

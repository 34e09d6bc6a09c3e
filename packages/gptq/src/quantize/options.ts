import { SlimlmError } from '@slimlm/core';

/** How to quantize a model (the names of AutoGPTQ's quantize_config, camel-cased). */
export interface QuantizeOptions {
  bits: 2 | 3 | 4 | 8;
  /** Input channels per group; -1 for one group per output channel (the whole row). */
  groupSize: number;
  sym: boolean;
  /** act-order: quantize columns by decreasing Hessian diagonal (GPTQ only). */
  descAct: boolean;
  /** With descAct, compute every group's parameters before the column loop (GPTQ only). */
  staticGroups: boolean;
  /** Damping as a fraction of the mean Hessian diagonal (0.01 in AutoGPTQ). */
  dampPercent: number;
  method: 'gptq' | 'rtn';
  /** 'gptq' (v1, AutoGPTQ: stored zero points are z - 1) or 'gptq_v2' (GPTQModel: z). */
  format: 'gptq' | 'gptq_v2';
  /**
   * Calibration windows of token ids (see calibrationWindows in @slimlm/datasets), each run
   * through the blocks separately. RTN may pass none: it then skips the forward passes and
   * reports its losses without a Hessian.
   */
  calibration: number[][];
  /**
   * Continue an interrupted run from the last finished block kept in `<out>.partial/` (refused
   * when that run had other settings). Without it a leftover `<out>.partial/` is started over.
   */
  resume?: boolean;
  onProgress?: (event: QuantizeProgress) => void;
  /**
   * Quantize a block's Linear groups one after the other, re-running the block in between so
   * later groups see the quantized earlier ones (default true); false treats all as one group.
   */
  trueSequential?: boolean;
  /** Quantizer grid search shrinking the range (GPTQModel `mse`; off by default). */
  mse?: boolean | { grid: number; maxShrink: number; norm: number };
  /** GPTQ column block size (default 128, the reference's). */
  blockSize?: number;
  /** Replace `outFolder` when it exists (default: refuse). */
  overwrite?: boolean;
  /** Largest safetensors shard (default '5GB'). */
  maxShardSize?: number | string;
  /** Lines the algorithm logs (damping increases, for example), besides the quant log. */
  onLog?: (line: string) => void;
}

export type QuantizePhase =
  /** The run starts (or resumes at `block`); the calibration windows are embedded next. */
  | 'start'
  /** The block is run on every window to capture one Linear group's inputs. */
  | 'capture'
  /** One Linear is quantized: module, loss, damp and seconds are set. */
  | 'module'
  /** One Linear stays unquantized (its shape cannot be packed): module is set. */
  | 'skip'
  /** A block is finished and checkpointed (resume continues after it): seconds is set. */
  | 'block'
  /** The output folder is being written. */
  | 'write'
  /** The output folder is in place: seconds is the whole run. */
  | 'done';

export interface QuantizeProgress {
  phase: QuantizePhase;
  /** Index of the block concerned (0-based; `blocks` for phases after the last block). */
  block: number;
  blocks: number;
  /** The Linear's path relative to its block ('self_attn.q_proj'). */
  module?: string;
  loss?: number;
  damp?: number;
  seconds?: number;
}

/** One quant log row (GPTQModel's quant_log columns: layer, module, loss, damp, time). */
export interface ModuleRecord {
  layer: number;
  module: string;
  loss: number;
  damp: number;
  /** Seconds the quantization of this Linear took (not the capture forwards). */
  time: number;
}

export interface SkippedModule {
  /** Full path ('model.layers.0.mlp.down_proj'). */
  module: string;
  reason: string;
}

export interface QuantizeSummary {
  outFolder: string;
  modules: ModuleRecord[];
  /** Seconds per block (capture, quantization and the forward that feeds the next block). */
  blockSeconds: number[];
  skipped: SkippedModule[];
  totalLoss: number;
  /** Seconds of this call (a resumed run does not count the interrupted one). */
  seconds: number;
  /** Blocks taken from an interrupted run's checkpoint (0 for a fresh run). */
  resumedBlocks: number;
}

const BITS = [2, 3, 4, 8];

/** Checks the settings, naming the option at fault. */
export function checkOptions(options: QuantizeOptions): void {
  const fail = (message: string) => {
    throw new SlimlmError('INVALID_ARGUMENT', `quantizeModel: ${message}`);
  };
  if (!BITS.includes(options.bits)) fail(`bits must be 2, 3, 4 or 8, got ${options.bits}`);
  const g = options.groupSize;
  if (!Number.isSafeInteger(g) || (g !== -1 && g < 1)) {
    fail(`groupSize must be a positive integer or -1, got ${g}`);
  }
  if (!(options.dampPercent >= 0 && options.dampPercent < 1)) {
    fail(`dampPercent must be in [0, 1), got ${options.dampPercent}`);
  }
  if (options.method !== 'gptq' && options.method !== 'rtn') {
    fail(`method must be 'gptq' or 'rtn', got '${String(options.method)}'`);
  }
  if (options.format !== 'gptq' && options.format !== 'gptq_v2') {
    fail(`format must be 'gptq' or 'gptq_v2', got '${String(options.format)}'`);
  }
  if (!Array.isArray(options.calibration)) fail('calibration must be an array of token windows');
  if (options.method === 'gptq' && options.calibration.length === 0) {
    fail('GPTQ needs calibration windows (see calibrationWindows in @slimlm/datasets)');
  }
  for (const [i, window] of options.calibration.entries()) {
    if (!Array.isArray(window) || window.length === 0) {
      fail(`calibration window ${i} must be a non-empty array of token ids`);
    }
    if (!window.every((id) => Number.isSafeInteger(id) && id >= 0)) {
      fail(`calibration window ${i} holds something that is not a token id`);
    }
  }
  if (
    options.blockSize !== undefined &&
    !(Number.isSafeInteger(options.blockSize) && options.blockSize > 0)
  ) {
    fail(`blockSize must be a positive integer, got ${options.blockSize}`);
  }
}

import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import {
  CALIBRATION_SETS,
  type CalibrationText,
  calibrationWindows,
  loadCalibrationText,
} from '@slimlm/datasets';
import {
  type QuantizeOptions,
  type QuantizeProgress,
  type QuantizeSummary,
  quantizeModel,
} from '@slimlm/gptq';
import { hubSettings, loadTokenizer } from '@slimlm/hub';
import { defineCommand } from '../command';
import { UsageError } from '../errors';
import type { Output } from '../io';
import { BACKEND_OPTION, MODEL_OPTIONS } from '../options';
import { formatInteger, formatSeconds } from '../utils/format';
import { peakRssMb } from '../utils/memory';
import { progressBar } from '../utils/progress';
import { pullProgress } from '../utils/pull-progress';
import { resolveModelForOutput } from '../utils/resolve-model';
import { type ModelInfo, modelInfo } from './info';

export const QUANTIZE_DEFAULTS = {
  bits: 4,
  groupSize: 128,
  damp: 0.01,
  nsamples: 128,
  seqlen: 2048,
  seed: 0,
} as const;
const DEFAULTS = QUANTIZE_DEFAULTS;

const CALIBRATION_NAMES = CALIBRATION_SETS.map((set) => set.name).join(', ');

/** `slimlm quantize --json`: one object, snake_case like the configs it writes. */
export interface QuantizeJson {
  /** The output folder, absolute. */
  out: string;
  model: string;
  settings: {
    method: 'gptq' | 'rtn';
    format: 'gptq' | 'gptq_v2';
    bits: number;
    group_size: number;
    sym: boolean;
    desc_act: boolean;
    static_groups: boolean;
    damp_percent: number;
    true_sequential: boolean;
    /** The --calib argument (null for RTN without calibration). */
    calib: string | null;
    nsamples: number;
    seqlen: number;
    calib_mode: 'random' | 'first';
    seed: number;
  };
  /** What the calibration text was read from: the file, or the Hub file of a named set. */
  calib_source: string | null;
  /** Tokens the calibration text encodes to (null without calibration). */
  calib_tokens: number | null;
  /** One row per quantized Linear, in the order they were quantized. */
  modules: { block: number; module: string; loss: number; damp: number; seconds: number }[];
  /** Linears left unquantized (their shapes cannot be packed), with why. */
  skipped: { module: string; reason: string }[];
  total_loss: number;
  /** Blocks taken from an interrupted run (--resume). */
  resumed_blocks: number;
  /** Seconds of the quantization, tokenizing the calibration text and writing included. */
  seconds: number;
  /** The process's peak resident memory, in MB. */
  peak_rss_mb: number;
}

export const quantizeCommand = defineCommand({
  name: 'quantize',
  summary: 'Quantize a model with GPTQ (or RTN) into a gptq checkpoint folder',
  description:
    'Quantizes the Linear layers of every decoder block, one block in memory at a time, and writes\n' +
    'a checkpoint that AutoGPTQ, GPTQModel, transformers and slimlm load. GPTQ needs calibration\n' +
    `text (--calib): a file, or a named set (${CALIBRATION_NAMES}) downloaded once from the Hub.\n` +
    'It is tokenized once and cut into --nsamples windows of --seqlen tokens, the first ones in\n' +
    'order (--calib-mode first) or at random offsets like AutoGPTQ (random).\n' +
    'The output appears only when complete; an interrupted run continues with --resume.',
  positionals: [{ name: 'model', description: 'local folder, built-in name or Hub id' }],
  options: {
    out: {
      type: 'string',
      required: true,
      placeholder: 'dir',
      description:
        'Folder to write the checkpoint to (an existing non-empty one needs --overwrite)',
    },
    bits: {
      type: 'string',
      choices: ['2', '3', '4', '8'],
      description: `Bits per weight (default ${DEFAULTS.bits})`,
    },
    'group-size': {
      type: 'integer',
      min: -1,
      placeholder: 'n',
      description: `Input channels per group of scales/zeros; -1 for one per row (default ${DEFAULTS.groupSize})`,
    },
    sym: { type: 'boolean', description: 'Symmetric quantization (the default)' },
    'no-sym': { type: 'boolean', description: 'Asymmetric quantization (a zero point per group)' },
    'desc-act': {
      type: 'boolean',
      description: 'Act-order: quantize columns by decreasing Hessian diagonal (GPTQ only)',
    },
    'static-groups': {
      type: 'boolean',
      description: 'With --desc-act, fix every group before the column loop (GPTQ only)',
    },
    damp: {
      type: 'number',
      min: 0,
      exclusiveMin: true,
      placeholder: 'x',
      description: `Damping, a fraction of the mean Hessian diagonal, < 1 (default ${DEFAULTS.damp})`,
    },
    method: {
      type: 'string',
      choices: ['gptq', 'rtn'],
      description: 'GPTQ, or round-to-nearest as a baseline (default gptq)',
    },
    format: {
      type: 'string',
      choices: ['gptq', 'gptq_v2'],
      description: 'Checkpoint format: gptq (AutoGPTQ, v1) or gptq_v2 (GPTQModel) (default gptq)',
    },
    calib: {
      type: 'string',
      placeholder: 'file|name',
      description: `Calibration text: a text file, .json/.jsonl/.csv/.parquet "text" records, or ${CALIBRATION_NAMES} (from the Hub)`,
    },
    nsamples: {
      type: 'integer',
      min: 1,
      placeholder: 'n',
      description: `Calibration windows (default ${DEFAULTS.nsamples})`,
    },
    seqlen: {
      type: 'integer',
      min: 2,
      placeholder: 'n',
      description: `Tokens per calibration window (default ${DEFAULTS.seqlen}, capped by the model's max positions)`,
    },
    'calib-mode': {
      type: 'string',
      choices: ['random', 'first'],
      description:
        'Windows at random offsets (AutoGPTQ) or the first ones in order (default random)',
    },
    seed: {
      type: 'integer',
      min: 0,
      placeholder: 's',
      description: `Seed for --calib-mode random (default ${DEFAULTS.seed})`,
    },
    resume: {
      type: 'boolean',
      description:
        'Continue an interrupted run with the same settings from its last finished block',
    },
    overwrite: { type: 'boolean', description: 'Replace --out when it already exists' },
    ...BACKEND_OPTION,
    ...MODEL_OPTIONS,
    json: {
      type: 'boolean',
      description:
        'Print a summary object {out, settings, calib_source, modules, skipped, seconds, …}',
    },
  },
  examples: [
    'slimlm quantize ./llama --out ./llama-gptq-4bit --calib c4',
    'slimlm quantize wikillama --out ./wikillama-4bit --calib c4-sample.txt --seqlen 256',
    'slimlm quantize ./llama --out ./llama-3bit --bits 3 --group-size 64 --desc-act --calib wiki.train.raw --calib-mode first',
    'slimlm quantize wikillama --out ./wikillama-rtn --method rtn --json',
  ],
  async run({ positionals, options }, { out }) {
    const argument = positionals[0]!;
    if (options.sym && options['no-sym']) {
      throw new UsageError("options '--sym' and '--no-sym' contradict each other: give one");
    }
    const method = (options.method ?? 'gptq') as 'gptq' | 'rtn';
    if (method === 'rtn') {
      for (const flag of ['desc-act', 'static-groups'] as const) {
        if (options[flag]) throw new UsageError(`option '--${flag}' applies to --method gptq only`);
      }
    }
    if (options.damp !== undefined && options.damp >= 1) {
      throw new UsageError(`option '--damp' expects a number > 0 and < 1, got ${options.damp}`);
    }
    const groupSize = options['group-size'] ?? DEFAULTS.groupSize;
    if (groupSize === 0) {
      throw new UsageError("option '--group-size' expects a positive integer or -1, got 0");
    }
    if (options.calib === undefined && method === 'gptq') {
      throw new UsageError(
        `missing option '--calib <file|name>' (GPTQ needs calibration text: a text file, or ${CALIBRATION_NAMES})`,
      );
    }
    if (options.resume && options.overwrite) {
      throw new UsageError("options '--resume' and '--overwrite' contradict each other: give one");
    }
    const outFolder = resolve(out.io.cwd, options.out);
    const replace = checkOutFolder(options.out, outFolder, options);

    const { backend, folder } = await resolveModelForOutput(argument, outFolder, {
      ...(options.backend === undefined ? {} : { backend: options.backend }),
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      out,
    });
    const info = fullPrecisionInfo(argument, folder);
    const calibration =
      options.calib === undefined ? undefined : await loadCalibration(options.calib, out);
    const seqlen = calibrationLength(
      options.seqlen,
      info.max_positions,
      calibration !== undefined,
      out,
    );
    const json = await runQuantization(
      {
        model: argument,
        folder,
        outFolder,
        settings: {
          method,
          format: (options.format ?? 'gptq') as 'gptq' | 'gptq_v2',
          bits: Number(options.bits ?? DEFAULTS.bits),
          group_size: groupSize,
          sym: !options['no-sym'],
          desc_act: options['desc-act'],
          static_groups: options['static-groups'],
          damp_percent: options.damp ?? DEFAULTS.damp,
          true_sequential: true,
          calib: options.calib ?? null,
          nsamples: options.nsamples ?? DEFAULTS.nsamples,
          seqlen,
          calib_mode: (options['calib-mode'] ?? 'random') as 'random' | 'first',
          seed: options.seed ?? DEFAULTS.seed,
        },
        calibration,
        resume: options.resume,
        overwrite: options.overwrite || replace,
      },
      out,
    );
    if (out.json) {
      out.result(json);
      return;
    }
    out.table(summaryRows(json, backend));
  },
});

/** A quantization whose settings are checked: what `quantize` and `workflow` hand over. */
export interface QuantizationJob {
  /** The <model> argument as given, for messages and the summary. */
  model: string;
  /** Its folder (full precision). */
  folder: string;
  /** Where the checkpoint goes, absolute. */
  outFolder: string;
  /** `nsamples` is the number of windows asked for; RTN without calibration takes none. */
  settings: QuantizeJson['settings'];
  /** The text to calibrate with; undefined for RTN without --calib. */
  calibration: CalibrationText | undefined;
  resume: boolean;
  /** Replace `outFolder` when it exists. */
  overwrite: boolean;
}

/**
 * Tokenizes the calibration text with the model's tokenizer, cuts the windows and quantizes the
 * model into `job.outFolder`, with the progress bar and block lines on a terminal.
 */
export async function runQuantization(job: QuantizationJob, out: Output): Promise<QuantizeJson> {
  const started = performance.now();
  const { settings } = job;
  const calibLabel = `--calib ${settings.calib}`;
  let calibration: number[][] = [];
  let calibTokens: number | null = null;
  if (job.calibration !== undefined) {
    const tokenizingSince = performance.now();
    const tokenizer = await loadTokenizer(job.folder);
    const ids = tokenizer.encode(job.calibration.text);
    calibTokens = ids.length;
    out.diag(
      `tokenized ${settings.calib} into ${formatInteger(ids.length)} tokens in ${formatSeconds(performance.now() - tokenizingSince)}`,
    );
    const { nsamples, seqlen } = settings;
    const needed = settings.calib_mode === 'first' ? nsamples * seqlen : seqlen + 1;
    if (ids.length < needed) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        settings.calib_mode === 'first'
          ? `${calibLabel} encodes to ${formatInteger(ids.length)} tokens, fewer than --nsamples ${nsamples} × --seqlen ${seqlen} = ${formatInteger(needed)} for --calib-mode first: give more text, fewer or shorter windows, or --calib-mode random`
          : `${calibLabel} encodes to ${formatInteger(ids.length)} tokens, too few for windows of --seqlen ${seqlen}: give more text or a smaller --seqlen`,
      );
    }
    calibration = calibrationWindows(ids, nsamples, seqlen, settings.calib_mode, settings.seed);
  }

  const reporter = progressReporter(out);
  let summary: QuantizeSummary;
  try {
    const quantizeOptions: QuantizeOptions = {
      bits: settings.bits as QuantizeOptions['bits'],
      groupSize: settings.group_size,
      sym: settings.sym,
      descAct: settings.desc_act,
      staticGroups: settings.static_groups,
      dampPercent: settings.damp_percent,
      method: settings.method,
      format: settings.format,
      calibration,
      trueSequential: settings.true_sequential,
      resume: job.resume,
      overwrite: job.overwrite,
      onProgress: reporter.update,
      onLog: reporter.log,
    };
    summary = await quantizeModel(job.folder, job.outFolder, quantizeOptions);
  } finally {
    reporter.finish();
  }
  return {
    out: summary.outFolder,
    model: job.model,
    settings: { ...settings, nsamples: calibration.length },
    calib_source: job.calibration?.source ?? null,
    calib_tokens: calibTokens,
    modules: summary.modules.map((m) => ({
      block: m.layer,
      module: m.module,
      loss: m.loss,
      damp: m.damp,
      seconds: m.time,
    })),
    skipped: summary.skipped,
    total_loss: summary.totalLoss,
    resumed_blocks: summary.resumedBlocks,
    seconds: (performance.now() - started) / 1000,
    peak_rss_mb: peakRssMb(),
  };
}

/**
 * Refuses an --out that exists and is not empty, unless it is to be replaced (--overwrite) or
 * continued (--resume). Returns whether it is an empty folder made beforehand, which the
 * checkpoint replaces when complete.
 */
export function checkOutFolder(
  argument: string,
  outFolder: string,
  options: { overwrite: boolean; resume?: boolean },
): boolean {
  if (!existsSync(outFolder)) return false;
  const empty = statSync(outFolder).isDirectory() && readdirSync(outFolder).length === 0;
  if (!empty && !options.overwrite) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `--out ${argument} already exists${options.resume ? ' and is complete (--resume continues an unfinished run only)' : ''}: remove it, choose another --out, or pass --overwrite to replace it`,
    );
  }
  return empty;
}

/** The model's description, refusing one that is quantized already. */
export function fullPrecisionInfo(argument: string, folder: string): ModelInfo {
  const info = modelInfo(argument, folder);
  if (info.quantization_config) {
    throw new SlimlmError(
      'UNSUPPORTED',
      `${argument} is already quantized (${JSON.stringify(info.quantization_config)}): quantize its full-precision original`,
    );
  }
  return info;
}

/**
 * Calibration text from a file (relative to the working directory) or a named set, downloaded
 * into the Hugging Face cache with a progress bar the first time.
 */
export async function loadCalibration(argument: string, out: Output): Promise<CalibrationText> {
  const file = resolve(out.io.cwd, argument);
  const settings = hubSettings(out.io.env as NodeJS.ProcessEnv);
  const progress = pullProgress(out, `downloading ${argument}`);
  try {
    return await loadCalibrationText(existsSync(file) ? file : argument, {
      offline: settings.offline,
      endpoint: settings.endpoint,
      cacheDir: settings.cacheDir,
      ...(settings.token === undefined ? {} : { token: settings.token }),
      onProgress: progress.onProgress,
    });
  } catch (error) {
    // Name the option: the library's message names the file or set at most.
    if (error instanceof SlimlmError) {
      const named = error.message.startsWith(argument) ? '' : `${argument}: `;
      throw new SlimlmError(error.code, `--calib ${named}${error.message}`);
    }
    throw error;
  } finally {
    progress.finish();
  }
}

/** --seqlen, or the default capped by the model's positions (with a note). */
function calibrationLength(
  requested: number | undefined,
  maxPositions: number | null,
  calibrating: boolean,
  out: Output,
) {
  const known = maxPositions !== null && Number.isFinite(maxPositions) && maxPositions > 0;
  if (requested !== undefined) {
    if (known && requested > maxPositions) {
      throw new UsageError(
        `option '--seqlen' is ${requested}, more than the model's ${maxPositions} positions`,
      );
    }
    return requested;
  }
  if (known && maxPositions < DEFAULTS.seqlen) {
    if (calibrating)
      out.note(
        `--seqlen ${maxPositions}: the model has ${maxPositions} positions, fewer than the default ${DEFAULTS.seqlen}`,
      );
    return maxPositions;
  }
  return DEFAULTS.seqlen;
}

/** The progress bar (per block and module) and, on a terminal, one line per finished block. */
function progressReporter(out: Output) {
  const bar = progressBar(out.io.stderr, 'quantizing', {
    enabled: out.interactive,
    format: (done, total) => `block ${Math.min(Math.floor(done) + 1, total)}/${total}`,
  });
  let blockLoss = 0;
  let blockModules = 0;
  let blockSkipped: string[] = [];
  return {
    update(event: QuantizeProgress) {
      const { block, blocks } = event;
      switch (event.phase) {
        case 'start':
          bar.update(0, blocks, 'embedding the calibration windows');
          break;
        case 'capture':
          bar.update(block, blocks, 'capturing inputs');
          break;
        case 'module':
          blockLoss += event.loss ?? 0;
          blockModules++;
          bar.update(block, blocks, `${event.module} loss ${formatLoss(event.loss)}`);
          break;
        case 'skip':
          if (event.module !== undefined) blockSkipped.push(event.module);
          break;
        case 'block':
          bar.finish();
          out.diag(
            `block ${block + 1}/${blocks}: ${blockModules} modules quantized${blockSkipped.length > 0 ? `, ${blockSkipped.length} kept (${blockSkipped.join(', ')})` : ''}, loss ${formatLoss(blockLoss)}${event.seconds === undefined ? '' : `, ${formatSeconds(event.seconds * 1000)}`}`,
          );
          blockLoss = 0;
          blockModules = 0;
          blockSkipped = [];
          bar.update(block + 1, blocks);
          break;
        case 'write':
          bar.update(blocks, blocks, 'writing');
          break;
        case 'done':
          bar.finish();
          break;
      }
    },
    log(line: string) {
      bar.finish();
      out.note(line);
    },
    finish() {
      bar.finish();
    },
  };
}

function formatLoss(loss: number | undefined): string {
  if (loss === undefined) return '?';
  return loss !== 0 && Math.abs(loss) < 1e-3 ? loss.toExponential(3) : loss.toFixed(4);
}

function summaryRows(json: QuantizeJson, backend: string): [string, string][] {
  const s = json.settings;
  const worst = json.modules.reduce<QuantizeJson['modules'][number] | undefined>(
    (a, m) => (a === undefined || m.loss > a.loss ? m : a),
    undefined,
  );
  const calibration =
    s.calib === null
      ? 'none'
      : `${s.nsamples} windows of ${s.seqlen} tokens (${s.calib_mode}${s.calib_mode === 'random' ? `, seed ${s.seed}` : ''}) from ${calibrationName(s.calib, json.calib_source)} (${formatInteger(json.calib_tokens ?? 0)} tokens)`;
  return [
    ['out', json.out],
    [
      'method',
      `${s.method}, ${s.bits}-bit, group size ${s.group_size}, ${s.sym ? 'sym' : 'asym'}${s.desc_act ? ', desc_act' : ''}${s.static_groups ? ', static groups' : ''}, damp ${s.damp_percent}`,
    ],
    ['format', s.format],
    ['calibration', calibration],
    [
      'modules',
      `${json.modules.length} quantized${json.skipped.length > 0 ? `, ${json.skipped.length} kept unquantized (${skippedNames(json.skipped)})` : ''}`,
    ],
    [
      'loss',
      `total ${formatLoss(json.total_loss)}${worst ? `, largest ${formatLoss(worst.loss)} (layer ${worst.block} ${worst.module})` : ''}`,
    ],
    ...(json.resumed_blocks > 0
      ? [['resumed', `${json.resumed_blocks} blocks from the interrupted run`] as [string, string]]
      : []),
    ['time', `${formatSeconds(json.seconds * 1000)} (${backend})`],
    ['peak RSS', `${json.peak_rss_mb} MB`],
  ];
}

/** A file by its name; a named set by the Hub file it was read from. */
function calibrationName(calib: string, source: string | null): string {
  return CALIBRATION_SETS.some((set) => set.name === calib) && source !== null
    ? `${calib} (${source})`
    : basename(calib);
}

/** The kept modules' names within their blocks ('mlp.down_proj'), each once, a few at most. */
function skippedNames(skipped: QuantizeJson['skipped']): string {
  const names = [...new Set(skipped.map((m) => m.module.replace(/^.*?\.\d+\./, '')))];
  const shown = names.slice(0, 6).join(', ');
  return names.length > 6 ? `${shown} and ${names.length - 6} more` : shown;
}

import { rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import type { CalibrationText } from '@slimlm/datasets';
import { type GptqConfig, gptqLoadInfo } from '@slimlm/gptq';
import { type CausalLM, saveModel } from '@slimlm/models';
import { type MergeSummary, mergeAdapter, saveMergedModel } from '@slimlm/peft-lora';
import type { ParsedOptions } from '../args';
import { defineCommand } from '../command';
import { UsageError } from '../errors';
import type { Output } from '../io';
import { BACKEND_OPTION, MODEL_OPTIONS } from '../options';
import {
  type AdapterArgument,
  applyAdapterArgument,
  describeAdapter,
  readAdapterArgument,
} from '../utils/adapter';
import { formatSeconds } from '../utils/format';
import { loadWithProgress } from '../utils/load-model';
import { companionFilesOf } from '../utils/model-files';
import { resolveModelForOutput } from '../utils/resolve-model';
import { modelInfo } from './info';
import {
  checkOutFolder,
  loadCalibration,
  QUANTIZE_DEFAULTS,
  type QuantizeJson,
  runQuantization,
} from './quantize';

/** How a GPTQ base is written back once the adapter is merged into its dequantized weights. */
const REQUANTIZE = ['gptq', 'rtn', 'none'] as const;
type Requantize = (typeof REQUANTIZE)[number];

/** What to pass for a GPTQ base: the usage error and --help say the same. */
const REQUANTIZE_CHOICES =
  "--requantize rtn (round-to-nearest at the checkpoint's bits and group size, no calibration), " +
  '--requantize gptq --calib <file|name> (GPTQ with calibration text) or --requantize none ' +
  '(write the merged model dequantized, in floating point)';

/** `slimlm merge --json`: one object. */
export interface MergeJson {
  /** The output folder, absolute. */
  out: string;
  model: string;
  /** The adapter folder, absolute. */
  adapter: string;
  base: 'full-precision' | 'gptq';
  /** How a GPTQ base was written back (null for a full-precision base). */
  requantize: Requantize | null;
  /** Layers whose weights now hold the adapter. */
  merged_modules: number;
  /** The dtype the merged layers' floating-point weights are written in (null when requantized). */
  dtype: string | null;
  /** `slimlm quantize`'s summary of the GPTQ requantization (null otherwise). */
  quantization: QuantizeJson | null;
  seconds: number;
}

const OPTIONS = {
  adapter: {
    type: 'string',
    required: true,
    placeholder: 'dir',
    description: 'The PEFT LoRA adapter folder to merge (adapter_config.json + safetensors)',
  },
  out: {
    type: 'string',
    required: true,
    placeholder: 'dir',
    description:
      'Folder to write the merged model to (an existing non-empty one needs --overwrite)',
  },
  requantize: {
    type: 'string',
    choices: REQUANTIZE,
    description:
      'For a GPTQ base (required there): requantize with rtn, with gptq (needs --calib), or none',
  },
  calib: {
    type: 'string',
    placeholder: 'file|name',
    description: 'Calibration text for --requantize gptq: a file, or a named set (c4, wikitext2)',
  },
  nsamples: {
    type: 'integer',
    min: 1,
    placeholder: 'n',
    description: `Calibration windows for --requantize gptq (default ${QUANTIZE_DEFAULTS.nsamples})`,
  },
  seqlen: {
    type: 'integer',
    min: 1,
    placeholder: 'n',
    description: `Tokens per calibration window (default ${QUANTIZE_DEFAULTS.seqlen}, capped by the model's positions)`,
  },
  'calib-mode': {
    type: 'string',
    choices: ['random', 'first'],
    description:
      'Calibration windows at random offsets or the first ones in order (default random)',
  },
  seed: {
    type: 'integer',
    min: 0,
    placeholder: 's',
    description: `Seed for --calib-mode random (default ${QUANTIZE_DEFAULTS.seed})`,
  },
  dtype: {
    type: 'string',
    choices: ['f32', 'f16', 'bf16'],
    description:
      'Weight dtype of the merged model, for a full-precision base (default: as the base stores them)',
  },
  overwrite: { type: 'boolean', description: 'Replace an existing --out' },
  ...BACKEND_OPTION,
  ...MODEL_OPTIONS,
  json: { type: 'boolean', description: 'Print the summary as one JSON object' },
} as const;

type MergeOptions = ParsedOptions<typeof OPTIONS>;

/** Options that only GPTQ requantization reads. */
const CALIBRATION_FLAGS = ['calib', 'nsamples', 'seqlen', 'calib-mode', 'seed'] as const;

export const mergeCommand = defineCommand({
  name: 'merge',
  summary: 'Merge a LoRA adapter into its base model and write the merged model',
  description:
    'Adds scaling · B·A of every adapted layer to its weight, computed in f32 and stored in the\n' +
    "weight's dtype (PEFT's merge_and_unload), and writes a plain model folder that needs no adapter.\n" +
    'A GPTQ base is dequantized, merged and written back as --requantize says:\n' +
    `  rtn   requantized with round-to-nearest at the checkpoint's bits and group size (no calibration)\n` +
    '  gptq  requantized with GPTQ on --calib text (--nsamples windows of --seqlen tokens), as\n' +
    "        `slimlm quantize` does, with the checkpoint's bits, group size, sym and act-order\n" +
    '  none  not requantized: the dequantized, merged model in floating point (full size, no loss)\n' +
    'The output shows which one happened. The folder appears only when complete.',
  positionals: [
    {
      name: 'model',
      description: 'the base model the adapter was trained on: folder, built-in name or Hub id',
    },
  ],
  options: OPTIONS,
  examples: [
    'slimlm merge wikillama --adapter ./wikillama-lora --out ./wikillama-merged',
    'slimlm merge ./llama-gptq-4bit --adapter ./qlora --out ./merged-4bit --requantize rtn',
    'slimlm merge ./llama-gptq-4bit --adapter ./qlora --out ./merged-4bit --requantize gptq --calib c4 --json',
  ],
  async run({ positionals, options }, { out }) {
    const started = performance.now();
    const argument = positionals[0]!;
    const requantize = options.requantize as Requantize | undefined;
    checkCalibrationFlags(options, requantize);
    const adapter = readAdapterArgument(options.adapter, out);
    const outFolder = resolve(out.io.cwd, options.out);
    const emptyOut = checkOutFolder(options.out, outFolder, { overwrite: options.overwrite });
    const { backend, folder } = await resolveModelForOutput(argument, outFolder, {
      ...(options.backend === undefined ? {} : { backend: options.backend }),
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      out,
    });
    const gptq = modelInfo(argument, folder).quantization_config !== null;
    checkBase(argument, gptq, requantize, options);
    // Read before the model, so that a wrong --calib fails before a long load.
    const calibration =
      requantize === 'gptq' ? await loadCalibration(options.calib!, out) : undefined;

    const loaded = await loadWithProgress(folder, argument, backend, undefined, out, {
      weightsDType: options.dtype as 'f32' | 'f16' | 'bf16' | undefined,
    });
    try {
      const { model } = loaded;
      applyAdapterArgument(model, adapter);
      const target: MergeTarget = {
        folder,
        outFolder,
        overwrite: options.overwrite || emptyOut,
      };
      let summary: MergeSummary;
      let quantization: QuantizeJson | null = null;
      if (requantize === 'rtn') {
        summary = writeRtnRequantized(model, target);
      } else if (requantize === 'gptq') {
        ({ summary, quantization } = await writeGptqRequantized(
          model,
          target,
          gptqSettings(argument, model, options),
          { argument, calibration: calibration! },
          out,
        ));
      } else {
        summary = await writeFloatingPoint(model, target);
      }
      const json: MergeJson = {
        out: outFolder,
        model: argument,
        adapter: adapter.dir,
        base: gptq ? 'gptq' : 'full-precision',
        requantize: requantize ?? null,
        merged_modules: summary.merged.length,
        dtype: requantize === 'rtn' || requantize === 'gptq' ? null : mergedDType(model, summary),
        quantization,
        seconds: (performance.now() - started) / 1000,
      };
      if (out.json) out.result(json);
      else out.table(summaryRows(json, adapter, gptq ? gptqLoadInfo(model)?.config : undefined));
    } finally {
      loaded.dispose();
    }
  },
});

/** Where the merged model goes. */
interface MergeTarget {
  /** The base's folder, whose tokenizer and generation files the output keeps. */
  folder: string;
  outFolder: string;
  overwrite: boolean;
}

/** The merged model in floating point (a GPTQ base dequantized), written by @slimlm/peft-lora. */
function writeFloatingPoint(model: CausalLM, target: MergeTarget): Promise<MergeSummary> {
  return saveMergedModel(model, target.outFolder, {
    copyFiles: companionFilesOf(target.folder),
    overwrite: target.overwrite,
  });
}

/** A GPTQ base merged layer by layer and requantized with RTN: still a GPTQ checkpoint. */
function writeRtnRequantized(model: CausalLM, target: MergeTarget): MergeSummary {
  const summary = mergeAdapter(model, { quantized: 'rtn' });
  saveModel(model, target.outFolder, {
    copyFiles: companionFilesOf(target.folder),
    overwrite: target.overwrite,
  });
  return summary;
}

/**
 * A GPTQ base merged in floating point into a temporary folder beside the output, then quantized
 * from there into the output by the same pipeline as `slimlm quantize`.
 */
async function writeGptqRequantized(
  model: CausalLM,
  target: MergeTarget,
  settings: QuantizeJson['settings'],
  calib: { argument: string; calibration: CalibrationText },
  out: Output,
): Promise<{ summary: MergeSummary; quantization: QuantizeJson }> {
  const merged = join(
    dirname(target.outFolder),
    `.${basename(target.outFolder)}.merged-${process.pid}-${Date.now()}`,
  );
  try {
    const summary = await saveMergedModel(model, merged, {
      copyFiles: companionFilesOf(target.folder),
    });
    const quantization = await runQuantization(
      {
        model: calib.argument,
        folder: merged,
        outFolder: target.outFolder,
        settings,
        calibration: calib.calibration,
        resume: false,
        overwrite: target.overwrite,
      },
      out,
    );
    return { summary, quantization };
  } finally {
    rmSync(merged, { recursive: true, force: true });
  }
}

/** The base checkpoint's GPTQ settings, with the calibration options of this run. */
function gptqSettings(
  argument: string,
  model: CausalLM,
  options: MergeOptions,
): QuantizeJson['settings'] {
  const config = gptqLoadInfo(model)?.config;
  if (!config) {
    throw new SlimlmError('UNSUPPORTED', `${argument} is quantized, but not as GPTQ`);
  }
  if (config.dynamic !== undefined && Object.keys(config.dynamic).length > 0) {
    throw new SlimlmError(
      'UNSUPPORTED',
      `${argument} has per-module GPTQ rules (quantization_config.dynamic) that --requantize gptq does not reproduce; use --requantize rtn, which keeps each layer's own bits and group size`,
    );
  }
  const positions = model.config.maxPositions;
  const seqlen =
    options.seqlen ??
    (Number.isFinite(positions) && positions > 0
      ? Math.min(QUANTIZE_DEFAULTS.seqlen, positions)
      : QUANTIZE_DEFAULTS.seqlen);
  if (Number.isFinite(positions) && seqlen > positions) {
    throw new UsageError(
      `option '--seqlen' is ${seqlen}, more than the model's ${positions} positions`,
    );
  }
  return {
    method: 'gptq',
    format: config.checkpointFormat,
    bits: config.bits,
    group_size: config.groupSize,
    sym: config.sym,
    desc_act: config.descAct,
    static_groups: config.staticGroups,
    damp_percent: config.dampPercent,
    true_sequential: config.trueSequential,
    calib: options.calib!,
    nsamples: options.nsamples ?? QUANTIZE_DEFAULTS.nsamples,
    seqlen,
    calib_mode: (options['calib-mode'] ?? 'random') as 'random' | 'first',
    seed: options.seed ?? QUANTIZE_DEFAULTS.seed,
  };
}

/** Calibration options make sense with --requantize gptq only, which needs --calib. */
function checkCalibrationFlags(options: MergeOptions, requantize: Requantize | undefined): void {
  if (requantize === 'gptq') {
    if (options.calib === undefined) {
      throw new UsageError(
        "option '--requantize gptq' needs calibration text: --calib <file|name> (or use --requantize rtn, which needs none)",
      );
    }
    return;
  }
  for (const flag of CALIBRATION_FLAGS) {
    if (options[flag] !== undefined) {
      throw new UsageError(`option '--${flag}' applies to --requantize gptq only`);
    }
  }
}

/** A GPTQ base needs --requantize and keeps its own dtypes; a full-precision base is not requantized. */
function checkBase(
  argument: string,
  gptq: boolean,
  requantize: Requantize | undefined,
  options: MergeOptions,
): void {
  if (gptq && requantize === undefined) {
    throw new UsageError(`${argument} is a GPTQ checkpoint: pass ${REQUANTIZE_CHOICES}`);
  }
  if (gptq && options.dtype !== undefined) {
    throw new UsageError(
      "option '--dtype' applies to a full-precision base; a GPTQ base keeps its own dtypes",
    );
  }
  if (!gptq && requantize !== undefined) {
    throw new UsageError(
      `option '--requantize' applies to a GPTQ base; ${argument} is full precision (quantize the merged model with slimlm quantize)`,
    );
  }
}

/** The dtype the merged layers' weights are held in. */
function mergedDType(model: CausalLM, summary: MergeSummary): string | null {
  const first = summary.merged[0];
  return first === undefined ? null : (model.getParameter(`${first}.weight`)?.dtype ?? null);
}

function summaryRows(
  json: MergeJson,
  adapter: AdapterArgument,
  gptq: GptqConfig | undefined,
): [string, string][] {
  const packed = gptq ? `GPTQ ${gptq.bits}-bit, group size ${gptq.groupSize}` : '';
  const written = (): string => {
    const q = json.quantization;
    switch (json.requantize) {
      case 'rtn':
        return `${packed}, requantized with RTN (round-to-nearest, no calibration)`;
      case 'gptq':
        return `${packed}, requantized with GPTQ on ${q!.settings.nsamples} windows of ${q!.settings.seqlen} tokens of ${q!.settings.calib} (${q!.settings.calib_mode}), total loss ${q!.total_loss.toPrecision(4)}`;
      case 'none':
        return `full precision: dequantized and merged, not requantized (merged layers ${json.dtype})`;
      default:
        return `full precision (${json.dtype})`;
    }
  };
  return [
    ['out', json.out],
    ['model', `${json.model}${gptq ? ` (${packed})` : ' (full precision)'}`],
    ['adapter', `${json.adapter}: ${describeAdapter(adapter)}`],
    ['merged', `${json.merged_modules} layers, W += scaling · B·A computed in f32`],
    ['written', written()],
    ['time', formatSeconds(json.seconds * 1000)],
  ];
}

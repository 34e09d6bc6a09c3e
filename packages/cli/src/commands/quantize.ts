import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import { calibrationWindows } from '@slimlm/datasets';
import {
  type QuantizeOptions,
  type QuantizeProgress,
  type QuantizeSummary,
  quantizeModel,
} from '@slimlm/gptq';
import { loadTokenizer } from '@slimlm/hub';
import { defineCommand } from '../command';
import { UsageError } from '../errors';
import type { Output } from '../io';
import { BACKEND_OPTION, MODEL_OPTIONS } from '../options';
import { type BACKENDS, selectBackend } from '../utils/backend';
import { formatInteger, formatSeconds } from '../utils/format';
import { progressBar } from '../utils/progress';
import { resolveModel } from '../utils/resolve-model';
import { readTextFile } from './eval';
import { modelInfo } from './info';

const DEFAULTS = {
  bits: 4,
  groupSize: 128,
  damp: 0.01,
  nsamples: 128,
  seqlen: 2048,
  seed: 0,
} as const;

/** Calibration sets named rather than given as a file; bundling them is issue #6's work. */
const CALIBRATION_NAMES = ['wikitext2', 'c4'] as const;

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
  /** Tokens the calibration text encodes to (null without calibration). */
  calib_tokens: number | null;
  /** One row per quantized Linear, in the order they were quantized. */
  modules: { block: number; module: string; loss: number; damp: number; seconds: number }[];
  /** Linears left unquantized (their shapes cannot be packed), with why. */
  skipped: { module: string; reason: string }[];
  total_loss: number;
  /** Blocks taken from an interrupted run (--resume). */
  resumed_blocks: number;
  /** Seconds of the whole command (tokenizing and writing included). */
  seconds: number;
  /** The process's peak resident memory, in MiB. */
  peak_rss_mb: number;
}

export const quantizeCommand = defineCommand({
  name: 'quantize',
  summary: 'Quantize a model with GPTQ (or RTN) into a gptq checkpoint folder',
  description:
    'Quantizes the Linear layers of every decoder block, one block in memory at a time, and writes\n' +
    'a checkpoint that AutoGPTQ, GPTQModel, transformers and slimlm load. GPTQ needs calibration\n' +
    'text (--calib): it is tokenized once and cut into --nsamples windows of --seqlen tokens,\n' +
    'the first ones in order (--calib-mode first) or at random offsets like AutoGPTQ (random).\n' +
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
      description: 'Calibration text: a UTF-8 file, or .json/.jsonl with "text" fields',
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
        'Print a summary object {out, settings, modules, skipped, seconds, peak_rss_mb, …}',
    },
  },
  examples: [
    'slimlm quantize ./llama --out ./llama-gptq-4bit --calib c4-sample.txt',
    'slimlm quantize ./llama --out ./llama-3bit --bits 3 --group-size 64 --desc-act --calib wiki.train.raw --calib-mode first',
    'slimlm quantize wikillama --out ./wikillama-rtn --method rtn --json',
  ],
  async run({ positionals, options }, { out }) {
    const started = performance.now();
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
        `missing option '--calib <file|name>' (GPTQ needs calibration text; give a UTF-8 text file)`,
      );
    }
    if (options.resume && options.overwrite) {
      throw new UsageError("options '--resume' and '--overwrite' contradict each other: give one");
    }
    const calibText = options.calib === undefined ? undefined : readCalibration(options.calib, out);

    const outFolder = resolve(out.io.cwd, options.out);
    // An empty folder made beforehand is taken as it is: the checkpoint replaces it when complete.
    const emptyFolder = existsSync(outFolder) && isEmptyFolder(outFolder);
    if (existsSync(outFolder) && !options.overwrite && !emptyFolder) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `--out ${options.out} already exists${options.resume ? ' and is complete (--resume continues an unfinished run only)' : ''}: remove it, choose another --out, or pass --overwrite to replace it`,
      );
    }

    const backend = await selectBackend(options.backend as (typeof BACKENDS)[number], out);
    const { folder } = await resolveModel(argument, {
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      out,
    });
    if (resolve(folder) === outFolder) {
      throw new UsageError("option '--out' is the model's own folder: choose another");
    }
    const info = modelInfo(argument, folder);
    if (info.quantization_config) {
      throw new SlimlmError(
        'UNSUPPORTED',
        `${argument} is already quantized (${JSON.stringify(info.quantization_config)}): quantize its full-precision original`,
      );
    }
    const seqlen = calibrationLength(
      options.seqlen,
      info.max_positions,
      calibText !== undefined,
      out,
    );
    const nsamples = options.nsamples ?? DEFAULTS.nsamples;
    const calibMode = (options['calib-mode'] ?? 'random') as 'random' | 'first';
    const seed = options.seed ?? DEFAULTS.seed;

    let calibration: number[][] = [];
    let calibTokens: number | null = null;
    if (calibText !== undefined) {
      const tokenizingSince = performance.now();
      const tokenizer = await loadTokenizer(folder);
      const ids = tokenizer.encode(calibText);
      calibTokens = ids.length;
      out.diag(
        `tokenized ${options.calib} into ${formatInteger(ids.length)} tokens in ${formatSeconds(performance.now() - tokenizingSince)}`,
      );
      const needed = calibMode === 'first' ? nsamples * seqlen : seqlen + 1;
      if (ids.length < needed) {
        throw new SlimlmError(
          'INVALID_ARGUMENT',
          calibMode === 'first'
            ? `--calib ${options.calib} encodes to ${formatInteger(ids.length)} tokens, fewer than --nsamples ${nsamples} × --seqlen ${seqlen} = ${formatInteger(needed)} for --calib-mode first: give more text, fewer or shorter windows, or --calib-mode random`
            : `--calib ${options.calib} encodes to ${formatInteger(ids.length)} tokens, too few for windows of --seqlen ${seqlen}: give more text or a smaller --seqlen`,
        );
      }
      calibration = calibrationWindows(ids, nsamples, seqlen, calibMode, seed);
    }

    const settings: QuantizeJson['settings'] = {
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
      nsamples: calibration.length,
      seqlen,
      calib_mode: calibMode,
      seed,
    };
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
        resume: options.resume,
        overwrite: options.overwrite || emptyFolder,
        onProgress: reporter.update,
        onLog: reporter.log,
      };
      summary = await quantizeModel(folder, outFolder, quantizeOptions);
    } finally {
      reporter.finish();
    }

    const json: QuantizeJson = {
      out: summary.outFolder,
      model: argument,
      settings,
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
    if (out.json) {
      out.result(json);
      return;
    }
    out.table(summaryRows(json, backend));
  },
});

/** Calibration text from a file: plain UTF-8, or the "text" fields of a .json/.jsonl file. */
function readCalibration(argument: string, out: Output): string {
  const file = resolve(out.io.cwd, argument);
  if (!existsSync(file) && (CALIBRATION_NAMES as readonly string[]).includes(argument)) {
    throw new UsageError(
      `option '--calib ${argument}': named calibration sets (${CALIBRATION_NAMES.join(', ')}) are not bundled yet; give a text file path (for example --calib fixtures/c4/c4-sample.utf8 in the slimlm repository)`,
    );
  }
  const text = readTextFile(argument, '--calib', out);
  const extension = extname(file).toLowerCase();
  if (extension !== '.json' && extension !== '.jsonl') return text;
  const texts = extension === '.jsonl' ? jsonlTexts(text, argument) : jsonTexts(text, argument);
  if (texts.length === 0) {
    throw new SlimlmError('INVALID_FILE', `--calib ${argument}: no "text" field found`);
  }
  // As GPTQ's wikitext2 loader: the documents joined by blank lines, tokenized once.
  return texts.join('\n\n');
}

function jsonlTexts(content: string, name: string): string[] {
  const texts: string[] = [];
  for (const [i, line] of content.split('\n').entries()) {
    if (line.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      throw new SlimlmError(
        'INVALID_FILE',
        `--calib ${name}: line ${i + 1} is not JSON (${(error as Error).message})`,
      );
    }
    const text = textOf(record);
    if (text === undefined) {
      throw new SlimlmError('INVALID_FILE', `--calib ${name}: line ${i + 1} has no "text" string`);
    }
    texts.push(text);
  }
  return texts;
}

/** An array of strings or of {"text": …} records, or one such record, or {"text": [...]}. */
function jsonTexts(content: string, name: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch (error) {
    throw new SlimlmError(
      'INVALID_FILE',
      `--calib ${name}: not JSON (${(error as Error).message})`,
    );
  }
  const items = Array.isArray(value)
    ? value
    : isRecord(value) && Array.isArray(value.text)
      ? value.text
      : [value];
  return items.map((item, i) => {
    const text = typeof item === 'string' ? item : textOf(item);
    if (text === undefined) {
      throw new SlimlmError(
        'INVALID_FILE',
        `--calib ${name}: item ${i} is neither a string nor an object with a "text" string`,
      );
    }
    return text;
  });
}

function textOf(record: unknown): string | undefined {
  return isRecord(record) && typeof record.text === 'string' ? record.text : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEmptyFolder(path: string): boolean {
  return statSync(path).isDirectory() && readdirSync(path).length === 0;
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

/** Peak resident memory of this process, in MiB. */
function peakRssMb(): number {
  // maxRSS is in kilobytes (KiB on Linux and macOS).
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
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
      : `${s.nsamples} windows of ${s.seqlen} tokens (${s.calib_mode}${s.calib_mode === 'random' ? `, seed ${s.seed}` : ''}) from ${basename(s.calib)} (${formatInteger(json.calib_tokens ?? 0)} tokens)`;
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
    ['peak RSS', `${json.peak_rss_mb} MiB`],
  ];
}

/** The kept modules' names within their blocks ('mlp.down_proj'), each once, a few at most. */
function skippedNames(skipped: QuantizeJson['skipped']): string {
  const names = [...new Set(skipped.map((m) => m.module.replace(/^.*?\.\d+\./, '')))];
  const shown = names.slice(0, 6).join(', ');
  return names.length > 6 ? `${shown} and ${names.length - 6} more` : shown;
}

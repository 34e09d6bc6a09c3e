import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { CalibrationText } from '@slimlm/datasets';
import {
  benchmarkGeneration,
  markdownTable,
  type PerplexityResult,
  perplexity,
} from '@slimlm/eval-metrics';
import { generateText, type LoadedModel } from '@slimlm/models';
import { EMBEDDED_TEXTS } from '../assets';
import { defineCommand } from '../command';
import { UsageError } from '../errors';
import type { Output } from '../io';
import { BACKEND_OPTION, MODEL_OPTIONS } from '../options';
import { type BACKENDS, selectBackend } from '../utils/backend';
import { formatBytes, formatCount, formatInteger, formatSeconds } from '../utils/format';
import { loadWithProgress } from '../utils/load-model';
import { progressBar } from '../utils/progress';
import { resolveModel } from '../utils/resolve-model';
import { readTextFile } from './eval';
import type { ModelInfo } from './info';
import {
  checkOutFolder,
  fullPrecisionInfo,
  loadCalibration,
  QUANTIZE_DEFAULTS,
  type QuantizeJson,
  runQuantization,
} from './quantize';

/**
 * Defaults sized for the built-in wikillama on two CPU cores (under a minute of CPU time in all):
 * 64 calibration windows quantize it as well as 128 (perplexity within 0.01%) in half the time,
 * and 256 tokens are the length it was trained on.
 */
const WORKFLOW_DEFAULTS = {
  model: 'wikillama',
  nsamples: 64,
  seqlen: 256,
  windows: 64,
  prompt: 'The river flows through',
  maxNewTokens: 32,
} as const;

/** The generation benchmark of each model: optimum's protocol, kept short. */
const SPEED = { promptLength: 64, newTokens: 64, repeats: 3 } as const;

/** One model of the comparison. */
export interface WorkflowRow {
  model: string;
  /** 'fp' for the original, else the quantization method. */
  method: string;
  /** Bits per stored weight: the dtype's for the original, the quantization's otherwise. */
  bits: number;
  /** The safetensors files' size. */
  bytes: number;
  ppl: number;
  mean_nll: number;
  /** New tokens per second of greedy generation, prefill included (optimum's throughput). */
  tokens_per_second: number;
  /** The greedy continuation of the prompt (new text only). */
  sample: string;
}

/** `slimlm workflow --json`: one object. */
export interface WorkflowJson {
  model: string;
  /** The quantized checkpoint's folder when kept (--out), else null. */
  out: string | null;
  /** The quantize step's summary (its `out` is where it was written). */
  quantize: QuantizeJson;
  perplexity: {
    /** The --text file, or null for the embedded WikiText-2 test excerpt. */
    text: string | null;
    source: string;
    seqlen: number;
    windows: number;
    /** Scored predictions per model: windows × (seqlen − 1). */
    tokens: number;
    /** Tokens the whole text encodes to. */
    text_tokens: number;
    protocol: string;
  };
  sample: { prompt: string; max_new_tokens: number };
  speed: { prompt_length: number; new_tokens: number; repeats: number; backend: string };
  /** The original model, then the quantized one. */
  rows: WorkflowRow[];
  /** Seconds of the whole workflow. */
  seconds: number;
}

export const workflowCommand = defineCommand({
  name: 'workflow',
  summary: 'Quantize with GPTQ and compare with the original: size, perplexity, speed, samples',
  description:
    'The whole job in one command, with no network for a local or built-in model: quantizes the\n' +
    'model (default wikillama) with GPTQ as `slimlm quantize` does, measures the perplexity of\n' +
    'the original and of the quantized model on the same windows of held-out text (the GPTQ\n' +
    "paper's non-overlapping protocol), times greedy generation of each (optimum's benchmark),\n" +
    'generates a sample from each, and prints a Markdown table. The calibration and evaluation\n' +
    'texts default to excerpts of C4 and of the WikiText-2 test split shipped with slimlm. The\n' +
    'quantized checkpoint is kept only with --out.',
  positionals: [
    {
      name: 'model',
      description: `local folder, built-in name or Hub id (default ${WORKFLOW_DEFAULTS.model})`,
      required: false,
    },
  ],
  options: {
    bits: {
      type: 'string',
      choices: ['2', '3', '4', '8'],
      description: `Bits per weight (default ${QUANTIZE_DEFAULTS.bits})`,
    },
    'group-size': {
      type: 'integer',
      min: -1,
      placeholder: 'n',
      description: `Input channels per group; -1 for one per row (default ${QUANTIZE_DEFAULTS.groupSize})`,
    },
    calib: {
      type: 'string',
      placeholder: 'file|name',
      description:
        'Calibration text: a file, or wikitext2, c4 (from the Hub) (default: the embedded C4 excerpt)',
    },
    nsamples: {
      type: 'integer',
      min: 1,
      placeholder: 'n',
      description: `Calibration windows, at random offsets, seed 0 (default ${WORKFLOW_DEFAULTS.nsamples})`,
    },
    text: {
      type: 'string',
      placeholder: 'file',
      description: 'Text to measure perplexity on (default: the embedded WikiText-2 test excerpt)',
    },
    windows: {
      type: 'integer',
      min: 1,
      placeholder: 'n',
      description: `Perplexity windows, the first ones of the text (default ${WORKFLOW_DEFAULTS.windows})`,
    },
    seqlen: {
      type: 'integer',
      min: 2,
      placeholder: 'n',
      description: `Tokens per calibration and perplexity window (default ${WORKFLOW_DEFAULTS.seqlen})`,
    },
    prompt: {
      type: 'string',
      placeholder: 'text',
      description: `Prompt of the samples (default '${WORKFLOW_DEFAULTS.prompt}')`,
    },
    'max-new-tokens': {
      type: 'integer',
      min: 1,
      placeholder: 'n',
      description: `Tokens of each greedy sample (default ${WORKFLOW_DEFAULTS.maxNewTokens})`,
    },
    out: {
      type: 'string',
      placeholder: 'dir',
      description: 'Keep the quantized checkpoint in this folder (default: not kept)',
    },
    overwrite: { type: 'boolean', description: 'Replace --out when it already exists' },
    ...BACKEND_OPTION,
    ...MODEL_OPTIONS,
    json: {
      type: 'boolean',
      description:
        'Print {"model","out","quantize","perplexity","sample","speed","rows","seconds"}',
    },
  },
  examples: [
    'slimlm workflow',
    'slimlm workflow wikillama --bits 3 --group-size 64 --out ./wikillama-3bit',
    'slimlm workflow ./my-llama --calib c4 --text wiki.test.raw --seqlen 2048 --windows 40 --json',
  ],
  async run({ positionals, options }, { out }) {
    const started = performance.now();
    const argument = positionals[0] ?? WORKFLOW_DEFAULTS.model;
    const groupSize = options['group-size'] ?? QUANTIZE_DEFAULTS.groupSize;
    if (groupSize === 0) {
      throw new UsageError("option '--group-size' expects a positive integer or -1, got 0");
    }
    if (options.overwrite && options.out === undefined) {
      throw new UsageError("option '--overwrite' applies to --out only");
    }
    const keptFolder = options.out === undefined ? undefined : resolve(out.io.cwd, options.out);
    const replace =
      keptFolder === undefined
        ? false
        : checkOutFolder(options.out!, keptFolder, { overwrite: options.overwrite });
    const evalText =
      options.text === undefined ? undefined : readTextFile(options.text, '--text', out);

    const backend = await selectBackend(options.backend as (typeof BACKENDS)[number], out);
    const { folder } = await resolveModel(argument, {
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      out,
    });
    if (keptFolder !== undefined && resolve(folder) === keptFolder) {
      throw new UsageError("option '--out' is the model's own folder: choose another");
    }
    const info = fullPrecisionInfo(argument, folder);
    const seqlen = options.seqlen ?? WORKFLOW_DEFAULTS.seqlen;
    if (info.max_positions !== null && seqlen > info.max_positions) {
      throw new UsageError(
        `option '--seqlen' is ${seqlen}, more than the model's ${info.max_positions} positions`,
      );
    }
    const calibration: CalibrationText = await loadCalibration(
      options.calib ?? EMBEDDED_TEXTS.calibration.path,
      out,
    );
    const step = stepper(out, 3);

    step(`measuring ${argument}`);
    const text = evalText ?? readTextFile(EMBEDDED_TEXTS.evaluation.path, '--text', out);
    const original = await measure(folder, argument, text, backend, {
      seqlen,
      windows: options.windows ?? WORKFLOW_DEFAULTS.windows,
      prompt: options.prompt ?? WORKFLOW_DEFAULTS.prompt,
      maxNewTokens: options['max-new-tokens'] ?? WORKFLOW_DEFAULTS.maxNewTokens,
      out,
    });

    const bits = Number(options.bits ?? QUANTIZE_DEFAULTS.bits);
    // Without --out the checkpoint goes to a temporary folder, removed at the end.
    const scratch =
      keptFolder === undefined ? mkdtempSync(join(tmpdir(), 'slimlm-workflow-')) : undefined;
    const outFolder = keptFolder ?? join(scratch!, `${basename(folder)}-gptq-${bits}bit`);
    try {
      step(`quantizing ${argument} to ${bits} bits with GPTQ`);
      const quantize = await runQuantization(
        {
          model: argument,
          folder,
          outFolder,
          settings: {
            method: 'gptq',
            format: 'gptq',
            bits,
            group_size: groupSize,
            sym: true,
            desc_act: false,
            static_groups: false,
            damp_percent: QUANTIZE_DEFAULTS.damp,
            true_sequential: true,
            calib: options.calib ?? EMBEDDED_TEXTS.calibration.label,
            nsamples: options.nsamples ?? WORKFLOW_DEFAULTS.nsamples,
            seqlen,
            calib_mode: 'random',
            seed: QUANTIZE_DEFAULTS.seed,
          },
          calibration,
          resume: false,
          overwrite: options.overwrite || replace,
        },
        out,
      );

      step(`measuring the ${bits}-bit model`);
      const quantized = await measure(outFolder, `${argument} ${bits}-bit`, text, backend, {
        seqlen,
        windows: original.ppl.windows,
        prompt: options.prompt ?? WORKFLOW_DEFAULTS.prompt,
        maxNewTokens: options['max-new-tokens'] ?? WORKFLOW_DEFAULTS.maxNewTokens,
        out,
      });

      const json: WorkflowJson = {
        model: argument,
        out: keptFolder ?? null,
        quantize,
        perplexity: {
          text: options.text ?? null,
          source: options.text ?? EMBEDDED_TEXTS.evaluation.label,
          seqlen,
          windows: original.ppl.windows,
          tokens: original.ppl.tokens,
          text_tokens: original.textTokens,
          protocol: original.ppl.protocol,
        },
        sample: {
          prompt: options.prompt ?? WORKFLOW_DEFAULTS.prompt,
          max_new_tokens: options['max-new-tokens'] ?? WORKFLOW_DEFAULTS.maxNewTokens,
        },
        speed: {
          prompt_length: original.speed.promptLength,
          new_tokens: original.speed.newTokens,
          repeats: original.speed.repeats,
          backend,
        },
        rows: [
          row(argument, 'fp', storedBits(info), folder, original),
          row(`${argument} GPTQ ${bits}-bit g${groupSize}`, 'gptq', bits, outFolder, quantized),
        ],
        seconds: (performance.now() - started) / 1000,
      };
      if (out.json) {
        out.result(json);
        return;
      }
      printReport(json, info, out);
    } finally {
      if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
    }
  },
});

interface Measurement {
  ppl: PerplexityResult;
  textTokens: number;
  sample: string;
  speed: { promptLength: number; newTokens: number; repeats: number; tokensPerSecond: number };
}

/** Perplexity, a greedy sample and the generation speed of one model, loaded once. */
async function measure(
  folder: string,
  name: string,
  text: string,
  backend: string,
  options: { seqlen: number; windows: number; prompt: string; maxNewTokens: number; out: Output },
): Promise<Measurement> {
  const { out, seqlen } = options;
  const loaded: LoadedModel = await loadWithProgress(folder, name, backend, undefined, out);
  let handedOver = false;
  try {
    const ids = loaded.tokenizer.encode(text);
    const bar = progressBar(out.io.stderr, 'perplexity', {
      enabled: out.interactive,
      format: (done, total) => `${done}/${total} windows`,
    });
    let ppl: PerplexityResult;
    try {
      ppl = perplexity(loaded.model, ids, {
        seqlen,
        maxWindows: options.windows,
        onProgress: (done, total) => bar.update(done, total),
      });
    } finally {
      bar.finish();
    }
    const sample = generateText(loaded, options.prompt, {
      maxNewTokens: options.maxNewTokens,
      temperature: 0,
    }).text;
    const speedBar = progressBar(out.io.stderr, 'timing generation', {
      enabled: out.interactive,
      format: (done, total) => `${done}/${total}`,
    });
    // The benchmark takes the model over and disposes of it.
    handedOver = true;
    const benchmark = await benchmarkGeneration(async () => loaded, {
      promptLength: SPEED.promptLength,
      newTokens: SPEED.newTokens,
      repeats: SPEED.repeats,
      onProgress: (phase, done, total) =>
        phase === 'timing' ? speedBar.update(done, total) : undefined,
    }).finally(() => speedBar.finish());
    return {
      ppl,
      textTokens: ids.length,
      sample,
      speed: {
        promptLength: benchmark.promptLength,
        newTokens: benchmark.newTokens,
        repeats: benchmark.repeats,
        tokensPerSecond: benchmark.tokensPerSecond,
      },
    };
  } finally {
    if (!handedOver) loaded.dispose();
  }
}

function row(
  model: string,
  method: string,
  bits: number,
  folder: string,
  measured: Measurement,
): WorkflowRow {
  return {
    model,
    method,
    bits,
    bytes: safetensorsBytes(folder),
    ppl: measured.ppl.ppl,
    mean_nll: measured.ppl.meanNll,
    tokens_per_second: measured.speed.tokensPerSecond,
    sample: measured.sample,
  };
}

/** The bits of the dtype holding most of the weights: 16 for f16/bf16, 32 for f32. */
function storedBits(info: ModelInfo): number {
  const [dtype] = Object.entries(info.dtypes).sort(([, a], [, b]) => b.elements - a.elements)[0]!;
  return Number(dtype.replace(/^\D+/, '')) || 32;
}

function safetensorsBytes(folder: string): number {
  return readdirSync(folder)
    .filter((name) => name.endsWith('.safetensors'))
    .reduce((sum, name) => sum + statSync(join(folder, name)).size, 0);
}

/** What was done, the comparison table, and what it means. */
function printReport(json: WorkflowJson, info: ModelInfo, out: Output): void {
  const q = json.quantize;
  const s = q.settings;
  const [original, quantized] = json.rows as [WorkflowRow, WorkflowRow];
  out.table([
    [
      'model',
      `${json.model} (${formatCount(info.parameters)} parameters, ${info.torch_dtype ?? 'fp'})`,
    ],
    [
      'quantized',
      `GPTQ ${s.bits}-bit, group size ${s.group_size}, ${s.sym ? 'sym' : 'asym'}, damp ${s.damp_percent}: ${q.modules.length} Linears in ${formatSeconds(q.seconds * 1000)}`,
    ],
    [
      'calibration',
      `${s.nsamples} windows of ${s.seqlen} tokens at random offsets (seed ${s.seed}) in the ${formatInteger(q.calib_tokens ?? 0)} tokens of ${s.calib}`,
    ],
    [
      'perplexity',
      `first ${json.perplexity.windows} windows of ${json.perplexity.seqlen} tokens of ${json.perplexity.source}: ${formatInteger(json.perplexity.tokens)} predictions (${json.perplexity.protocol})`,
    ],
    [
      'speed',
      `greedy generation of ${json.speed.new_tokens} tokens after a ${json.speed.prompt_length}-token prompt, mean of ${json.speed.repeats} runs (${json.speed.backend} backend)`,
    ],
    [
      'samples',
      `greedy, ${json.sample.max_new_tokens} new tokens after ${JSON.stringify(json.sample.prompt)}`,
    ],
  ]);
  out.line();
  out.line(
    markdownTable(
      ['model', 'bits', 'size on disk', 'ppl', 'tokens/s', 'sample'],
      json.rows.map((r) => [
        r.model,
        r.bits,
        formatBytes(r.bytes),
        r.ppl.toFixed(2),
        r.tokens_per_second.toFixed(1),
        r.sample.trim(),
      ]),
    ),
  );
  out.line();
  const change = (quantized.ppl / original.ppl - 1) * 100;
  out.table([
    [
      'result',
      `${(original.bytes / quantized.bytes).toFixed(2)}× smaller on disk, perplexity ${change >= 0 ? '+' : ''}${change.toFixed(2)}% (${original.ppl.toFixed(2)} → ${quantized.ppl.toFixed(2)})`,
    ],
    ['checkpoint', json.out ?? 'not kept (pass --out <dir> to keep it)'],
    ['time', formatSeconds(json.seconds * 1000)],
  ]);
}

/** '[2/3] quantizing…' lines on a terminal. */
function stepper(out: Output, steps: number): (what: string) => void {
  let current = 0;
  return (what) => {
    current++;
    out.diag(`[${current}/${steps}] ${what}`);
  };
}

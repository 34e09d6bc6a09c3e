import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import {
  alpacaTemplate,
  chatmlTemplate,
  chatTemplate,
  loadDataset,
  type PromptTemplate,
  splitDataset,
  tokenizeInstructions,
} from '@slimlm/datasets';
import type { Tokenizer } from '@slimlm/hub';
import { type CausalLM, type LoadedModel, saveModel } from '@slimlm/models';
import {
  injectLora,
  saveAdapter,
  Trainer,
  type TrainProgress,
  type TrainResult,
  trainableParameters,
} from '@slimlm/peft-lora';
import type { ParsedOptions } from '../args';
import { defineCommand } from '../command';
import { UsageError } from '../errors';
import type { Output } from '../io';
import { BACKEND_OPTION, MODEL_OPTIONS } from '../options';
import { formatInteger, formatSeconds } from '../utils/format';
import { loadWithProgress } from '../utils/load-model';
import { peakRssMb } from '../utils/memory';
import { progressBar } from '../utils/progress';
import { resolveModelForOutput } from '../utils/resolve-model';
import { modelInfo } from './info';

const DEFAULTS = {
  r: 8,
  alpha: 16,
  dropout: 0.05,
  target: 'q_proj,v_proj',
  epochs: 1,
  lora: { lr: 2e-4 },
  full: { lr: 5e-5 },
  batch: 4,
  gradAccum: 1,
  seqlen: 512,
  valSplit: 0.05,
  seed: 42,
} as const;

const TEMPLATES = ['alpaca', 'chatml', 'chat'] as const;

/** Files of a model folder that a fully fine-tuned copy keeps beside its weights. */
const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'generation_config.json',
];

/** `slimlm finetune --json`: one object. */
export interface FinetuneJson {
  steps: number;
  /** Mean loss per response token of the validation split (null without one). */
  val_loss_before: number | null;
  val_loss_after: number | null;
  train_tokens_per_s: number;
  /** The process's peak resident memory, in MB. */
  peak_memory_mb: number;
  /** The folder written: a PEFT adapter (lora) or a whole model (full), absolute. */
  out: string;
}

const OPTIONS = {
  data: {
    type: 'string',
    required: true,
    placeholder: 'file|id',
    description: 'Records: a .json/.jsonl/.csv/.parquet file, a folder or a Hub dataset id',
  },
  template: {
    type: 'string',
    choices: TEMPLATES,
    description: "Prompt template: alpaca, chatml, or the model's chat template (default alpaca)",
  },
  method: {
    type: 'string',
    choices: ['lora', 'full'],
    description: 'Train a LoRA adapter or every weight (default lora)',
  },
  r: {
    type: 'integer',
    min: 1,
    placeholder: 'n',
    description: `LoRA rank (default ${DEFAULTS.r})`,
  },
  alpha: {
    type: 'number',
    min: 0,
    exclusiveMin: true,
    placeholder: 'x',
    description: `LoRA alpha; the update is scaled by alpha / r (default ${DEFAULTS.alpha})`,
  },
  dropout: {
    type: 'number',
    min: 0,
    max: 0.999,
    placeholder: 'p',
    description: `LoRA dropout (default ${DEFAULTS.dropout})`,
  },
  target: {
    type: 'string',
    placeholder: 'list',
    description: `Modules to adapt, comma-separated, or all-linear (default ${DEFAULTS.target})`,
  },
  epochs: {
    type: 'number',
    min: 0,
    exclusiveMin: true,
    placeholder: 'n',
    description: `Passes over the training split (default ${DEFAULTS.epochs})`,
  },
  lr: {
    type: 'number',
    min: 0,
    exclusiveMin: true,
    placeholder: 'x',
    description: `Peak learning rate (default ${DEFAULTS.lora.lr} for lora, ${DEFAULTS.full.lr} for full)`,
  },
  batch: {
    type: 'integer',
    min: 1,
    placeholder: 'n',
    description: `Examples per micro-batch (default ${DEFAULTS.batch})`,
  },
  'grad-accum': {
    type: 'integer',
    min: 1,
    placeholder: 'n',
    description: `Micro-batches per optimizer step (default ${DEFAULTS.gradAccum})`,
  },
  seqlen: {
    type: 'integer',
    min: 2,
    placeholder: 'n',
    description: `Longest example in tokens; longer ones are cut (default ${DEFAULTS.seqlen}, capped by the model)`,
  },
  'max-steps': {
    type: 'integer',
    min: 1,
    placeholder: 'n',
    description: 'Optimizer steps to take (overrides --epochs)',
  },
  'eval-steps': {
    type: 'integer',
    min: 1,
    placeholder: 'n',
    description: 'Evaluate and checkpoint every n steps (default once per epoch)',
  },
  'val-split': {
    type: 'number',
    min: 0,
    placeholder: 'x',
    description: `Held-out fraction (< 1) or count of examples; 0 for none (default ${DEFAULTS.valSplit})`,
  },
  seed: {
    type: 'integer',
    min: 0,
    placeholder: 's',
    description: `Seeds the split, the shuffling, dropout and LoRA's init (default ${DEFAULTS.seed})`,
  },
  out: {
    type: 'string',
    placeholder: 'dir',
    description: 'Folder to write (default ./<model name>-<method>)',
  },
  resume: { type: 'boolean', description: 'Continue an interrupted run from <out>/checkpoints' },
  ...BACKEND_OPTION,
  ...MODEL_OPTIONS,
  json: {
    type: 'boolean',
    description:
      'Print {steps, val_loss_before, val_loss_after, train_tokens_per_s, peak_memory_mb, out}',
  },
} as const;

export const finetuneCommand = defineCommand({
  name: 'finetune',
  summary: 'Fine-tune a model on instruction data (LoRA adapter or all weights)',
  description:
    'Renders every record of --data with a prompt template, tokenizes it (the prompt masked from\n' +
    'the loss), holds out --val-split for validation and trains with AdamW and a linear schedule.\n' +
    'The best validation parameters are kept. --method lora writes a PEFT adapter folder (loadable\n' +
    'by PEFT and slimlm); --method full writes a whole model. Checkpoints are written to\n' +
    '<out>/checkpoints once per epoch (or every --eval-steps); --resume continues from the newest.',
  positionals: [{ name: 'model', description: 'local folder, built-in name or Hub id' }],
  options: OPTIONS,
  examples: [
    'slimlm finetune wikillama --data alpaca.json --out ./wikillama-alpaca-lora',
    'slimlm finetune ./llama --data chats.jsonl --template chat --target all-linear --r 16 --alpha 32 --epochs 2',
    'slimlm finetune wikillama --data alpaca.json --method full --lr 1e-4 --max-steps 200 --json',
  ],
  async run({ positionals, options }, { out }) {
    const argument = positionals[0]!;
    const method = (options.method ?? 'lora') as 'lora' | 'full';
    if (method === 'full') {
      for (const flag of ['r', 'alpha', 'dropout', 'target'] as const) {
        if (options[flag] !== undefined) {
          throw new UsageError(`option '--${flag}' applies to --method lora only`);
        }
      }
    }
    const valSplit = options['val-split'] ?? DEFAULTS.valSplit;
    if (valSplit >= 1 && !Number.isInteger(valSplit)) {
      throw new UsageError(
        `option '--val-split' expects a fraction below 1 or a whole number of examples, got ${valSplit}`,
      );
    }
    const outFolder = resolve(
      out.io.cwd,
      options.out ?? `${argument.split(/[\\/]/).filter(Boolean).at(-1)}-${method}`,
    );
    if (existsSync(outFolder) && readdirSync(outFolder).length > 0 && !options.resume) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `--out ${outFolder} already exists and is not empty: remove it, choose another --out, or pass --resume to continue an interrupted run`,
      );
    }

    const { backend, folder } = await resolveModelForOutput(argument, outFolder, {
      ...(options.backend === undefined ? {} : { backend: options.backend }),
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      out,
    });
    if (method === 'full' && modelInfo(argument, folder).quantization_config) {
      throw new SlimlmError(
        'UNSUPPORTED',
        `${argument} is quantized: its packed weights cannot be trained; use --method lora (LoRA on the quantized model) or fine-tune its full-precision original`,
      );
    }
    const loaded = await loadWithProgress(folder, argument, backend, undefined, out);
    try {
      await finetune(
        loaded,
        { argument, method, folder, outFolder, valSplit, backend },
        options,
        out,
      );
    } finally {
      loaded.dispose();
    }
  },
});

/** What `finetune` needs besides the options. */
interface FinetuneJob {
  argument: string;
  method: 'lora' | 'full';
  /** The model's folder, whose tokenizer files a full fine-tune copies. */
  folder: string;
  outFolder: string;
  valSplit: number;
  backend: string;
}

/** Tokenizes --data, trains, writes the adapter or the model into the output folder, reports. */
async function finetune(
  loaded: LoadedModel,
  job: FinetuneJob,
  options: ParsedOptions<typeof OPTIONS>,
  out: Output,
): Promise<void> {
  const { model, tokenizer } = loaded;
  const { method, outFolder } = job;
  const seed = options.seed ?? DEFAULTS.seed;
  const { train, validation } = await tokenizedSplits(
    options.data,
    tokenizer,
    templateFor(options.template, tokenizer),
    Math.min(options.seqlen ?? DEFAULTS.seqlen, model.config.maxPositions),
    job.valSplit,
    seed,
    out,
  );
  const parameters =
    method === 'lora' ? loraParameters(model, options, seed) : new Map(model.namedParameters());
  const checkpointDir = join(outFolder, 'checkpoints');
  const reporter = trainingReporter(out);
  let result: TrainResult;
  try {
    const trainer = new Trainer(model, parameters, {
      epochs: options.epochs ?? DEFAULTS.epochs,
      ...(options['max-steps'] === undefined ? {} : { maxSteps: options['max-steps'] }),
      batchSize: options.batch ?? DEFAULTS.batch,
      gradientAccumulationSteps: options['grad-accum'] ?? DEFAULTS.gradAccum,
      learningRate: options.lr ?? DEFAULTS[method].lr,
      seed,
      ...(options['eval-steps'] === undefined ? {} : { evalSteps: options['eval-steps'] }),
      checkpointDir,
      resume: options.resume,
      onProgress: reporter.update,
    });
    result = await trainer.train({ train, ...(validation.length > 0 ? { validation } : {}) });
  } finally {
    reporter.finish();
  }

  if (method === 'lora') {
    saveAdapter(model, outFolder, { baseModelNameOrPath: job.argument });
    rmSync(checkpointDir, { recursive: true, force: true });
  } else {
    // Replaces the folder, checkpoints included, once the model is complete beside it.
    saveModel(model, outFolder, {
      overwrite: true,
      copyFiles: { from: job.folder, names: TOKENIZER_FILES },
    });
  }

  const json: FinetuneJson = {
    steps: result.steps,
    val_loss_before: result.valLossBefore ?? null,
    val_loss_after: result.valLossAfter ?? null,
    train_tokens_per_s: result.tokensPerSecond,
    peak_memory_mb: peakRssMb(),
    out: outFolder,
  };
  if (out.json) {
    out.result(json);
    return;
  }
  const valLoss =
    json.val_loss_before === null || json.val_loss_after === null
      ? 'no validation split'
      : `${json.val_loss_before.toFixed(4)} → ${json.val_loss_after.toFixed(4)}`;
  const trainable = [...new Set(parameters.values())].reduce((n, t) => n + t.size, 0);
  const steps = [
    String(json.steps),
    result.resumedFrom === undefined ? '' : ` (resumed at ${result.resumedFrom})`,
    result.stoppedEarly ? ' (stopped early)' : '',
  ].join('');
  out.table([
    ['out', json.out],
    ['method', `${method} (${formatInteger(trainable)} trainable parameters)`],
    [
      'examples',
      `${formatInteger(train.length)} train, ${formatInteger(validation.length)} validation`,
    ],
    ['steps', steps],
    ['val loss', valLoss],
    ['speed', `${json.train_tokens_per_s.toFixed(1)} tokens/s (${job.backend})`],
    ['peak memory', `${json.peak_memory_mb.toFixed(0)} MB`],
  ]);
}

function templateFor(name: string | undefined, tokenizer: Tokenizer): PromptTemplate {
  if (name === 'chatml') return chatmlTemplate;
  if (name === 'chat') return chatTemplate(tokenizer);
  return alpacaTemplate;
}

/** The records of --data, rendered, tokenized and split into train and validation. */
async function tokenizedSplits(
  data: string,
  tokenizer: Tokenizer,
  template: PromptTemplate,
  maxLength: number,
  validation: number,
  seed: number,
  out: Output,
) {
  const started = performance.now();
  const local = resolve(out.io.cwd, data);
  const records = await loadDataset(existsSync(local) ? local : data);
  const examples = tokenizeInstructions(tokenizer, records, template, { maxLength });
  if (examples.length === 0) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `--data ${data}: none of its ${records.length} records leaves a response to learn within --seqlen ${maxLength}`,
    );
  }
  const splits = splitDataset(examples, { validation, seed });
  out.diag(
    `${formatInteger(records.length)} records → ${formatInteger(examples.length)} examples (${template.name}) in ${formatSeconds(performance.now() - started)}`,
  );
  return splits;
}

/** Injects the adapter --r/--alpha/--dropout/--target describe and returns its matrices. */
function loraParameters(model: CausalLM, options: ParsedOptions<typeof OPTIONS>, seed: number) {
  const target = options.target ?? DEFAULTS.target;
  injectLora(
    model,
    {
      r: options.r ?? DEFAULTS.r,
      loraAlpha: options.alpha ?? DEFAULTS.alpha,
      loraDropout: options.dropout ?? DEFAULTS.dropout,
      targetModules:
        target.toLowerCase() === 'all-linear'
          ? 'all-linear'
          : target.split(',').map((m) => m.trim()),
    },
    { seed },
  );
  return trainableParameters(model);
}

/** A progress bar of steps on an interactive stderr, with the last loss and the speed. */
function trainingReporter(out: Output) {
  const bar = progressBar(out.io.stderr, 'training', { enabled: out.interactive });
  let detail = '';
  return {
    update(progress: TrainProgress) {
      if (progress.kind === 'step') {
        detail = `loss ${progress.loss.toFixed(4)} lr ${progress.lr.toExponential(2)} ${progress.tokensPerSecond.toFixed(0)} tok/s`;
        bar.update(progress.step, progress.totalSteps, detail);
      } else {
        bar.finish();
        out.diag(
          `step ${progress.step}: validation loss ${progress.valLoss.toFixed(4)}${progress.best ? ' (best)' : ''}`,
        );
      }
    },
    finish() {
      bar.finish();
    },
  };
}

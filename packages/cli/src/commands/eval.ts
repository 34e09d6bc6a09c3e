import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import {
  defaultSeqlen,
  evaluateTask,
  type PerplexityProtocol,
  perplexity,
  TASK_METRICS,
  type TaskEvaluation,
  type TaskExample,
  type TaskMetric,
} from '@slimlm/eval-metrics';
// Registers the 'gptq' quantization method, so that GPTQ checkpoints load like any other.
import '@slimlm/gptq';
import {
  alpacaTemplate,
  chatmlTemplate,
  chatTemplate,
  type DataRecord,
  type PromptTemplate,
  readRecords,
} from '@slimlm/datasets';
import type { Tokenizer } from '@slimlm/hub';
import type { LoadedModel } from '@slimlm/models';
import type { ParsedOptions } from '../args';
import { defineCommand } from '../command';
import { UsageError } from '../errors';
import type { Output } from '../io';
import { ACTIVATIONS_OPTION, BACKEND_OPTION, MODEL_OPTIONS } from '../options';
import { type BACKENDS, selectBackend } from '../utils/backend';
import { formatInteger, formatSeconds } from '../utils/format';
import { loadWithProgress } from '../utils/load-model';
import { progressBar } from '../utils/progress';
import { resolveModel } from '../utils/resolve-model';

export const DEFAULT_PPL_SEQLEN = defaultSeqlen('gptq-non-overlapping');
export const DEFAULT_TASK_MAX_NEW_TOKENS = 64;
const METRICS = ['ppl', 'task'] as const;

/** --protocol's short names → the protocols of @slimlm/eval-metrics. */
const PROTOCOLS: Readonly<Record<string, PerplexityProtocol>> = {
  gptq: 'gptq-non-overlapping',
  optimum: 'optimum',
  'llama.cpp': 'llama.cpp',
};

/** `slimlm eval ppl --json`: one object. */
export interface EvalPplJson {
  model: string;
  /** The text file, as given. */
  text: string;
  ppl: number;
  /** Mean negative log-likelihood per scored prediction, in nats. */
  mean_nll: number;
  windows: number;
  /** Scored predictions: windows × (seqlen − 1), or the second halves for llama.cpp. */
  tokens: number;
  /** Tokens the whole file encodes to (BOS included as the tokenizer adds it). */
  text_tokens: number;
  seqlen: number;
  protocol: PerplexityProtocol;
}

/** `slimlm eval task --json`: one object. */
export interface EvalTaskJson {
  model: string;
  /** The data file, as given. */
  data: string;
  examples: number;
  /** Each requested metric: bleu on sacrebleu's 0–100 scale, the others in [0, 1]. */
  scores: Partial<Record<TaskMetric, number>>;
  generated_tokens: number;
  max_new_tokens: number;
}

const EVAL_OPTIONS = {
  text: {
    type: 'string',
    placeholder: 'file',
    description: 'eval ppl: UTF-8 text file to score (for example wikitext-2-raw/wiki.test.raw)',
  },
  protocol: {
    type: 'string',
    choices: Object.keys(PROTOCOLS),
    description: 'eval ppl: how windows are cut and scored (default gptq)',
  },
  seqlen: {
    type: 'integer',
    min: 2,
    placeholder: 'n',
    description: `eval ppl: tokens per window (default ${DEFAULT_PPL_SEQLEN} for gptq, 512 otherwise, capped by the model's positions)`,
  },
  'max-windows': {
    type: 'integer',
    min: 1,
    placeholder: 'n',
    description: 'eval ppl: score only the first n windows (default all)',
  },
  data: {
    type: 'string',
    placeholder: 'file',
    description:
      'eval task: JSON, JSON Lines, CSV or Parquet records of {"prompt", "response"} (or as --template reads them)',
  },
  template: {
    type: 'string',
    choices: ['alpaca', 'chatml', 'chat'],
    description:
      "eval task: render records with a template (alpaca: {instruction, input, output}; chatml, chat: messages, chat with the model's own template)",
  },
  metrics: {
    type: 'string',
    placeholder: 'list',
    description: `eval task: comma-separated metrics (default all: ${TASK_METRICS.join(',')})`,
  },
  'max-new-tokens': {
    type: 'integer',
    min: 1,
    placeholder: 'n',
    description: `eval task: tokens to generate per example at most (default ${DEFAULT_TASK_MAX_NEW_TOKENS})`,
  },
  stop: {
    type: 'string',
    multiple: true,
    placeholder: 'text',
    description: 'eval task: cut each answer before this string (repeatable)',
  },
  limit: {
    type: 'integer',
    min: 1,
    placeholder: 'n',
    description: 'eval task: evaluate only the first n examples',
  },
  batch: {
    type: 'integer',
    min: 1,
    placeholder: 'n',
    description: 'Windows (ppl) or examples (task) per forward pass (default 1)',
  },
  dtype: {
    type: 'string',
    choices: ['f32', 'f16', 'bf16'],
    description: 'Compute dtype (default f32; losses are always computed in f32)',
  },
  ...BACKEND_OPTION,
  ...ACTIVATIONS_OPTION,
  ...MODEL_OPTIONS,
  json: {
    type: 'boolean',
    description:
      'Print one JSON object: ppl {"model","text","ppl","mean_nll","windows","tokens","text_tokens","seqlen","protocol"}, task {"model","data","examples","scores","generated_tokens","max_new_tokens"}',
  },
} as const;

type Options = ParsedOptions<typeof EVAL_OPTIONS>;

export const evalCommand = defineCommand({
  name: 'eval',
  summary:
    'Evaluate a model: perplexity on a text file (eval ppl), task metrics on examples (eval task)',
  description:
    "eval ppl tokenizes the whole file once with the model's tokenizer (BOS as it adds it) and\n" +
    'scores it by --protocol: gptq (the GPTQ paper: non-overlapping windows of --seqlen, every\n' +
    "prediction scored), optimum (optimum's evaluate_perplexity: windows of 512) or llama.cpp\n" +
    '(chunks of --seqlen, default 512, BOS first in each, only the second half scored). The\n' +
    'protocol is named in the output: perplexities of different protocols are not comparable.\n' +
    '\n' +
    'eval task reads records (JSON, JSON Lines, CSV, Parquet) of {"prompt", "response"} (response:\n' +
    'a string or a list of acceptable strings) or renders them with --template, generates an\n' +
    'answer to each prompt greedily, and scores the answers:\n' +
    'accuracy, exactMatch and tokenF1 (SQuAD), bleu (sacrebleu corpus BLEU-4, 0-100) and rougeL.\n' +
    'Full-precision and GPTQ checkpoints load alike.',
  positionals: [
    { name: 'metric', description: 'what to measure: ppl (perplexity) or task (task metrics)' },
    { name: 'model', description: 'local folder, built-in name or Hub id' },
  ],
  options: EVAL_OPTIONS,
  examples: [
    'slimlm eval ppl wikillama --text wikitext-2-raw/wiki.test.raw --seqlen 256',
    'slimlm eval ppl ./llama-gptq-4bit --text wiki.test.raw --protocol llama.cpp --json',
    'slimlm eval task ./finetuned --data heldout.jsonl --metrics exactMatch,rougeL --stop "\\n"',
  ],
  async run({ positionals, options }, { out }) {
    const [metric, argument] = positionals as [string, string];
    if (!(METRICS as readonly string[]).includes(metric)) {
      throw new UsageError(`unknown metric '${metric}' (metrics: ${METRICS.join(', ')})`);
    }
    const evaluation =
      metric === 'ppl' ? prepareText(options, out) : await prepareTask(options, out);
    const backend = await selectBackend(options.backend as (typeof BACKENDS)[number], out);
    const { folder } = await resolveModel(argument, {
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      out,
    });
    const loaded = await loadWithProgress(folder, argument, backend, options.dtype, out, {
      activations: options.activations,
    });
    try {
      await evaluation({ loaded, argument, backend });
    } finally {
      loaded.dispose();
    }
  },
});

interface Loaded {
  loaded: LoadedModel;
  argument: string;
  backend: string;
}

/** Options that belong to the other metric are usage errors, so that a typo is not ignored. */
function refuseOptions(options: Options, names: readonly string[], metric: string): void {
  for (const name of names) {
    const value = options[name as keyof Options];
    if (value !== undefined && value !== false && !(Array.isArray(value) && value.length === 0)) {
      throw new UsageError(`option '--${name}' does not apply to eval ${metric}`);
    }
  }
}

function missingOption(name: string, placeholder: string, what: string): UsageError {
  return new UsageError(`missing option '--${name} <${placeholder}>' (${what})`);
}

/** eval ppl: checks its options and reads the text, before any model is loaded. */
function prepareText(options: Options, out: Output): (loaded: Loaded) => Promise<void> {
  refuseOptions(options, ['data', 'template', 'metrics', 'max-new-tokens', 'stop', 'limit'], 'ppl');
  const textPath = options.text;
  if (textPath === undefined) throw missingOption('text', 'file', 'the text file to score');
  const protocol = PROTOCOLS[options.protocol ?? 'gptq']!;
  if (protocol === 'optimum' && options.seqlen !== undefined && options.seqlen !== 512) {
    throw new UsageError(
      `option '--seqlen' is ${options.seqlen}, but the optimum protocol scores windows of 512 tokens only`,
    );
  }
  const textFile = readTextFile(textPath, '--text', out);
  return async ({ loaded, argument, backend }) =>
    scorePerplexity(loaded, { argument, backend, protocol, textPath, textFile, options, out });
}

async function scorePerplexity(
  loaded: LoadedModel,
  run: {
    argument: string;
    backend: string;
    protocol: PerplexityProtocol;
    textPath: string;
    textFile: string;
    options: Options;
    out: Output;
  },
): Promise<void> {
  const { argument, backend, protocol, textPath, textFile, options, out } = run;
  const seqlen = windowLength(
    options.seqlen,
    defaultSeqlen(protocol),
    loaded.config.maxPositions,
    out,
  );
  let started = performance.now();
  const ids = loaded.tokenizer.encode(textFile);
  out.diag(
    `tokenized ${formatInteger(textFile.length)} characters into ${formatInteger(ids.length)} tokens in ${formatSeconds(performance.now() - started)}`,
  );
  const needed = protocol === 'llama.cpp' ? 2 : 1;
  if (ids.length < needed * seqlen) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `${textPath} encodes to ${ids.length} tokens, fewer than ${needed === 1 ? 'one window' : `the ${needed} windows the ${protocol} protocol needs`} of --seqlen ${seqlen}: give a longer text or a smaller --seqlen`,
    );
  }
  // llama.cpp puts BOS first in every chunk when its vocabulary adds BOS: here, when the
  // tokenizer put one first.
  const bos = loaded.tokenizer.bosTokenId;
  const addsBos = protocol === 'llama.cpp' && bos !== undefined && ids[0] === bos;
  const bar = progressBar(out.io.stderr, 'scoring', {
    enabled: out.interactive,
    format: (done, total) => `${done}/${total} windows`,
  });
  started = performance.now();
  let result: ReturnType<typeof perplexity>;
  try {
    result = perplexity(loaded.model, ids, {
      protocol,
      seqlen,
      ...(options['max-windows'] === undefined ? {} : { maxWindows: options['max-windows'] }),
      ...(options.batch === undefined ? {} : { batch: options.batch }),
      ...(addsBos ? { bosTokenId: bos } : {}),
      onProgress: (done, total) => bar.update(done, total),
    });
  } finally {
    bar.finish();
  }
  const elapsed = performance.now() - started;
  if (out.json) {
    const json: EvalPplJson = {
      model: argument,
      text: textPath,
      ppl: result.ppl,
      mean_nll: result.meanNll,
      windows: result.windows,
      tokens: result.tokens,
      text_tokens: ids.length,
      seqlen: result.seqlen,
      protocol: result.protocol,
    };
    out.result(json);
    return;
  }
  out.table([
    ['perplexity', result.ppl.toFixed(4)],
    ['mean nll', `${result.meanNll.toFixed(6)} nats`],
    [
      'windows',
      `${formatInteger(result.windows)} of ${formatInteger(seqlen)} tokens (${formatInteger(result.tokens)} predictions)`,
    ],
    ['text', `${textPath} (${formatInteger(ids.length)} tokens)`],
    ['protocol', result.protocol],
  ]);
  const perSecond = (result.windows * seqlen) / Math.max(elapsed / 1000, 1e-9);
  out.diag(`scored in ${formatSeconds(elapsed)} (${perSecond.toFixed(0)} tokens/s, ${backend})`);
}

/** eval task: checks its options and reads the records, before any model is loaded. */
async function prepareTask(
  options: Options,
  out: Output,
): Promise<(loaded: Loaded) => Promise<void>> {
  refuseOptions(options, ['text', 'protocol', 'seqlen', 'max-windows'], 'task');
  const dataPath = options.data;
  if (dataPath === undefined) throw missingOption('data', 'file', 'the examples to evaluate');
  const metrics = parseMetrics(options.metrics);
  const stops = options.stop;
  if (stops.includes('')) throw new UsageError("option '--stop' needs a non-empty string");
  readTextFile(dataPath, '--data', out);
  const all = await readRecords(resolve(out.io.cwd, dataPath));
  if (all.length === 0) throw new SlimlmError('INVALID_FILE', `${dataPath}: no records`);
  const records = options.limit === undefined ? all : all.slice(0, options.limit);
  const maxNewTokens = options['max-new-tokens'] ?? DEFAULT_TASK_MAX_NEW_TOKENS;
  return async ({ loaded, argument, backend }) => {
    const template =
      options.template === undefined ? undefined : TEMPLATES[options.template]!(loaded.tokenizer);
    const { examples, addSpecialTokens } = taskExamples(records, dataPath, template);
    const bar = progressBar(out.io.stderr, 'generating', {
      enabled: out.interactive,
      format: (done, total) => `${done}/${total} examples`,
    });
    const started = performance.now();
    let result: TaskEvaluation;
    try {
      result = evaluateTask(loaded.model, loaded.tokenizer, examples, {
        metrics,
        maxNewTokens,
        stopStrings: stops,
        addSpecialTokens,
        ...(options.batch === undefined ? {} : { batch: options.batch }),
        onProgress: (done, total) => bar.update(done, total),
      });
    } finally {
      bar.finish();
    }
    if (out.json) {
      const json: EvalTaskJson = {
        model: argument,
        data: dataPath,
        examples: result.examples,
        scores: result.scores,
        generated_tokens: result.generatedTokens,
        max_new_tokens: maxNewTokens,
      };
      out.result(json);
      return;
    }
    out.table([
      ...metrics.map(
        (m) =>
          [
            m,
            m === 'bleu' ? result.scores.bleu!.toFixed(2) : result.scores[m]!.toFixed(4),
          ] as const,
      ),
      ['examples', `${formatInteger(result.examples)} from ${dataPath}`],
    ]);
    out.diag(
      `generated ${formatInteger(result.generatedTokens)} tokens in ${formatSeconds(performance.now() - started)} (${backend})`,
    );
  };
}

function parseMetrics(list: string | undefined): TaskMetric[] {
  if (list === undefined) return [...TASK_METRICS];
  const names = list.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(TASK_METRICS as readonly string[]).includes(name)) {
      throw new UsageError(
        `option '--metrics' names '${name}', not a task metric (metrics: ${TASK_METRICS.join(', ')})`,
      );
    }
  }
  return names as TaskMetric[];
}

/** --template's names → @slimlm/datasets' templates (chat needs the model's tokenizer). */
const TEMPLATES: Readonly<Record<string, (tokenizer: Tokenizer) => PromptTemplate>> = {
  alpaca: () => alpacaTemplate,
  chatml: () => chatmlTemplate,
  chat: (tokenizer) => chatTemplate(tokenizer),
};

/**
 * The examples of the data records: rendered by the template, or else read from each record's
 * "prompt" (a string) and "response" (a string or a list of acceptable strings). Errors name the
 * file and the record.
 */
function taskExamples(
  records: readonly DataRecord[],
  path: string,
  template: PromptTemplate | undefined,
): { examples: TaskExample[]; addSpecialTokens: boolean } {
  const examples = records.map((record, index): TaskExample => {
    const where = `${path}, record ${index + 1}`;
    if (template) {
      try {
        return template.render(record);
      } catch (error) {
        if (!(error instanceof SlimlmError)) throw error;
        throw new SlimlmError(error.code, `${where}: ${error.message}`);
      }
    }
    const { prompt, response } = record;
    if (typeof prompt !== 'string' || prompt === '') {
      throw new SlimlmError(
        'INVALID_FILE',
        `${where}: expected a non-empty string "prompt" (or give --template)`,
      );
    }
    const validResponse =
      typeof response === 'string' ||
      (Array.isArray(response) &&
        response.length > 0 &&
        response.every((r) => typeof r === 'string'));
    if (!validResponse) {
      throw new SlimlmError(
        'INVALID_FILE',
        `${where}: expected "response" as a string or a non-empty list of strings`,
      );
    }
    return { prompt, response: response as TaskExample['response'] };
  });
  return { examples, addSpecialTokens: template?.addSpecialTokens ?? true };
}

/**
 * --seqlen, or the protocol's default capped by the model's positions (with a note). An explicit
 * --seqlen past the model's positions is a usage error: positions the model never saw mean nothing.
 */
function windowLength(
  requested: number | undefined,
  fallback: number,
  maxPositions: number,
  out: Output,
): number {
  const known = Number.isFinite(maxPositions) && maxPositions > 0;
  if (requested !== undefined) {
    if (known && requested > maxPositions) {
      throw new UsageError(
        `option '--seqlen' is ${requested}, more than the model's ${maxPositions} positions`,
      );
    }
    return requested;
  }
  if (known && maxPositions < fallback) {
    out.note(
      `--seqlen ${maxPositions}: the model has ${maxPositions} positions, fewer than the default ${fallback}`,
    );
    return maxPositions;
  }
  return fallback;
}

/** The UTF-8 text of a file option, or a failure naming the path (exit 1). */
export function readTextFile(path: string, flag: string, out: Output): string {
  const file = resolve(out.io.cwd, path);
  if (!existsSync(file)) throw new SlimlmError('NOT_FOUND', `${flag}: no such file: ${path}`);
  if (statSync(file).isDirectory()) {
    throw new SlimlmError('INVALID_ARGUMENT', `${flag}: ${path} is a folder, not a text file`);
  }
  return readFileSync(file, 'utf8');
}

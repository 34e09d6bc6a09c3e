// The pieces the fine-tuning recipes share: the fixtures they read, wikillama quantized to 4 bits
// with GPTQ, WikiText-2 perplexity, evaluation of a validation set, the seed-task classification
// data, progress on stderr and the machine a run was measured on. Uses the built packages.
import '@slimlm/kernels-cpu';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setBackend } from '@slimlm/core';
import {
  alpacaTemplate,
  calibrationWindows,
  customTemplate,
  readRecords,
  splitDataset,
  tokenizeInstructions,
} from '@slimlm/datasets';
import { evaluateTask, perplexity } from '@slimlm/eval-metrics';
import { quantizeModel } from '@slimlm/gptq';
import { loadTokenizer } from '@slimlm/hub';
import { resolveModelFolder } from '@slimlm/models';
import { evaluateLoss } from '@slimlm/peft-lora';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURES = {
  /** The first 1,000 records of shared/data/alpaca/alpaca_5000.json (Stanford Alpaca, CC BY-NC 4.0). */
  alpaca: join(ROOT, 'fixtures/alpaca/alpaca-1000.json'),
  /** Alpaca's 175 self-instruct seed tasks, each labelled is_classification (CC BY-NC 4.0). */
  seedTasks: join(ROOT, 'fixtures/alpaca/seed_tasks.jsonl'),
  c4: join(ROOT, 'fixtures/c4/c4-sample.utf8'),
  wikitext: join(ROOT, 'fixtures/wikitext-2-raw/wiki.test.raw'),
};

/** The native cpu backend, or a clear failure: the recipes' timings mean nothing on the reference one. */
export async function useCpuBackend() {
  const kernels = await import('@slimlm/kernels-cpu');
  if (!kernels.available) throw new Error('@slimlm/kernels-cpu: the native addon is unavailable');
  await setBackend('cpu');
}

/** Parses the script's flags: `spec` maps a flag to its default, whose type (number or string) the value takes. */
export function flags(spec) {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.keys(spec).map((name) => [name, { type: 'string' }])),
  });
  return Object.fromEntries(
    Object.entries(spec).map(([name, fallback]) => {
      const text = values[name];
      if (text === undefined || typeof fallback === 'string') return [name, text ?? fallback];
      const value = Number(text);
      if (!Number.isFinite(value)) throw new Error(`--${name} expects a number, got '${text}'`);
      return [name, value];
    }),
  );
}

/** `q_proj,v_proj` → ['q_proj', 'v_proj']; `all-linear` stays as it is. */
export const targetModules = (text) => (text === 'all-linear' ? text : text.split(','));

/** A line of progress on stderr, stamped with the seconds since the script started. */
export function log(line) {
  process.stderr.write(`[${(performance.now() / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
}

/** Where and when the numbers were measured. */
export function machine() {
  const cores = cpus();
  return {
    date: new Date().toISOString(),
    cpu: cores[0]?.model ?? 'unknown',
    cores: cores.length,
    loadAverageAtEnd: loadavg().map((x) => Math.round(x * 10) / 10),
    node: process.version,
    backend: 'cpu (@slimlm/kernels-cpu)',
  };
}

/** Seconds since `since` (a performance.now()), to 0.1 s. */
export const secondsSince = (since) => Math.round((performance.now() - since) / 100) / 10;

/** Rounds a loss or perplexity for the report (the JSON keeps 4 decimals). */
export const round4 = (x) => Math.round(x * 1e4) / 1e4;

/**
 * wikillama quantized with GPTQ (4 bits, groups of 128, symmetric, no act-order) into `folder`, on
 * the first `nsamples` windows of `seqlen` tokens of the C4 sample: the reference protocol of
 * fixtures/gptq/gptq-reference.json.
 */
export async function quantizeWikillama(folder, { nsamples = 128, seqlen = 256 } = {}) {
  const source = await resolveModelFolder('wikillama');
  const tokenizer = await loadTokenizer(source);
  const ids = tokenizer.encode(readFileSync(FIXTURES.c4, 'utf8'));
  const started = performance.now();
  const summary = await quantizeModel(source, folder, {
    bits: 4,
    groupSize: 128,
    sym: true,
    descAct: false,
    staticGroups: false,
    dampPercent: 0.01,
    method: 'gptq',
    format: 'gptq',
    calibration: calibrationWindows(ids, nsamples, seqlen, 'first'),
    overwrite: true,
  });
  return {
    folder: summary.outFolder,
    seconds: secondsSince(started),
    modules: summary.modules.length,
    totalLoss: round4(summary.totalLoss),
    calibration: `first ${nsamples} windows of ${seqlen} tokens of fixtures/c4/c4-sample.utf8`,
  };
}

/** Token ids of the start of WikiText-2 test: enough for `windows` windows of `seqlen`. */
export function wikitextIds(tokenizer, windows, seqlen) {
  const text = readFileSync(FIXTURES.wikitext, 'utf8');
  // About 4 characters per token; cut at a line end.
  const cut = text.lastIndexOf('\n', Math.min(text.length, windows * seqlen * 6)) + 1;
  const ids = tokenizer.encode(text.slice(0, cut));
  if (ids.length < windows * seqlen) throw new Error(`only ${ids.length} WikiText-2 ids`);
  return ids;
}

/** Perplexity on the first `windows` non-overlapping windows of WikiText-2 test (GPTQ protocol). */
export function wikitextPerplexity(model, ids, { windows, seqlen }) {
  const result = perplexity(model, ids, { seqlen, maxWindows: windows, batch: 8 });
  return round4(result.ppl);
}

/** Mean loss per scored (response) token of each named set of examples, as the Trainer evaluates. */
export async function validationLosses(model, sets) {
  const losses = {};
  for (const [name, examples] of Object.entries(sets)) {
    losses[name] = round4((await evaluateLoss(model, examples, { batchSize: 8 })).loss);
  }
  return losses;
}

/** Alpaca records rendered with Alpaca's template and tokenized, the prompt masked from the loss. */
export async function alpacaExamples(tokenizer, { maxLength }) {
  const records = await readRecords(FIXTURES.alpaca);
  return {
    records,
    examples: tokenizeInstructions(tokenizer, records, alpacaTemplate, { maxLength }),
  };
}

/**
 * The second task, made from a labelled dataset through a template: is an Alpaca seed task a
 * classification task? The records' boolean `is_classification` label becomes the answer. The
 * prompt ends at "Answer:" and the label carries the space: a prompt ending in a space would
 * encode to a lone "▁" token at generation time, which training (where the space merges into
 * "▁yes") never shows the model.
 */
export const seedTaskTemplate = customTemplate(
  'Task: {instruction}\nIs this a classification task? Answer yes or no.\nAnswer:{is_classification}',
  {
    response: 'is_classification',
    labels: { is_classification: { true: ' yes', false: ' no' } },
    name: 'seed-task-classification',
  },
);

/**
 * The seed tasks split for the classification task: `heldOutPerLabel` tasks of each label held
 * out (so that always giving one answer scores 50 %), the rest to train on, seeded. Only 16 of the
 * training tasks are classifications, so they are repeated until the labels are about even
 * (oversampling): trained on the raw 10 % / 90 % split, wikillama learns to answer "no" always.
 */
export async function seedTaskSplits(seed, heldOutPerLabel = 10) {
  const records = await readRecords(FIXTURES.seedTasks);
  const [yes, no] = [true, false].map((label) =>
    splitDataset(
      records.filter((r) => r.is_classification === label),
      { validation: heldOutPerLabel, seed },
    ),
  );
  const copies = Math.max(1, Math.round(no.train.length / yes.train.length));
  return {
    train: [...no.train, ...Array.from({ length: copies }, () => yes.train).flat()],
    validation: [...yes.validation, ...no.validation],
    counts: { yes: yes.train.length, no: no.train.length, yesCopies: copies },
  };
}

/** The held-out seed tasks as questions (prompt and expected " yes" / " no"). */
export function seedTaskExamples(records) {
  return records.map((record) => seedTaskTemplate.render(record));
}

/**
 * Greedy answers to the held-out seed tasks (the first line of at most 4 new tokens), scored by
 * accuracy with evaluateTask, and how often each answer was given ({yes: 12, no: 8}).
 */
export function seedTaskAccuracy(model, tokenizer, questions) {
  const result = evaluateTask(model, tokenizer, questions, {
    metrics: ['accuracy'],
    maxNewTokens: 4,
    stopStrings: ['\n'],
    batch: 10,
  });
  const answers = {};
  for (const p of result.predictions) answers[p] = (answers[p] ?? 0) + 1;
  return { accuracy: result.scores.accuracy, answers };
}

/** The Trainer's onProgress for the recipes: every evaluation, and every tenth step. */
function logTrainerProgress(p) {
  if (p.kind === 'evaluation') log(`step ${p.step}: validation loss ${p.valLoss.toFixed(4)}`);
  else if (p.step % 10 === 0)
    log(
      `step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)} (${p.tokensPerSecond.toFixed(0)} tokens/s)`,
    );
}

/** The recipes' warm-up: the first 10 steps of the linear schedule. */
export const WARMUP_STEPS = 10;

/**
 * The Trainer options every recipe takes from its flags (--steps, --batch, --lr, --eval-steps,
 * --seed), with logTrainerProgress.
 */
export function trainerOptions(options) {
  return {
    maxSteps: options.steps,
    batchSize: options.batch,
    learningRate: options.lr,
    warmupSteps: WARMUP_STEPS,
    evalSteps: options['eval-steps'],
    seed: options.seed,
    onProgress: logTrainerProgress,
  };
}

/** Runs a recipe with a scratch folder (removed afterwards) and prints its JSON result. */
export async function runRecipe(prefix, run) {
  const work = mkdtempSync(join(tmpdir(), prefix));
  try {
    console.log(JSON.stringify(await run(work), null, 1));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

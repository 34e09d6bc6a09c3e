#!/usr/bin/env node
// Recipe: multi-task fine-tuning by mixing datasets.
//
// Task A is Alpaca (fixtures/alpaca/alpaca-1000.json, Alpaca's template, split 95/5). Task B is made
// from a labelled dataset through a template: Alpaca's 175 seed tasks, each labelled
// is_classification, become "Task: <instruction>\nIs this a classification task? Answer yes or
// no.\nAnswer:" → " yes" | " no" (10 tasks of each label held out, so that always giving one
// answer scores 50 %; the training split's few classification tasks repeated to balance the
// labels). The two training sets are interleaved by mixDatasets (seeded, weights --weight-a /
// --weight-b, every source used up at least once) and one LoRA adapter (r 8, alpha 16, all-linear
// by default) trains on the mixture of wikillama. Each task's validation loss (response tokens) and task B's
// greedy accuracy are measured before and after.
// Prints one JSON object on stdout, progress on stderr. Uses the built packages:
//   node packages/peft-lora/scripts/multi-task.mjs [--steps 150] [--batch 8] [--seqlen 128]
//        [--lr 1e-3] [--weight-a 1] [--weight-b 1] [--targets all-linear] [--seed 42]
import {
  alpacaTemplate,
  mixDatasets,
  readRecords,
  splitDataset,
  tokenizeInstructions,
} from '@slimlm/datasets';
import { loadModel } from '@slimlm/models';
import { injectLora, Trainer, trainableParameters } from '@slimlm/peft-lora';
import {
  FIXTURES,
  flags,
  log,
  machine,
  round4,
  secondsSince,
  seedTaskAccuracy,
  seedTaskExamples,
  seedTaskSplits,
  seedTaskTemplate,
  targetModules,
  trainerOptions,
  useCpuBackend,
  validationLosses,
} from './recipe-kit.mjs';

const options = flags({
  steps: 150,
  'eval-steps': 50,
  batch: 8,
  seqlen: 128,
  lr: 1e-3,
  'weight-a': 1,
  'weight-b': 1,
  targets: 'all-linear',
  seed: 42,
});
await useCpuBackend();

const loaded = await loadModel('wikillama');
const { model, tokenizer } = loaded;
const tokenize = (rows, template) =>
  tokenizeInstructions(tokenizer, rows, template, { maxLength: options.seqlen });

const alpaca = splitDataset(await readRecords(FIXTURES.alpaca), {
  validation: 0.05,
  seed: options.seed,
});
const seedTasks = await seedTaskSplits(options.seed);
const tasks = {
  alpaca: {
    train: tokenize(alpaca.train, alpacaTemplate),
    validation: tokenize(alpaca.validation, alpacaTemplate),
  },
  'seed-task classification': {
    train: tokenize(seedTasks.train, seedTaskTemplate),
    validation: tokenize(seedTasks.validation, seedTaskTemplate),
  },
};
const heldOutQuestions = seedTaskExamples(seedTasks.validation);

// Which task each mixed example came from, to report the mixture.
const origin = new Map();
for (const [name, task] of Object.entries(tasks)) for (const e of task.train) origin.set(e, name);
const mixture = mixDatasets(
  [
    { items: tasks.alpaca.train, weight: options['weight-a'] },
    { items: tasks['seed-task classification'].train, weight: options['weight-b'] },
  ],
  { seed: options.seed, stop: 'all-exhausted' },
);
const composition = {};
for (const e of mixture) composition[origin.get(e)] = (composition[origin.get(e)] ?? 0) + 1;
log(`mixture of ${mixture.length} examples: ${JSON.stringify(composition)}`);

const measure = async (label) => {
  const started = performance.now();
  const losses = await validationLosses(
    model,
    Object.fromEntries(Object.entries(tasks).map(([name, task]) => [name, task.validation])),
  );
  const { accuracy, answers } = seedTaskAccuracy(model, tokenizer, heldOutQuestions);
  const result = { validationLoss: losses, seedTaskAccuracy: accuracy, seedTaskAnswers: answers };
  log(`${label}: ${JSON.stringify(result)} (${secondsSince(started)} s)`);
  return result;
};

const before = await measure('before');
const targets = targetModules(options.targets);
injectLora(
  model,
  { r: 8, loraAlpha: 16, loraDropout: 0.05, targetModules: targets },
  { seed: options.seed },
);
const started = performance.now();
const result = await new Trainer(model, trainableParameters(model), trainerOptions(options)).train({
  train: mixture,
  validation: Object.values(tasks).flatMap((task) => task.validation),
});
const trainSeconds = secondsSince(started);
const after = await measure('after');
loaded.dispose();

console.log(
  JSON.stringify(
    {
      recipe: 'multi-task mixing: Alpaca + a labelled dataset through a template',
      command:
        `node packages/peft-lora/scripts/multi-task.mjs ${process.argv.slice(2).join(' ')}`.trim(),
      machine: machine(),
      base: 'wikillama (f16 weights)',
      data: {
        alpaca: `${alpaca.train.length}/${alpaca.validation.length} records → ${tasks.alpaca.train.length}/${tasks.alpaca.validation.length} examples (≤ ${options.seqlen} tokens)`,
        seedTasks: `${seedTasks.counts.yes} yes × ${seedTasks.counts.yesCopies} + ${seedTasks.counts.no} no = ${seedTasks.train.length} train / ${seedTasks.validation.length} held out (10 per label)`,
        mixing: `mixDatasets weights ${options['weight-a']}:${options['weight-b']}, all-exhausted, seed ${options.seed}`,
        mixture: { examples: mixture.length, ...composition },
      },
      lora: { r: 8, alpha: 16, dropout: 0.05, targetModules: targets },
      training: {
        steps: result.steps,
        batchSize: options.batch,
        learningRate: options.lr,
        epochsOfMixture: round4(result.epochs),
        trainTokens: result.trainTokens,
        tokensPerSecond: Math.round(result.tokensPerSecond * 10) / 10,
        seconds: trainSeconds,
        combinedValidationLoss: result.evaluations.map((e) => ({
          step: e.step,
          loss: round4(e.loss),
        })),
      },
      before,
      after,
    },
    null,
    1,
  ),
);

#!/usr/bin/env node
import { join } from 'node:path';
import {
  alpacaTemplate,
  readRecords,
  splitDataset,
  stagedDatasets,
  tokenizeInstructions,
} from '@slimlm/datasets';
import { forgettingReport } from '@slimlm/eval-metrics';
import { loadModel } from '@slimlm/models';
import {
  injectLora,
  loadAdapter,
  saveAdapter,
  Trainer,
  trainableParameters,
} from '@slimlm/peft-lora';
import {
  FIXTURES,
  flags,
  log,
  machine,
  round4,
  runRecipe,
  secondsSince,
  seedTaskAccuracy,
  seedTaskExamples,
  seedTaskSplits,
  seedTaskTemplate,
  targetModules,
  trainerOptions,
  useCpuBackend,
  validationLosses,
  WARMUP_STEPS,
  wikitextIds,
  wikitextPerplexity,
} from './recipe-kit.mjs';

const options = flags({
  'steps-1': 100,
  'steps-2': 100,
  replay: '0,0.5',
  batch: 8,
  seqlen: 128,
  lr: 1e-3,
  'ppl-windows': 32,
  targets: 'all-linear',
  seed: 42,
});
const LORA = {
  r: 8,
  loraAlpha: 16,
  loraDropout: 0.05,
  targetModules: targetModules(options.targets),
};
const PPL = { windows: options['ppl-windows'], seqlen: 256 };
const WIKITEXT = `wikitext-2 test (${PPL.windows}×${PPL.seqlen})`;
await useCpuBackend();
await runRecipe('slimlm-recipe-seq-', run);

/** The recipe, with `work` its scratch folder. */
async function run(work) {
  const first = await loadModel('wikillama');
  const { tokenizer } = first;
  const tokenize = (rows, template) =>
    tokenizeInstructions(tokenizer, rows, template, { maxLength: options.seqlen });
  const alpaca = splitDataset(await readRecords(FIXTURES.alpaca), {
    validation: 0.05,
    seed: options.seed,
  });
  const seedTasks = await seedTaskSplits(options.seed);
  const stages = [
    {
      name: 'alpaca',
      train: tokenize(alpaca.train, alpacaTemplate),
      validation: tokenize(alpaca.validation, alpacaTemplate),
    },
    {
      name: 'seed-task classification',
      train: tokenize(seedTasks.train, seedTaskTemplate),
      validation: tokenize(seedTasks.validation, seedTaskTemplate),
    },
  ];
  const questions = seedTaskExamples(seedTasks.validation);
  const wikiIds = wikitextIds(tokenizer, PPL.windows, PPL.seqlen);

  /** What forgettingReport compares: perplexities (lower is better) and the task score. */
  const measure = async (model, label) => {
    const started = performance.now();
    const losses = await validationLosses(
      model,
      Object.fromEntries(stages.map((s) => [s.name, s.validation])),
    );
    const seedTask = seedTaskAccuracy(model, tokenizer, questions);
    const snapshot = {
      perplexity: {
        [WIKITEXT]: wikitextPerplexity(model, wikiIds, PPL),
        'alpaca validation (response tokens)': round4(Math.exp(losses.alpaca)),
      },
      task: { accuracy: seedTask.accuracy },
      seedTaskAnswers: seedTask.answers,
      validationLoss: losses,
    };
    log(`${label}: ${JSON.stringify(snapshot)} (${secondsSince(started)} s)`);
    return snapshot;
  };
  const train = async (model, stage, steps) => {
    const started = performance.now();
    const result = await new Trainer(model, trainableParameters(model), {
      ...trainerOptions(options),
      maxSteps: steps,
      onProgress: (p) => {
        if (p.kind === 'step' && p.step % 10 === 0)
          log(
            `${stage.name}: step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)} (${p.tokensPerSecond.toFixed(0)} tokens/s)`,
          );
      },
    }).train({ train: stage.train, validation: stage.evaluateOn.at(-1).items });
    return {
      stage: stage.name,
      examples: stage.train.length,
      replayed: stage.replayed,
      steps: result.steps,
      valLossBefore: round4(result.valLossBefore),
      valLossAfter: round4(result.valLossAfter),
      tokensPerSecond: Math.round(result.tokensPerSecond * 10) / 10,
      seconds: secondsSince(started),
    };
  };

  // Stage 1, shared by every variant of stage 2.
  const before = await measure(first.model, 'base');
  const stage1 = stagedDatasets(stages, { seed: options.seed })[0];
  injectLora(first.model, LORA, { seed: options.seed });
  const stage1Training = await train(first.model, stage1, options['steps-1']);
  const afterStage1 = await measure(first.model, 'after stage 1');
  const adapterDir = join(work, 'adapter-stage-1');
  saveAdapter(first.model, adapterDir, { baseModelNameOrPath: 'wikillama' });
  first.dispose();

  const variants = [];
  for (const replay of String(options.replay).split(',').map(Number)) {
    const plan = stagedDatasets(stages, { replay, seed: options.seed })[1];
    const loaded = await loadModel('wikillama');
    loadAdapter(loaded.model, adapterDir, { trainable: true });
    const training = await train(loaded.model, plan, options['steps-2']);
    const afterStage2 = await measure(loaded.model, `after stage 2 (replay ${replay})`);
    loaded.dispose();
    const report = (a, b) => {
      const r = forgettingReport(a, b);
      return {
        rows: r.rows.map(roundRow),
        forgetting: r.forgetting,
        learned: r.learned,
        summary: r.summary,
      };
    };
    variants.push({
      replay,
      stage2Training: training,
      afterStage2,
      forgetting: {
        'stage 1 → stage 2': report(afterStage1, afterStage2),
        'base → stage 2': report(before, afterStage2),
      },
    });
  }
  return {
    recipe:
      'sequential fine-tuning (Alpaca, then seed-task classification) with a forgetting report',
    command:
      `node packages/peft-lora/scripts/sequential.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machine(),
    base: 'wikillama (f16 weights)',
    lora: LORA,
    settings: {
      batchSize: options.batch,
      learningRate: options.lr,
      maxLength: options.seqlen,
      warmupSteps: WARMUP_STEPS,
    },
    before,
    stage1: {
      training: stage1Training,
      after: afterStage1,
      forgetting: forgettingReport(before, afterStage1).summary,
    },
    stage2: variants,
  };
}

function roundRow(row) {
  return {
    ...row,
    before: round4(row.before),
    after: round4(row.after),
    change: round4(row.change),
    relativeChange: round4(row.relativeChange),
  };
}

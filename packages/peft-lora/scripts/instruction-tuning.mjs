#!/usr/bin/env node
// Recipe: instruction tuning with a response-only loss, LoRA on a 4-bit GPTQ base (QLoRA-style).
//
//   1. wikillama is quantized with GPTQ (4 bits, group 128, C4 calibration: the reference protocol);
//   2. Alpaca (fixtures/alpaca/alpaca-1000.json) is rendered with Alpaca's template, tokenized with
//      the prompt masked from the loss, and split 95/5 (seeded);
//   3. LoRA (r 8, alpha 16, dropout 0.05, q_proj,v_proj by default) trains on the packed model; the
//      validation loss is measured before, every --eval-steps and after;
//   4. the adapter is saved in PEFT's format and loaded back onto a fresh GPTQ model: its matrices,
//      the logits and the re-saved files must be bit-identical;
//   5. the adapter is merged into the dequantized base (a floating-point model) and greedy
//      generation with the adapter is compared with generation from the merged model.
// Prints one JSON object on stdout, progress on stderr. Uses the built packages:
//   node packages/peft-lora/scripts/instruction-tuning.mjs [--steps 200] [--eval-steps 50]
//        [--batch 8] [--seqlen 128] [--lr 1e-3] [--r 8] [--alpha 16] [--targets q_proj,v_proj]
//        [--seed 42] [--calib-windows 128]
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { scope, tensor } from '@slimlm/core';
import { alpacaTemplate, readRecords, splitDataset, tokenizeInstructions } from '@slimlm/datasets';
import { generate, loadModel, modelFromFolder } from '@slimlm/models';
import {
  injectLora,
  loadAdapter,
  saveAdapter,
  saveMergedModel,
  Trainer,
  trainableParameters,
} from '@slimlm/peft-lora';
import {
  FIXTURES,
  flags,
  log,
  machine,
  quantizeWikillama,
  round4,
  runRecipe,
  secondsSince,
  targetModules,
  trainerOptions,
  useCpuBackend,
  WARMUP_STEPS,
} from './recipe-kit.mjs';

const options = flags({
  steps: 200,
  'eval-steps': 50,
  batch: 8,
  seqlen: 128,
  lr: 1e-3,
  r: 8,
  alpha: 16,
  targets: 'q_proj,v_proj',
  seed: 42,
  'calib-windows': 128,
});
await useCpuBackend();
await runRecipe('slimlm-recipe-it-', run);

/** The recipe, with `work` its scratch folder. */
async function run(work) {
  log('quantizing wikillama with GPTQ (4-bit, group 128, C4 calibration)');
  const quantized = await quantizeWikillama(join(work, 'wikillama-gptq-4bit'), {
    nsamples: options['calib-windows'],
  });
  log(`quantized ${quantized.modules} linears in ${quantized.seconds} s`);

  const loaded = await loadModel(quantized.folder);
  const { model, tokenizer } = loaded;
  const records = await readRecords(FIXTURES.alpaca);
  const split = splitDataset(records, { validation: 0.05, seed: options.seed });
  const tokenize = (rows) =>
    tokenizeInstructions(tokenizer, rows, alpacaTemplate, { maxLength: options.seqlen });
  const train = tokenize(split.train);
  const validation = tokenize(split.validation);
  log(`${train.length} training and ${validation.length} validation examples`);

  // Held-out instructions as prompt ids; the first two are answered before and after training.
  const prompts = split.validation
    .slice(0, 8)
    .map((r) => tokenizer.encode(alpacaTemplate.render(r).prompt));
  const samples = split.validation.slice(0, 2);
  const answer = (m) =>
    greedy(m, prompts.slice(0, 2), 40).map((ids) =>
      tokenizer.decode(ids, { skipSpecialTokens: true }).trim(),
    );
  const answersBefore = answer(model);

  const targets = targetModules(options.targets);
  injectLora(
    model,
    { r: options.r, loraAlpha: options.alpha, loraDropout: 0.05, targetModules: targets },
    { seed: options.seed },
  );
  const parameters = trainableParameters(model);
  const trainableCount = [...parameters.values()].reduce((n, t) => n + t.size, 0);
  const started = performance.now();
  const result = await new Trainer(model, parameters, trainerOptions(options)).train({
    train,
    validation,
  });
  const trainSeconds = secondsSince(started);
  const answersAfter = answer(model);

  // The adapter, saved and loaded back onto a fresh copy of the 4-bit model.
  const adapterDir = join(work, 'adapter');
  saveAdapter(model, adapterDir, { baseModelNameOrPath: 'wikillama (GPTQ 4-bit g128)' });
  const reloaded = modelFromFolder(quantized.folder);
  loadAdapter(reloaded, adapterDir);
  const roundTrip = compareAdapters(model, reloaded, validation[0].inputIds, adapterDir);
  log(`adapter round trip: ${JSON.stringify(roundTrip)}`);

  // Greedy generation with the adapter (on the packed base) against the merged fp model.
  const withAdapter = greedy(reloaded, prompts, 32);
  const adapterLogits = logits(reloaded, prompts[0]);
  const mergedDir = join(work, 'merged-fp');
  await saveMergedModel(reloaded, mergedDir);
  reloaded.dispose();
  const merged = modelFromFolder(mergedDir);
  const fromMerged = greedy(merged, prompts, 32);
  const mergedLogitsDiff = maxAbsDiff(logits(merged, prompts[0]), adapterLogits);
  merged.dispose();
  const sameGenerations = withAdapter.filter((t, i) => t.join() === fromMerged[i].join()).length;

  loaded.dispose();
  return {
    recipe: 'instruction tuning, response-only loss, LoRA on a 4-bit GPTQ base',
    command:
      `node packages/peft-lora/scripts/instruction-tuning.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machine(),
    base: {
      model: 'wikillama',
      quantization: {
        method: 'gptq',
        bits: 4,
        groupSize: 128,
        sym: true,
        ...quantized,
        folder: undefined,
      },
    },
    data: {
      file: 'fixtures/alpaca/alpaca-1000.json',
      template: 'alpaca',
      split: `${split.train.length}/${split.validation.length} records (seed ${options.seed})`,
      trainExamples: train.length,
      validationExamples: validation.length,
      maxLength: options.seqlen,
    },
    lora: {
      r: options.r,
      alpha: options.alpha,
      dropout: 0.05,
      targetModules: targets,
      trainableParameters: trainableCount,
    },
    training: {
      steps: result.steps,
      batchSize: options.batch,
      learningRate: options.lr,
      warmupSteps: WARMUP_STEPS,
      schedule: 'linear',
      trainTokens: result.trainTokens,
      tokensPerSecond: Math.round(result.tokensPerSecond * 10) / 10,
      seconds: trainSeconds,
    },
    validationLoss: {
      before: round4(result.valLossBefore),
      evaluations: result.evaluations.map((e) => ({ step: e.step, loss: round4(e.loss) })),
      after: round4(result.valLossAfter),
      best: { step: result.best.step, loss: round4(result.best.loss) },
    },
    samples: samples.map((record, i) => ({
      instruction: record.instruction,
      input: record.input,
      reference: record.output,
      before: answersBefore[i],
      after: answersAfter[i],
    })),
    adapterRoundTrip: roundTrip,
    adapterVersusMerged: {
      merged: 'dequantized base + scaling·B·A in f32 (saveMergedModel, no requantization)',
      prompts: prompts.length,
      maxNewTokens: 32,
      identicalGreedyGenerations: sameGenerations,
      maxLogitDifference: mergedLogitsDiff,
    },
  };
}

/** Bit-exact comparison of a trained adapter and the same adapter loaded back from its folder. */
function compareAdapters(trained, reloaded, inputIds, adapterDir) {
  const a = trainableParameters(trained);
  const b = trainableParameters(reloaded);
  let differentTensors = 0;
  for (const [name, t] of a) {
    const u = b.get(name);
    if (!u || !sameBits(t.rawSync(), u.rawSync())) differentTensors++;
  }
  const again = join(dirname(adapterDir), 'adapter-again');
  saveAdapter(reloaded, again, { baseModelNameOrPath: 'wikillama (GPTQ 4-bit g128)' });
  const sameFiles = readdirSync(adapterDir).every((file) =>
    readFileSync(join(adapterDir, file)).equals(readFileSync(join(again, file))),
  );
  return {
    tensors: a.size,
    tensorsMissingOrDifferent: differentTensors + [...b.keys()].filter((k) => !a.has(k)).length,
    maxLogitDifference: maxAbsDiff(logits(trained, inputIds), logits(reloaded, inputIds)),
    resavedFilesIdentical: sameFiles,
  };
}

/** Greedy continuations (new token ids) of each prompt, one at a time. */
function greedy(model, prompts, maxNewTokens) {
  return prompts.map((ids) => generate(model, [ids], { maxNewTokens, temperature: 0 }).tokens[0]);
}

function sameBits(x, y) {
  const bx = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const by = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
  return bx.length === by.length && bx.every((v, i) => v === by[i]);
}

function logits(model, ids) {
  return scope(() =>
    model
      .forward(tensor(ids, { dtype: 'i32', shape: [1, ids.length] }))
      .dataSync()
      .slice(),
  );
}

function maxAbsDiff(a, b) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

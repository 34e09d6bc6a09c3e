#!/usr/bin/env node
/**
 * Catastrophic forgetting, measured: wikillama is fine-tuned with LoRA on a narrow task, and its
 * WikiText-2 perplexity and task scores are measured before and after with @slimlm/eval-metrics.
 *
 *   node packages/eval-metrics/scripts/forgetting.mjs [--steps 120] [--lr 2e-3] [--json out.json]
 *
 * The task, from real Alpaca instructions (shared/data/alpaca/alpaca_5000.json, CC BY-NC 4.0):
 * "Instruction: <instruction>\nFirst word:" → the instruction's first word. 400 instructions train,
 * 100 others are held out. Needs @slimlm/peft-lora built (LoRA and its Trainer).
 */
import '@slimlm/kernels-cpu';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { evaluateTask, forgettingReport, forgettingTable, perplexity } from '@slimlm/eval-metrics';
import { loadModel } from '@slimlm/models';
import { injectLora, Trainer, trainableParameters } from '@slimlm/peft-lora';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '120' },
    lr: { type: 'string', default: '2e-3' },
    json: { type: 'string' },
  },
});
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ALPACA = `${ROOT}../shared/data/alpaca/alpaca_5000.json`;

const loaded = await loadModel('wikillama');
const { model, tokenizer } = loaded;

// The task: instructions whose first word is plain letters, in file order.
const records = JSON.parse(readFileSync(ALPACA, 'utf8'))
  .map((r) => r.instruction.trim())
  .filter((text) => /^[A-Za-z]+\s/.test(text) && text.length < 200);
const examples = records.slice(0, 500).map((instruction) => ({
  prompt: `Instruction: ${instruction}\nFirst word:`,
  response: instruction.split(/\s/)[0],
}));
const train = examples.slice(0, 400);
const heldOut = examples.slice(400);

/** Prompt ids (BOS first) + answer ids + EOS; only the answer and EOS are scored. */
function tokenized({ prompt, response }) {
  const promptIds = tokenizer.encode(prompt);
  const full = tokenizer.encode(`${prompt} ${response}`);
  if (!promptIds.every((id, i) => full[i] === id)) throw new Error(`prompt ids differ: ${prompt}`);
  const inputIds = [...full, tokenizer.eosTokenIds[0]];
  const labels = inputIds.map((id, i) => (i < promptIds.length ? -100 : id));
  return { inputIds, labels };
}

// General text: the first 32 windows of 256 of WikiText-2 test (gptq-non-overlapping).
const wiki = readFileSync(`${ROOT}fixtures/wikitext-2-raw/wiki.test.raw`, 'utf8');
const wikiIds = tokenizer.encode(wiki.slice(0, wiki.lastIndexOf('\n', 6 * 33 * 256) + 1));
const measure = (label) => {
  const started = performance.now();
  const ppl = perplexity(model, wikiIds, { seqlen: 256, maxWindows: 32, batch: 8 });
  const task = evaluateTask(model, tokenizer, heldOut, {
    metrics: ['exactMatch', 'tokenF1', 'rougeL'],
    maxNewTokens: 4,
    stopStrings: ['\n'],
    batch: 10,
  });
  console.error(
    `${label}: wikitext-2 ppl ${ppl.ppl.toFixed(3)}, task ${JSON.stringify(task.scores)}, e.g. ${JSON.stringify(task.predictions.slice(0, 3))} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
  return { perplexity: { 'wikitext-2 (32×256)': ppl }, task: task.scores };
};

const before = measure('before');
injectLora(model, { r: 16, loraAlpha: 32, targetModules: 'all-linear' }, { seed: 0 });
const trainer = new Trainer(model, trainableParameters(model), {
  maxSteps: Number(values.steps),
  batchSize: 8,
  learningRate: Number(values.lr),
  warmupSteps: 10,
  seed: 0,
  onProgress: (p) => {
    if (p.kind === 'step' && (p.step % 20 === 0 || p.step === p.totalSteps)) {
      console.error(
        `step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(2)}`,
      );
    }
  },
});
const started = performance.now();
await trainer.train({ train: train.map(tokenized) });
console.error(`trained in ${((performance.now() - started) / 1000).toFixed(1)} s`);
const after = measure('after');

const report = forgettingReport(before, after);
console.log(forgettingTable(report));
console.log(`\n${report.summary}`);
if (values.json) {
  writeFileSync(
    values.json,
    `${JSON.stringify({ steps: Number(values.steps), lr: Number(values.lr), report }, null, 1)}\n`,
  );
}
loaded.dispose();

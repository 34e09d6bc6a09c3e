#!/usr/bin/env node
// Held-out WikiText-2 perplexity of a model, by the protocol of fixtures/wikillama-7m-reference.json:
// ids = [1] + encode(whole wiki.test.raw); n = floor(len / 256) windows of 256 ids, each run from
// position 0; ppl = exp(mean over windows of the mean next-token NLL). Uses the built packages:
//   npx nx run models:build && node packages/models/scripts/heldout-ppl.mjs [model] [--windows N]
// The model defaults to the built-in 'wikillama' (reference: 107.285 over 1601 windows).
// It also reports whether encoding a prefix of the file cut at a line boundary (what the tests
// do) gives the same leading ids as the whole-file encoding.
import '@slimlm/kernels-cpu';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crossEntropy, narrow, scope, tensor } from '@slimlm/core';
import { loadModel } from '@slimlm/models';

const args = process.argv.slice(2);
const windowsFlag = args.indexOf('--windows');
const maxWindows = windowsFlag >= 0 ? Number(args.splice(windowsFlag, 2)[1]) : Infinity;
const modelName = args[0] ?? 'wikillama';
const WINDOW = 256;
const BATCH = 8;

const file = fileURLToPath(
  new URL('../../../fixtures/wikitext-2-raw/wiki.test.raw', import.meta.url),
);
const text = readFileSync(file, 'utf8');
const loaded = await loadModel(modelName);
const { model, tokenizer } = loaded;

let started = performance.now();
const ids = [1, ...tokenizer.encode(text, { addSpecialTokens: false })];
console.log(
  `encoded ${text.length} characters into ${ids.length} ids (BOS included) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);

const prefixIds = 64 * WINDOW;
const cut = text.lastIndexOf('\n', 6 * prefixIds) + 1;
const prefix = [1, ...tokenizer.encode(text.slice(0, cut), { addSpecialTokens: false })];
const agree =
  prefix.length >= prefixIds && prefix.slice(0, prefixIds).every((id, i) => id === ids[i]);
console.log(
  `prefix encoding (first ${cut} characters) agrees on the first ${prefixIds} ids: ${agree}`,
);

const count = Math.min(Math.floor(ids.length / WINDOW), maxWindows);
started = performance.now();
let total = 0;
for (let start = 0; start < count; start += BATCH) {
  const rows = Math.min(BATCH, count - start);
  const batch = ids.slice(start * WINDOW, (start + rows) * WINDOW);
  total += scope(() => {
    const logits = model.forward(tensor(batch, { dtype: 'i32', shape: [rows, WINDOW] }));
    const input = tensor(batch, { dtype: 'i32', shape: [rows, WINDOW] });
    const targets = narrow(input, 1, 1, WINDOW - 1);
    const predicted = narrow(logits, 1, 0, WINDOW - 1);
    // Sum of per-window means = sum of all NLLs / 255.
    return crossEntropy(predicted, targets, { reduction: 'sum' }).item() / (WINDOW - 1);
  });
  if ((start / BATCH) % 20 === 0) process.stdout.write(`\r${start + rows}/${count} windows`);
}
const meanNll = total / count;
console.log(
  `\r${count} windows in ${((performance.now() - started) / 1000).toFixed(1)} s: mean NLL ${meanNll.toFixed(6)} nats, perplexity ${Math.exp(meanNll).toFixed(3)}`,
);
loaded.dispose();

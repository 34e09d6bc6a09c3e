#!/usr/bin/env node
// Decode speed of a model with the native cpu backend: greedy tokens per second after one prefill,
// with weights held as stored (f16 for wikillama) and converted to f32. Median of --repeat runs.
//   node bench/decode.mjs [model] [--new-tokens 64] [--repeat 7] [--json]
import '@slimlm/kernels-cpu';
import { parseArgs } from 'node:util';
import { generate, loadModel } from '@slimlm/models';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'new-tokens': { type: 'string', default: '64' },
    repeat: { type: 'string', default: '7' },
    json: { type: 'boolean', default: false },
  },
});
const model = positionals[0] ?? 'wikillama';
const newTokens = Number(values['new-tokens']);
const repeat = Number(values.repeat);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const records = [];
for (const weightsDType of ['stored', 'f32']) {
  const loaded = await loadModel(model, { weightsDType });
  const prompt = loaded.tokenizer.encode('The river flows through');
  const options = { maxNewTokens: newTokens, stopTokenIds: [] };
  generate(loaded.model, [prompt], options); // warm-up
  const seconds = [];
  for (let i = 0; i < repeat; i++) {
    const started = performance.now();
    generate(loaded.model, [prompt], options);
    seconds.push((performance.now() - started) / 1000);
  }
  const weightBytes = [...loaded.model.namedParameters()].reduce(
    (sum, [, t]) => sum + t.size * (t.dtype === 'f32' ? 4 : 2),
    0,
  );
  records.push({
    model,
    weights: weightsDType === 'stored' ? 'stored (f16)' : 'f32',
    weight_mib: +(weightBytes / 2 ** 20).toFixed(1),
    prompt_tokens: prompt.length,
    new_tokens: newTokens,
    tokens_per_s_median: +(newTokens / median(seconds)).toFixed(1),
    tokens_per_s_min: +(newTokens / Math.max(...seconds)).toFixed(1),
    tokens_per_s_max: +(newTokens / Math.min(...seconds)).toFixed(1),
  });
  loaded.dispose();
}
if (values.json) console.log(JSON.stringify(records));
else console.table(records);

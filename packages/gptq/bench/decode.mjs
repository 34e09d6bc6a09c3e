#!/usr/bin/env node
// Decode speed of a 4-bit GPTQ-format model against its f16 original on the native cpu backend:
// the model is quantized once with RTN (same packed format and kernels as GPTQ, in a second) into a
// temporary folder, then both decode greedily from the same prompt. Median of --repeat runs.
//   node bench/decode.mjs [model] [--bits 4] [--group-size 128] [--new-tokens 64] [--repeat 7] [--json]
import '@slimlm/kernels-cpu';
import '@slimlm/gptq';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { quantizeModel } from '@slimlm/gptq';
import { generate, loadModel, resolveModelFolder } from '@slimlm/models';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    bits: { type: 'string', default: '4' },
    'group-size': { type: 'string', default: '128' },
    'new-tokens': { type: 'string', default: '64' },
    repeat: { type: 'string', default: '7' },
    json: { type: 'boolean', default: false },
  },
});
const name = positionals[0] ?? 'wikillama';
const bits = Number(values.bits);
const groupSize = Number(values['group-size']);
const newTokens = Number(values['new-tokens']);
const repeat = Number(values.repeat);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const folder = await resolveModelFolder(name);
const scratch = mkdtempSync(join(tmpdir(), 'slimlm-decode-'));
const quantized = join(scratch, `${bits}bit`);
try {
  await quantizeModel(folder, quantized, {
    bits,
    groupSize,
    sym: false,
    descAct: false,
    staticGroups: false,
    dampPercent: 0.01,
    method: 'rtn',
    format: 'gptq',
    calibration: [],
  });
  const records = [];
  for (const [label, path] of [
    ['original (weights as stored)', folder],
    [`gptq ${bits}-bit g${groupSize}`, quantized],
  ]) {
    const loaded = await loadModel(path);
    const prompt = loaded.tokenizer.encode('The river flows through');
    const options = { maxNewTokens: newTokens, stopTokenIds: [] };
    generate(loaded.model, [prompt], options); // warm-up
    const seconds = [];
    for (let i = 0; i < repeat; i++) {
      const started = performance.now();
      generate(loaded.model, [prompt], options);
      seconds.push((performance.now() - started) / 1000);
    }
    const bytes = [...loaded.model.namedParameters()].reduce((sum, [, t]) => {
      const size = t.dtype === 'f32' || t.dtype === 'i32' ? 4 : t.dtype === 'f64' ? 8 : 2;
      return sum + t.size * size;
    }, 0);
    records.push({
      model: name,
      weights: label,
      weight_mib: +(bytes / 2 ** 20).toFixed(1),
      new_tokens: newTokens,
      tokens_per_s_median: +(newTokens / median(seconds)).toFixed(1),
      tokens_per_s_min: +(newTokens / Math.max(...seconds)).toFixed(1),
      tokens_per_s_max: +(newTokens / Math.min(...seconds)).toFixed(1),
    });
    loaded.dispose();
  }
  if (values.json) console.log(JSON.stringify(records));
  else console.table(records);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

#!/usr/bin/env node
// Quantizes a model with each setting of fixtures/gptq/gptq-reference.json (GPTQ and RTN) by the
// reference's protocol P and compares held-out perplexity with the reference's figures:
//   calibration: fixtures/c4/c4-sample.utf8 encoded whole once (BOS once, at the start), window i =
//     ids[i*seqlen, (i+1)*seqlen) for i < nsamples;
//   evaluation: fixtures/wikitext-2-raw/wiki.test.raw encoded whole once, floor(len / seqlen)
//     non-overlapping windows, NLL of tokens 1..seqlen-1 of each, ppl = exp(total / predictions).
// Each (setting, method) runs in a child process so its quantization time and peak RSS are its own.
// Uses the built packages (npx nx run gptq:build, or cd packages/gptq && npx tsup):
//   node packages/gptq/scripts/reference-ppl.mjs [model] [--settings a,b] [--methods gptq,rtn,fp]
//        [--max-windows N] [--int8]
// model: a built-in name, a folder (default 'wikillama'). 'fp' evaluates the unquantized model.
// --int8 also evaluates each quantized model with int8 activations (setQuantActivations): its
// perplexity cost over f32 activations on the same checkpoint.
import '@slimlm/kernels-cpu';
import '@slimlm/gptq';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crossEntropy, narrow, scope, tensor } from '@slimlm/core';
import { calibrationWindows } from '@slimlm/datasets';
import { quantizeModel, setQuantActivations } from '@slimlm/gptq';
import { loadTokenizer } from '@slimlm/hub';
import { modelFromFolder, resolveModelFolder } from '@slimlm/models';

const fixture = (path) => fileURLToPath(new URL(`../../../fixtures/${path}`, import.meta.url));
const script = fileURLToPath(import.meta.url);

if (process.argv[2] === '--child') {
  const job = JSON.parse(readFileSync(process.argv[3], 'utf8'));
  const result = await runJob(job);
  process.stdout.write(`\n${JSON.stringify(result)}\n`);
  process.exit(0);
}

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args.splice(at, 2)[1] : fallback;
};
const maxWindows = Number(flag('--max-windows', 'Infinity'));
const int8 = args.includes('--int8') && args.splice(args.indexOf('--int8'), 1).length > 0;
const wantedSettings = flag('--settings', undefined)?.split(',');
const methods = flag('--methods', 'gptq,rtn').split(',');
const modelName = args[0] ?? 'wikillama';

const reference = JSON.parse(readFileSync(fixture('gptq/gptq-reference.json'), 'utf8'));
const folder = await resolveModelFolder(modelName);
const key = Object.keys(reference.models).find((k) => k.startsWith(basename(folder)));
if (!key) throw new Error(`gptq-reference.json has no figures for ${basename(folder)}`);
const ref = reference.models[key];
const settings = ref.settings.filter((s) => !wantedSettings || wantedSettings.includes(s.name));
if (wantedSettings && settings.length !== wantedSettings.length) {
  throw new Error(
    `unknown setting in ${wantedSettings}; known: ${ref.settings.map((s) => s.name)}`,
  );
}

const tokenizer = await loadTokenizer(folder);
const encode = (name, path, expected) => {
  const started = performance.now();
  const ids = tokenizer.encode(readFileSync(path, 'utf8'));
  const agrees = ids.length === expected.n_tokens && expected.first.every((id, i) => ids[i] === id);
  console.error(
    `${name}: ${ids.length} ids in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
      `reference ${expected.n_tokens}: ${agrees ? 'same' : 'DIFFERENT'}`,
  );
  return ids;
};
const c4 = encode('c4', fixture('c4/c4-sample.utf8'), ref.tokens.c4);
const wiki = encode('wikitext', fixture('wikitext-2-raw/wiki.test.raw'), ref.tokens.wikitext);
const work = mkdtempSync(join(tmpdir(), 'slimlm-reference-ppl-'));
writeFileSync(join(work, 'c4.json'), JSON.stringify(c4));
writeFileSync(join(work, 'wiki.json'), JSON.stringify(wiki));

const rows = [];
try {
  const jobs = [];
  if (methods.includes('fp')) jobs.push({ method: 'fp', setting: { name: 'fp32' } });
  for (const setting of settings) {
    for (const method of methods.filter((m) => m !== 'fp')) jobs.push({ method, setting });
  }
  for (const { method, setting } of jobs) {
    const jobFile = join(work, 'job.json');
    writeFileSync(
      jobFile,
      JSON.stringify({
        folder,
        work,
        method,
        setting,
        seqlen: ref.seqlen,
        nsamples: ref.nsamples,
        groupMap: ref.group_map,
        maxWindows,
        int8: int8 && method !== 'fp',
      }),
    );
    const child = spawnSync(process.execPath, [script, '--child', jobFile], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 26,
    });
    if (child.status !== 0)
      throw new Error(`${setting.name} ${method} failed (exit ${child.status})`);
    const result = JSON.parse(child.stdout.trim().split('\n').at(-1));
    const figures = method === 'fp' ? ref.fp32 : setting[method];
    const row = {
      setting: setting.name,
      method,
      ppl: result.ppl,
      reference_ppl: figures.ppl,
      rel_diff: result.ppl / figures.ppl - 1,
      windows: result.windows,
      quant_seconds: result.quantSeconds,
      quant_blocks_seconds: result.blockSeconds,
      reference_quant_seconds: figures.quant_time_s ?? null,
      peak_rss_mb: result.peakRssMb,
      ...(method === 'gptq'
        ? {
            loss_total: result.lossTotal,
            reference_loss_total: figures.loss_total,
            loss_rel_diff: result.lossTotal / figures.loss_total - 1,
            skipped_modules: result.skipped,
          }
        : {}),
      eval_seconds: result.evalSeconds,
      ...(result.int8Ppl !== undefined
        ? {
            ppl_int8_activations: result.int8Ppl,
            int8_rel_cost: result.int8Ppl / result.ppl - 1,
            int8_quantized_layers: result.int8Layers,
          }
        : {}),
    };
    console.error(JSON.stringify(row));
    rows.push(row);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify(rows, null, 2));

/** One (setting, method): quantize (unless fp), then evaluate; runs in its own process. */
async function runJob(job) {
  const { setting, method, seqlen, nsamples } = job;
  let modelFolder = job.folder;
  let quantSeconds = null;
  let blockSeconds = null;
  let lossTotal = null;
  let skipped = null;
  if (method !== 'fp') {
    const out = join(job.work, `${setting.name}-${method}`);
    const group = job.groupMap?.[String(setting.group)] ?? setting.group;
    const started = performance.now();
    const summary = await quantizeModel(job.folder, out, {
      bits: setting.bits,
      groupSize: group,
      sym: setting.sym,
      descAct: setting.desc_act,
      staticGroups: setting.static_groups,
      dampPercent: 0.01,
      method,
      format: 'gptq',
      // RTN needs no activations: skip the calibration forwards, as the reference's RTN does.
      calibration:
        method === 'gptq'
          ? calibrationWindows(
              JSON.parse(readFileSync(join(job.work, 'c4.json'), 'utf8')),
              nsamples,
              seqlen,
              'first',
            )
          : [],
      overwrite: true,
      onProgress: (e) => {
        if (e.phase === 'block') {
          process.stderr.write(
            `  ${setting.name} ${method}: block ${e.block + 1}/${e.blocks} ${e.seconds.toFixed(1)} s\n`,
          );
        }
      },
    });
    quantSeconds = (performance.now() - started) / 1000;
    // The blocks alone (no loading of the fp checkpoint, no writing): what the reference's
    // quant_time_s times, its model being in memory already.
    blockSeconds = summary.blockSeconds.reduce((a, b) => a + b, 0);
    lossTotal = summary.totalLoss;
    skipped = summary.skipped.length;
    modelFolder = out;
  }
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  const ids = JSON.parse(readFileSync(join(job.work, 'wiki.json'), 'utf8'));
  const model = modelFromFolder(modelFolder);
  const count = Math.min(Math.floor(ids.length / seqlen), job.maxWindows ?? Infinity);
  const started = performance.now();
  const ppl = heldOutPpl(model, ids, seqlen, count);
  const evalSeconds = (performance.now() - started) / 1000;
  let int8Ppl;
  let int8Layers;
  if (job.int8) {
    int8Layers = setQuantActivations(model, 'int8').switched.length;
    int8Ppl = heldOutPpl(model, ids, seqlen, count);
  }
  model.dispose();
  return {
    ppl,
    windows: count,
    quantSeconds,
    blockSeconds,
    lossTotal,
    skipped,
    peakRssMb: Math.round(peakRssMb),
    evalSeconds,
    int8Ppl,
    int8Layers,
  };
}

/** Perplexity over the first `count` non-overlapping windows of `ids`, 8 windows a forward. */
function heldOutPpl(model, ids, seqlen, count) {
  const batch = 8;
  let total = 0;
  for (let start = 0; start < count; start += batch) {
    const rows = Math.min(batch, count - start);
    const window = ids.slice(start * seqlen, (start + rows) * seqlen);
    total += scope(() => {
      const input = tensor(window, { dtype: 'i32', shape: [rows, seqlen] });
      const logits = model.forward(input);
      return crossEntropy(narrow(logits, 1, 0, seqlen - 1), narrow(input, 1, 1, seqlen - 1), {
        reduction: 'sum',
      }).item();
    });
  }
  return Math.exp(total / (count * (seqlen - 1)));
}

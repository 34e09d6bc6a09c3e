#!/usr/bin/env node
// Training speed and peak memory of the Trainer on the native cpu backend: full fine-tuning of a
// model (every tensor trainable, f32 masters over its stored weights) and LoRA on the same model
// with its weights as stored or quantized to 4 bits (RTN into the GPTQ format, which trains
// exactly as a GPTQ checkpoint does). The data are consecutive windows of WikiText-2 test
// (fixtures/), every token scored.
//
// Each row runs in its own child process, so that its peak RSS (VmHWM) is its own; tokens per
// second count the real input tokens of steps 2..N over their wall time (the first step warms up),
// and CPU seconds per step (user + system, all threads) tell how much of that wall time the
// process actually ran, on a machine shared with other work.
// Uses the built packages (cd packages/peft-lora && npx tsup):
//   node bench/train.mjs [model] [--rows full,lora-qv,lora-all,lora-qv-4bit,lora-all-4bit]
//                        [--seqlen 128] [--batch 4] [--steps 8] [--threads N] [--json]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const script = fileURLToPath(import.meta.url);
const WIKITEXT = fileURLToPath(
  new URL('../../../fixtures/wikitext-2-raw/wiki.test.raw', import.meta.url),
);

/** What each row trains. */
const ROWS = {
  full: { method: 'full', quantized: false },
  'lora-qv': { method: 'lora', targets: ['q_proj', 'v_proj'], quantized: false },
  'lora-all': { method: 'lora', targets: 'all-linear', quantized: false },
  'lora-qv-4bit': { method: 'lora', targets: ['q_proj', 'v_proj'], quantized: true },
  'lora-all-4bit': { method: 'lora', targets: 'all-linear', quantized: true },
};

// ---------------------------------------------------------------------------------------------
// Child: train one row and print one JSON line.

if (process.argv[2] === '--child') {
  const job = JSON.parse(process.argv[3]);
  const kernels = await import('@slimlm/kernels-cpu');
  if (!kernels.available) throw new Error('@slimlm/kernels-cpu: the native addon is unavailable');
  if (job.threads) kernels.setThreads(job.threads);
  await import('@slimlm/gptq'); // registers the gptq quantization method for loading
  const { loadModel } = await import('@slimlm/models');
  const { Trainer, injectLora, trainableParameters } = await import('@slimlm/peft-lora');
  const loaded = await loadModel(job.folder);
  const { model, tokenizer } = loaded;
  const text = readFileSync(WIKITEXT, 'utf8');
  const needed = job.seqlen * job.batch * job.steps;
  const cut = text.lastIndexOf('\n', needed * 8) + 1;
  const ids = [1, ...tokenizer.encode(text.slice(0, cut), { addSpecialTokens: false })];
  if (ids.length < needed) throw new Error(`only ${ids.length} ids for ${needed}`);
  const train = Array.from({ length: job.batch * job.steps }, (_, i) => {
    const window = ids.slice(i * job.seqlen, (i + 1) * job.seqlen);
    return { inputIds: window, labels: window };
  });
  let parameters;
  if (job.method === 'full') {
    parameters = new Map(model.namedParameters());
  } else {
    injectLora(
      model,
      { r: 8, loraAlpha: 16, loraDropout: 0.05, targetModules: job.targets },
      { seed: 0 },
    );
    parameters = trainableParameters(model);
  }
  // Tied tensors count once.
  const trainable = [...new Set(parameters.values())].reduce((n, t) => n + t.size, 0);
  const stepTimes = [];
  const stepCpu = [];
  const trainer = new Trainer(model, parameters, {
    batchSize: job.batch,
    maxSteps: job.steps,
    learningRate: job.method === 'full' ? 1e-4 : 2e-4,
    onProgress: (p) => {
      if (p.kind === 'step') {
        stepTimes.push(performance.now());
        const { user, system } = process.cpuUsage();
        stepCpu.push((user + system) / 1e6);
      }
    },
  });
  const result = await trainer.train({ train });
  const seconds = (stepTimes.at(-1) - stepTimes[0]) / 1000;
  const tokens = result.history.slice(1).reduce((n, s) => n + s.tokens, 0);
  const status = readFileSync('/proc/self/status', 'utf8');
  const hwmKb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]);
  process.stdout.write(
    `${JSON.stringify({
      trainable_params: trainable,
      tokens_per_s: +(tokens / seconds).toFixed(1),
      seconds_per_step: +(seconds / (result.history.length - 1)).toFixed(3),
      cpu_seconds_per_step: +((stepCpu.at(-1) - stepCpu[0]) / (result.history.length - 1)).toFixed(
        3,
      ),
      skipped_steps: result.skippedSteps,
      peak_rss_mib: +(hwmKb / 1024).toFixed(0),
    })}\n`,
  );
  loaded.dispose();
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Parent: prepare the 4-bit copy once, run every row in a child, print the table.

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rows: { type: 'string', default: Object.keys(ROWS).join(',') },
    seqlen: { type: 'string', default: '128' },
    batch: { type: 'string', default: '4' },
    steps: { type: 'string', default: '8' },
    threads: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const name = positionals[0] ?? 'wikillama';
const rows = values.rows.split(',');
for (const row of rows) {
  if (!ROWS[row]) throw new Error(`unknown row '${row}' (rows: ${Object.keys(ROWS).join(', ')})`);
}
const { resolveModelFolder } = await import('@slimlm/models');
const folder = await resolveModelFolder(name);
const scratch = mkdtempSync(join(tmpdir(), 'slimlm-train-bench-'));
try {
  let quantized;
  if (rows.some((row) => ROWS[row].quantized)) {
    await import('@slimlm/kernels-cpu');
    const { quantizeModel } = await import('@slimlm/gptq');
    quantized = join(scratch, '4bit');
    await quantizeModel(folder, quantized, {
      bits: 4,
      groupSize: 128,
      sym: false,
      descAct: false,
      staticGroups: false,
      dampPercent: 0.01,
      method: 'rtn',
      format: 'gptq',
      calibration: [],
    });
  }
  const records = [];
  for (const row of rows) {
    const spec = ROWS[row];
    const job = {
      ...spec,
      folder: spec.quantized ? quantized : folder,
      seqlen: Number(values.seqlen),
      batch: Number(values.batch),
      steps: Number(values.steps),
      threads: values.threads ? Number(values.threads) : undefined,
    };
    const child = spawnSync(process.execPath, [script, '--child', JSON.stringify(job)], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (child.status !== 0) throw new Error(`row ${row} failed:\n${child.stderr}`);
    const line = child.stdout.trim().split('\n').at(-1);
    records.push({
      model: name,
      row,
      seqlen: job.seqlen,
      batch: job.batch,
      steps: job.steps,
      ...JSON.parse(line),
    });
  }
  if (values.json) console.log(JSON.stringify(records));
  else console.table(records);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

#!/usr/bin/env node
// Peak memory of quantizeModel on a model of TinyLlama-1.1B's shapes (22 blocks, hidden 2048, MLP
// 5632, vocab 32000, untied head; ~2.2 GB of f16 on disk): GPTQ 4-bit, group 128, 8 calibration
// windows of 128 random token ids, native cpu backend. The weights are random (N(0, 0.02) from a
// seeded generator, norms 1): memory and time depend on the shapes, not on the values.
//
// The model is generated once into <tmpdir>/slimlm-bench-random-llama-tinyllama (one tensor at a
// time through @slimlm/hub's streaming writer) and reused by later runs. The quantization runs in a
// child process so that its RSS is its own; the parent samples the child's VmRSS every 100 ms, the
// child records its RSS at every progress event and reads its VmHWM (kernel peak RSS) at the end.
// Uses the built packages (cd packages/gptq && npx tsup):
//   node packages/gptq/bench/memory.mjs [--blocks N] [--keep] [--json] [--threads N]
// --blocks N quantizes only the first N blocks (same generated weights); --keep keeps the generated
// model (and the quantized output) instead of deleting both at the end.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const script = fileURLToPath(import.meta.url);
/** The bound, 1.5 GB, read strictly (1.5e9 bytes); RSS figures are MiB (2^20 bytes). */
const LIMIT_MB = 1.5e9 / 2 ** 20;

/** TinyLlama-1.1B's config.json, but untied as the real one is, with a random-init model. */
const CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 32000,
  hidden_size: 2048,
  intermediate_size: 5632,
  num_hidden_layers: 22,
  num_attention_heads: 32,
  num_key_value_heads: 4,
  head_dim: 64,
  hidden_act: 'silu',
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  rope_scaling: null,
  attention_bias: false,
  mlp_bias: false,
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
  initializer_range: 0.02,
  torch_dtype: 'float16',
};
/** Bump when the generated weights change, so a cached model of an earlier version is remade. */
const GENERATOR_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Child: quantize and report.

if (process.argv[2] === '--child') {
  const job = JSON.parse(process.argv[3]);
  const kernels = await import('@slimlm/kernels-cpu');
  if (!kernels.available) throw new Error('@slimlm/kernels-cpu: the native addon is unavailable');
  if (job.threads) kernels.setThreads(job.threads);
  const { quantizeModel } = await import('@slimlm/gptq');
  const mb = (bytes) => bytes / 2 ** 20;
  const status = () => {
    const text = readFileSync('/proc/self/status', 'utf8');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  };
  // Linux resets VmHWM to the current RSS on writing 5 to clear_refs: gives per-block peaks.
  const resetHwm = () => {
    try {
      writeFileSync('/proc/self/clear_refs', '5');
      return true;
    } catch {
      return false;
    }
  };
  const canReset = resetHwm();
  const rng = mulberry32(job.seed);
  const calibration = Array.from({ length: job.nsamples }, () =>
    Array.from({ length: job.seqlen }, () => Math.floor(rng() * CONFIG.vocab_size)),
  );
  const events = [];
  let peakAny = 0;
  let peakHwm = 0;
  let sampled = 0;
  const note = (event) => {
    const rss = mb(process.memoryUsage().rss);
    peakAny = Math.max(peakAny, rss);
    // hwm_mb: the peak since the previous event (VmHWM is reset after each one when allowed).
    const s = status();
    peakHwm = Math.max(peakHwm, s.hwm);
    const row = { ...event, rss_mb: +rss.toFixed(1), hwm_mb: +s.hwm.toFixed(1) };
    if (canReset) resetHwm();
    events.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  };
  // Fires only between synchronous stretches (quantizeModel hardly yields); the parent samples too.
  const timer = setInterval(() => {
    sampled++;
    peakAny = Math.max(peakAny, mb(process.memoryUsage().rss));
  }, 100);
  const started = performance.now();
  const summary = await quantizeModel(job.model, job.out, {
    bits: 4,
    groupSize: 128,
    sym: true,
    descAct: false,
    staticGroups: false,
    dampPercent: 0.01,
    method: 'gptq',
    format: 'gptq',
    calibration,
    overwrite: true,
    onProgress: note,
  });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  const end = status();
  peakHwm = Math.max(peakHwm, end.hwm);
  const maxRss = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(
    `\n${JSON.stringify({
      seconds,
      blockSeconds: summary.blockSeconds,
      threads: kernels.cpuInfo().threads,
      isa: kernels.cpuInfo().isa,
      perBlockHwm: canReset,
      maxRssMb: maxRss,
      vmHwmMb: peakHwm,
      peakSelfSampledMb: peakAny,
      selfSamples: sampled,
      events,
    })}\n`,
  );
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Parent.

const { values } = parseArgs({
  options: {
    blocks: { type: 'string' },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    threads: { type: 'string' },
    nsamples: { type: 'string', default: '8' },
    seqlen: { type: 'string', default: '128' },
  },
});
const blocks = values.blocks === undefined ? CONFIG.num_hidden_layers : Number(values.blocks);
if (!Number.isInteger(blocks) || blocks < 1 || blocks > CONFIG.num_hidden_layers) {
  throw new Error(`--blocks must be 1..${CONFIG.num_hidden_layers}`);
}
const nsamples = Number(values.nsamples);
const seqlen = Number(values.seqlen);
const log = (line) => process.stderr.write(`${line}\n`);

const cache = join(tmpdir(), 'slimlm-bench-random-llama-tinyllama');
const weightsFile = join(cache, 'model', 'model.safetensors');
await ensureModel(cache);
const diskBytes = statSync(weightsFile).size;

// A folder with the config cut to --blocks layers, reading the same weights file.
const work = mkdtempSync(join(tmpdir(), 'slimlm-bench-quantize-'));
let modelFolder = join(cache, 'model');
if (blocks !== CONFIG.num_hidden_layers) {
  modelFolder = join(work, 'model');
  mkdirSync(modelFolder);
  writeFileSync(
    join(modelFolder, 'config.json'),
    `${JSON.stringify({ ...CONFIG, num_hidden_layers: blocks }, null, 2)}\n`,
  );
  symlinkSync(weightsFile, join(modelFolder, 'model.safetensors'));
}
const outFolder = join(work, 'quantized');
const job = {
  model: modelFolder,
  out: outFolder,
  nsamples,
  seqlen,
  seed: 1234,
  ...(values.threads ? { threads: Number(values.threads) } : {}),
};

let result;
let outBytes = 0;
try {
  log(`quantizing ${blocks} block(s) of ${modelFolder} into ${outFolder}`);
  result = await runChild(job);
  outBytes = folderBytes(outFolder);
} finally {
  if (values.keep) {
    log(`kept: ${cache} (generated model), ${outFolder} (quantized)`);
  } else {
    rmSync(work, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  }
}

const { child, parentPeakMb, parentSamples, wallSeconds } = result;
const peak = Math.max(parentPeakMb, child.vmHwmMb, child.maxRssMb, child.peakSelfSampledMb);
const round1 = (x) => Math.round(x * 10) / 10;
// A block's peak: the largest VmHWM of its events (each the peak since the event before it).
const perBlock = child.events
  .filter((e) => e.phase === 'block')
  .map((e) => ({
    block: e.block,
    seconds: round1(e.seconds),
    peak_rss_mb: Math.max(
      ...child.events
        .filter((x) => x.block === e.block && x.phase !== 'start')
        .map((x) => x.hwm_mb),
    ),
  }));
const record = {
  kind: 'quantize-memory',
  model: 'random-llama-tinyllama-shapes',
  disk_bytes: diskBytes,
  blocks,
  bits: 4,
  group_size: 128,
  nsamples,
  seqlen,
  peak_rss_mb: Math.round(peak),
  vm_hwm_mb: Math.round(child.vmHwmMb),
  sampled_peak_rss_mb: Math.round(parentPeakMb),
  samples: parentSamples,
  seconds: round1(child.seconds),
  wall_seconds: round1(wallSeconds),
  block_seconds: child.blockSeconds.map(round1),
  block_peak_rss_mb: child.perBlockHwm ? perBlock.map((b) => Math.round(b.peak_rss_mb)) : null,
  output_bytes: outBytes,
  threads: child.threads,
  isa: child.isa,
  node: process.version,
  limit_mb: Math.round(LIMIT_MB),
  within_limit: peak < LIMIT_MB,
};
if (values.json) {
  console.log(JSON.stringify(record));
} else {
  const mean = child.blockSeconds.reduce((a, b) => a + b, 0) / child.blockSeconds.length;
  console.log(
    [
      `model          random Llama, TinyLlama-1.1B shapes, ${(diskBytes / 1e9).toFixed(2)} GB f16 on disk, ${blocks} of 22 blocks quantized`,
      `settings       GPTQ 4-bit, group 128, ${nsamples} windows x ${seqlen} tokens, ${child.threads} threads (${child.isa}), Node ${process.version}`,
      `peak RSS       ${record.peak_rss_mb} MB (VmHWM ${record.vm_hwm_mb} MB, sampled ${record.sampled_peak_rss_mb} MB) — limit ${Math.round(LIMIT_MB)} MB (1.5 GB): ${record.within_limit ? 'ok' : 'EXCEEDED'}`,
      `time           ${record.seconds} s (per block mean ${mean.toFixed(1)} s, min ${Math.min(...child.blockSeconds).toFixed(1)}, max ${Math.max(...child.blockSeconds).toFixed(1)})`,
      `output         ${(outBytes / 1e9).toFixed(2)} GB`,
    ].join('\n'),
  );
  console.table(perBlock);
}

// ---------------------------------------------------------------------------------------------

/** Runs the child, sampling its VmRSS every 100 ms from here (the child hardly ever yields). */
function runChild(job) {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const proc = spawn(process.execPath, [script, '--child', JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let peakMb = 0;
    let samples = 0;
    const sample = () => {
      try {
        const text = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
        const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
        peakMb = Math.max(peakMb, kb / 1024);
        samples++;
      } catch {
        // the child has exited
      }
    };
    const timer = setInterval(sample, 100);
    proc.stdout.on('data', (d) => {
      stdout += d;
    });
    proc.stderr.on('data', (d) => {
      stderr += d;
      if (!values.json) {
        for (const line of String(d).split('\n')) {
          if (line.includes('"phase":"block"') || line.includes('"phase":"done"')) log(line);
        }
      }
    });
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearInterval(timer);
      if (code !== 0) {
        reject(new Error(`the quantization child exited with ${code}:\n${stderr.slice(-4000)}`));
        return;
      }
      const last = stdout.trim().split('\n').at(-1);
      resolvePromise({
        child: JSON.parse(last),
        parentPeakMb: peakMb,
        parentSamples: samples,
        wallSeconds: (performance.now() - started) / 1000,
      });
    });
  });
}

function folderBytes(folder) {
  if (!existsSync(folder)) return 0;
  let total = 0;
  for (const name of readdirSync(folder)) total += statSync(join(folder, name)).size;
  return total;
}

// ---------------------------------------------------------------------------------------------
// The random model.

/** Generates the model into `<cache>/model` unless a complete one of this version is there. */
async function ensureModel(cacheFolder) {
  const stamp = join(cacheFolder, 'complete.json');
  const expected = { version: GENERATOR_VERSION, config: CONFIG };
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === JSON.stringify(expected)) {
    log(`reusing the generated model in ${cacheFolder}`);
    return;
  }
  rmSync(cacheFolder, { recursive: true, force: true });
  mkdirSync(cacheFolder, { recursive: true });
  const { saveCheckpoint } = await import('@slimlm/hub');
  const started = performance.now();
  const folder = join(cacheFolder, 'model');
  log(`generating a random f16 Llama with TinyLlama-1.1B's shapes in ${folder} ...`);
  const table = normalF16Table(0.02);
  const ones = 0x3c00; // 1.0 in f16
  const entries = [];
  const add = (name, shape, fill) =>
    entries.push({
      name,
      dtype: 'F16',
      shape,
      data: () => {
        const n = shape.reduce((a, b) => a * b, 1);
        const halves = new Uint16Array(n);
        if (fill === 'ones') halves.fill(ones);
        else randomHalves(halves, table, seedOf(name));
        return new Uint8Array(halves.buffer);
      },
    });
  const { hidden_size: h, intermediate_size: m, vocab_size: v } = CONFIG;
  const kv = CONFIG.num_key_value_heads * CONFIG.head_dim;
  add('model.embed_tokens.weight', [v, h]);
  for (let i = 0; i < CONFIG.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, [h], 'ones');
    add(`${p}.post_attention_layernorm.weight`, [h], 'ones');
    add(`${p}.self_attn.q_proj.weight`, [h, h]);
    add(`${p}.self_attn.k_proj.weight`, [kv, h]);
    add(`${p}.self_attn.v_proj.weight`, [kv, h]);
    add(`${p}.self_attn.o_proj.weight`, [h, h]);
    add(`${p}.mlp.gate_proj.weight`, [m, h]);
    add(`${p}.mlp.up_proj.weight`, [m, h]);
    add(`${p}.mlp.down_proj.weight`, [h, m]);
  }
  add('model.norm.weight', [h], 'ones');
  add('lm_head.weight', [v, h]);
  saveCheckpoint(folder, entries);
  writeFileSync(join(folder, 'config.json'), `${JSON.stringify(CONFIG, null, 2)}\n`);
  writeFileSync(stamp, JSON.stringify(expected));
  log(`generated in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** A 32-bit seed from a tensor name, so each tensor's values do not depend on the order. */
function seedOf(name) {
  return createHash('sha256').update(`slimlm-bench:${name}`).digest().readUInt32LE(0);
}

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fills `out` with N(0, σ) f16 values: a seeded 16-bit index into the table of quantiles. */
function randomHalves(out, table, seed) {
  let a = seed >>> 0;
  const n = out.length;
  let i = 0;
  while (i < n) {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    t ^= t >>> 14;
    out[i++] = table[t & 0xffff];
    if (i < n) out[i++] = table[(t >>> 16) & 0xffff];
  }
}

/** The 65536 quantiles (k + ½) / 65536 of N(0, σ) as f16 bit patterns. */
function normalF16Table(sigma) {
  const table = new Uint16Array(65536);
  for (let k = 0; k < 65536; k++) table[k] = toHalf(sigma * inverseNormal((k + 0.5) / 65536));
  return table;
}

/** Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9). */
function inverseNormal(p) {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
    4.374664141464968, 2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  if (p > 1 - low) return -inverseNormal(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

/** f64 → f16 bits, round to nearest even (subnormals included; no overflow for these values). */
function toHalf(x) {
  const f32 = new Float32Array([x]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

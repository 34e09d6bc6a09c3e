// Benchmarks the "cpu" backend's matmul (GEMM and GEMV) and attention, side by side with
// OpenBLAS and the machine's memory read bandwidth measured in the same run.
//
//   npm run -s bench -w @slimlm/kernels-cpu -- [--json] [--smoke] [--only=gemm|gemv|attention|linalg|quant|int8|desc_act]
//
// --json prints one JSON array of records {kernel, dtype, m, n, k, threads, ms, gflops, gbps, ...}
// (ms: the median of the repetitions; min_ms/max_ms: their spread) and nothing else on stdout;
// without it, a table. --smoke runs tiny sizes only (CI checks the output's shape, not its speed).
// --only runs one group of measurements (GEMV includes f32 activations by f16/bf16 weights,
// recorded as kernel 'gemv_mixed' with the weights' dtype, and the read bandwidth). quant times the
// GPTQ kernels (quantMatmul: 'qgemv' at m = 1 from DRAM, 'qgemm' at m = 512) for 2/3/4/8 bits,
// group 128, with the f32 GEMM and the read bandwidth of the same run; its records are
// {kernel, bits, group_size, desc_act, m, n, k, threads, ms, gbps, gflops} (gbps counts qweight,
// qzeros and scales read, plus the i32 permutation for desc_act) plus the common dtype (null),
// min_ms, max_ms and reps. For 4 bits it also times QuantLinear's path through core's ops, plain
// (desc_act false) and act-order (desc_act true: quantMatmul's perm input, x's channels gathered
// as the kernel copies x), marked path: 'ops';
// --only=desc_act times those pairs alone.
// quant (or int8 alone) then times 4-bit g128 with f32 and int8 activations (records with
// activations) against onnxruntime-node's MatMulNBits at accuracy_level 4 ('ort_matmulnbits').
// Needs the built package (npm run build). The peers (bench/peers.c) are compiled here when
// OpenBLAS is installed (apt-get install -y libopenblas-dev) and skipped otherwise.
//
// Kernels are timed the way OpenBLAS is, writing into an output allocated once (core's
// runKernelInto); slimlm and its peers alternate in rounds so that both see the same machine.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  cholesky,
  quantMatmul,
  runKernelInto,
  scaledDotProductAttention,
  tensor,
  transpose,
  withBackend,
  zeros,
} from '@slimlm/core';
import { available, CPU, cpuInfo, setThreads } from '../dist/index.js';
import {
  loadOnnxRuntime,
  matMulNBitsModel,
  matMulNBitsSession,
  toMatMulNBits,
} from './onnx-peer.mjs';

const USAGE = `usage: node bench/run.mjs [--json] [--smoke] [--only=gemm|gemv|attention|linalg|quant|int8|desc_act]
  --json    one JSON array of records on stdout instead of a table
  --smoke   tiny sizes only (checks that everything runs, not its speed)
  --only    one group: gemm (square and x @ W^T), gemv (f32, f16, bf16, f32 x f16/bf16 weights,
            read bandwidth), attention, linalg (cholesky and choleskyInverse, f32) or quant
            (GPTQ qgemv/qgemm, 2/3/4/8 bits, with f32 GEMM and read bandwidth), int8 (int8
            activations against onnxruntime) or desc_act (4-bit act-order against plain order)
Needs the built package (npm run build); OpenBLAS peers when libopenblas-dev is installed.`;
const GROUPS = ['gemm', 'gemv', 'attention', 'linalg', 'quant', 'int8', 'desc_act'];
const flags = new Set(process.argv.slice(2));
if (flags.has('--help') || flags.has('-h')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const onlyFlag = [...flags].find((flag) => flag.startsWith('--only='));
const only = onlyFlag?.slice('--only='.length);
const unknown = [...flags].filter(
  (flag) => !['--json', '--smoke'].includes(flag) && flag !== onlyFlag,
);
if (unknown.length > 0 || (only !== undefined && !GROUPS.includes(only))) {
  process.stderr.write(`bench: unknown option ${unknown[0] ?? onlyFlag}\n${USAGE}\n`);
  process.exit(2);
}
const runs = (group) => only === undefined || only === group;
const asJson = flags.has('--json');
const smoke = flags.has('--smoke');
const progress = (message) => process.stderr.write(`${message}\n`);

if (!available) {
  progress('bench: the native addon is unavailable; build the package first (npm run build)');
  process.exit(1);
}

const allThreads = cpuInfo().threads;
const threadCounts = allThreads > 1 ? [1, allThreads] : [1];
// Memory-bound kernels cycle through copies of their weights that together exceed 4x the
// 32 MiB L3, so that every call streams from DRAM.
const CYCLE_BYTES = smoke ? 0 : 128 * 2 ** 20;
const BANDWIDTH_MIB = smoke ? 8 : 512;
const BYTES = { f32: 4, f16: 2, bf16: 2 };

const SQUARE = smoke ? [64] : [512, 1024, 2048];
const ROWS = smoke ? [1, 4] : [1, 16, 128, 512];
const WEIGHTS = smoke
  ? [[96, 64]]
  : [
      [4096, 4096],
      [11008, 4096],
    ];
const GEMV_DTYPES = ['f32', 'f16', 'bf16'];
const LINALG = smoke ? [64] : [1024, 2048, 4096];
// Weights read as stored under f32 activations (f32 compute, f16/bf16 storage): 'gemv_mixed'.
const MIXED_WEIGHT_DTYPES = ['f16', 'bf16'];
const GEMM_DTYPES = ['f32', 'f16'];
const ATTENTION = smoke
  ? [{ variant: 'decode', heads: 4, kvHeads: 2, queries: 1, keys: 16, depth: 16, causal: false }]
  : [
      {
        variant: 'decode',
        heads: 32,
        kvHeads: 8,
        queries: 1,
        keys: 512,
        depth: 128,
        causal: false,
      },
      {
        variant: 'prefill',
        heads: 32,
        kvHeads: 8,
        queries: 128,
        keys: 128,
        depth: 128,
        causal: true,
      },
    ];
// Rounds that alternate the memory-bound kernels with the bandwidth measurement, so that both see
// the same machine (its bandwidth varies from minute to minute when shared).
const GEMV_ROUNDS = smoke ? 1 : 5;

const records = [];

function summarize(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { ms: median, min_ms: sorted[0], max_ms: sorted[sorted.length - 1], reps: sorted.length };
}

function record(fields, times, { flops, bytes }) {
  const stats = summarize(times);
  const seconds = stats.ms / 1e3;
  records.push({
    kernel: fields.kernel,
    dtype: fields.dtype ?? null,
    m: fields.m ?? null,
    n: fields.n ?? null,
    k: fields.k ?? null,
    threads: fields.threads,
    ms: round(stats.ms, 4),
    gflops: flops ? round(flops / seconds / 1e9, 2) : null,
    gbps: bytes ? round(bytes / seconds / 1e9, 2) : null,
    min_ms: round(stats.min_ms, 4),
    max_ms: round(stats.max_ms, 4),
    reps: stats.reps,
    ...fields.extra,
  });
  const last = records[records.length - 1];
  progress(`  ${describe(last)}`);
}

function round(value, digits) {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Repetitions for a kernel whose warm-up took `ms`: about a second of timing, 3 to 20 runs. */
function repsFor(ms) {
  if (smoke) return 3;
  return Math.max(3, Math.min(20, Math.round(1000 / Math.max(ms, 1e-3))));
}

// Each measurement first runs its kernel for WARMUP_MS: after a pause (a peer process, a round
// of something else) cores come back slow for some milliseconds, long enough to cost a
// memory-bound kernel a third of its speed over ten calls (measured here). The peers do the same.
const WARMUP_MS = smoke ? 0 : 200;

/** Times fn(rep) `reps` times after WARMUP_MS of calls; returns the times in ms. */
function time(fn, reps) {
  let rep = 0;
  const until = performance.now() + WARMUP_MS;
  do fn(rep++);
  while (performance.now() < until);
  const times = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    fn(rep++);
    times.push(performance.now() - start);
  }
  return times;
}

/** time() for an asynchronous fn (the onnxruntime peer). */
async function timeAsync(fn, reps) {
  let rep = 0;
  const until = performance.now() + WARMUP_MS;
  do await fn(rep++);
  while (performance.now() < until);
  const times = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    await fn(rep++);
    times.push(performance.now() - start);
  }
  return times;
}

function warmupMs(fn) {
  const start = performance.now();
  fn(0);
  return performance.now() - start;
}

// Deterministic pseudo-random operands, built directly in each dtype's storage format.
let seed = 12345;
function nextRandom() {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
}

function randomStorage(dtype, count) {
  if (dtype === 'f32') {
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = nextRandom() * 2 - 1;
    return values;
  }
  // Halves of magnitude 2^-5..1 with a random sign and mantissa, written as raw bits.
  const bits = new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    const r = (nextRandom() * 2 ** 32) >>> 0;
    const sign = (r & 1) << 15;
    bits[i] =
      dtype === 'f16'
        ? sign | ((10 + ((r >>> 1) % 5)) << 10) | ((r >>> 4) & 0x3ff)
        : sign | ((122 + ((r >>> 1) % 5)) << 7) | ((r >>> 4) & 0x7f);
  }
  return bits;
}

function randomTensor(shape, dtype) {
  const count = shape.reduce((a, b) => a * b, 1);
  return tensor(randomStorage(dtype, count), { shape, dtype, backend: CPU });
}

// Building operands leaves their source arrays (hundreds of MiB) as garbage: collect it and let
// the collector's background threads finish before timing, or they share the cores with the
// kernel being timed.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc');
function settle() {
  collectGarbage();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, smoke ? 0 : 300);
}

/** Enough copies of a tensor of `bytes` that together they exceed CYCLE_BYTES (at least one). */
function copiesFor(bytes) {
  return Math.max(1, Math.floor(CYCLE_BYTES / bytes) + 1);
}

/**
 * out = x [m, k] @ W^T for a weight W [n, k] (linear()'s layout), through the matmul kernel with
 * the transposed view as it is. (core's matmul() reshapes its operands first, which copies a
 * transposed one: a cost of core's, not of the kernel.)
 */
function linearInto(x, weight, out) {
  runKernelInto('matmul', [x, transpose(weight)], {}, out);
}

// --- peers ---

const packageRoot = fileURLToPath(new URL('..', import.meta.url));
let peers;
let peersDir;

function buildPeers() {
  peersDir = mkdtempSync(join(tmpdir(), 'slimlm-peers-'));
  const binary = join(peersDir, 'peers');
  const build = spawnSync(
    'cc',
    [
      '-O3',
      '-march=native',
      join(packageRoot, 'bench/peers.c'),
      '-lopenblas',
      '-lpthread',
      '-o',
      binary,
    ],
    { encoding: 'utf8' },
  );
  if (build.status !== 0) {
    progress(
      'bench: OpenBLAS peers skipped (bench/peers.c does not build here; apt-get install -y libopenblas-dev)',
    );
    return undefined;
  }
  return binary;
}

/** Runs the peers harness; returns its times in ms, or undefined (and says why) on failure. */
function runPeer(args, env = {}) {
  const environment = { ...process.env, ...env, PEERS_WARMUP_MS: String(WARMUP_MS) };
  if (env.OPENBLAS_CORETYPE === undefined) delete environment.OPENBLAS_CORETYPE;
  const run = spawnSync(peers, args.map(String), { env: environment, encoding: 'utf8' });
  if (run.status !== 0) {
    progress(`bench: peers ${args.join(' ')} failed: ${run.stderr.trim()}`);
    return undefined;
  }
  return JSON.parse(run.stdout).times_ms;
}

// Debian's OpenBLAS takes Zen 5 for Haswell (AVX2 kernels); SkylakeX forces its AVX-512 ones.
const CORETYPES = [
  { name: 'default', env: {} },
  { name: 'SkylakeX', env: { OPENBLAS_CORETYPE: 'SkylakeX' } },
];

/**
 * Times slimlm's `run(rep)` and OpenBLAS's sgemm on the same shape in alternating rounds, and
 * records both; `fields` and `work` describe slimlm's measurement.
 */
function compareGemm(fields, work, run, { transB, rounds }) {
  const { m, n, k, threads } = fields;
  const perRound = Math.max(1, Math.ceil(repsFor(warmupMs(run)) / rounds));
  const ours = [];
  const theirs = new Map(CORETYPES.map((coretype) => [coretype.name, []]));
  for (let round = 0; round < rounds; round++) {
    ours.push(...time(run, perRound));
    if (!peers || fields.dtype !== 'f32') continue;
    for (const coretype of CORETYPES) {
      const env = { ...coretype.env, OPENBLAS_NUM_THREADS: String(threads) };
      const times = runPeer(['sgemm', m, n, k, transB ? 1 : 0, threads, perRound], env);
      if (times) theirs.get(coretype.name).push(...times);
    }
  }
  record(fields, ours, work);
  for (const [coretype, times] of theirs) {
    if (times.length === 0) continue;
    const extra = { coretype, layout: fields.extra.layout };
    const peerWork = { flops: work.flops, bytes: 4 * (m * k + k * n + m * n) };
    record({ kernel: 'openblas_sgemm', dtype: 'f32', m, n, k, threads, extra }, times, peerWork);
  }
}

// --- measurements ---

function squareGemm() {
  for (const size of SQUARE) {
    const a = randomTensor([size, size], 'f32');
    const b = randomTensor([size, size], 'f32');
    const out = zeros([size, size], { backend: CPU });
    settle();
    for (const threads of threadCounts) {
      setThreads(threads);
      const run = () => runKernelInto('matmul', [a, b], {}, out);
      const fields = { kernel: 'gemm', dtype: 'f32', m: size, n: size, k: size, threads };
      compareGemm(
        { ...fields, extra: { layout: 'A @ B' } },
        { flops: 2 * size ** 3, bytes: 4 * 3 * size * size },
        run,
        { transB: false, rounds: smoke ? 1 : 5 },
      );
    }
    for (const t of [a, b, out]) t.dispose();
  }
}

function transformerGemm() {
  for (const [n, k] of WEIGHTS) {
    for (const dtype of GEMM_DTYPES) {
      const size = BYTES[dtype];
      const copies = copiesFor(n * k * size);
      const weights = Array.from({ length: copies }, () => randomTensor([n, k], dtype));
      for (const m of ROWS.filter((rows) => rows > 1)) {
        const x = randomTensor([m, k], dtype);
        const out = zeros([m, n], { dtype, backend: CPU });
        settle();
        for (const threads of threadCounts) {
          setThreads(threads);
          const run = (rep) => linearInto(x, weights[rep % copies], out);
          compareGemm(
            { kernel: 'gemm', dtype, m, n, k, threads, extra: { layout: 'x @ W^T' } },
            { flops: 2 * m * n * k, bytes: size * (m * k + n * k + m * n) },
            run,
            { transB: true, rounds: smoke ? 1 : 3 },
          );
        }
        x.dispose();
        out.dispose();
      }
      for (const w of weights) w.dispose();
    }
  }
}

function bandwidth(threads, reps) {
  if (!peers) return undefined;
  return runPeer(['bandwidth', BANDWIDTH_MIB, threads, reps]);
}

function gemv() {
  // One cycle of weights per shape and dtype, shared by the plain and the mixed products.
  const cycles = new Map();
  const weightsOf = (n, k, dtype) => {
    const key = `${dtype} ${n} ${k}`;
    if (!cycles.has(key)) {
      const copies = copiesFor(n * k * BYTES[dtype]);
      cycles.set(
        key,
        Array.from({ length: copies }, () => randomTensor([n, k], dtype)),
      );
    }
    return cycles.get(key);
  };
  const shape = (n, k, activations, dtype) => {
    const weights = weightsOf(n, k, dtype);
    const x = randomTensor([1, k], activations);
    const out = zeros([1, n], { dtype: activations, backend: CPU });
    const kernel = activations === dtype ? 'gemv' : 'gemv_mixed';
    const key = `${kernel} ${dtype} ${n} ${k}`;
    return { kernel, key, n, k, dtype, activations, copies: weights.length, weights, x, out };
  };
  const shapes = WEIGHTS.flatMap(([n, k]) => [
    ...GEMV_DTYPES.map((dtype) => shape(n, k, dtype, dtype)),
    ...MIXED_WEIGHT_DTYPES.map((dtype) => shape(n, k, 'f32', dtype)),
  ]);
  settle();
  for (const threads of threadCounts) {
    setThreads(threads);
    const times = new Map();
    const add = (key, more) => {
      if (more) times.set(key, [...(times.get(key) ?? []), ...more]);
    };
    for (let round = 0; round < GEMV_ROUNDS; round++) {
      progress(`gemv, ${threads} thread(s): round ${round + 1} of ${GEMV_ROUNDS}`);
      add('bandwidth', bandwidth(threads, smoke ? 2 : 3));
      for (const { kernel, key, n, k, dtype, copies, weights, x, out } of shapes) {
        const run = (rep) => linearInto(x, weights[rep % copies], out);
        add(key, time(run, smoke ? 3 : Math.max(10, 2 * copies)));
        if (!peers || dtype !== 'f32' || kernel !== 'gemv') continue;
        for (const coretype of CORETYPES) {
          const env = { ...coretype.env, OPENBLAS_NUM_THREADS: String(threads) };
          const args = ['sgemv', n, k, threads, smoke ? 3 : 10, smoke ? 1 : 128];
          add(`openblas ${coretype.name} ${n} ${k}`, runPeer(args, env));
        }
      }
      add('bandwidth', bandwidth(threads, smoke ? 2 : 3));
    }
    if (times.has('bandwidth')) {
      const bytes = BANDWIDTH_MIB * 2 ** 20;
      record({ kernel: 'read_bandwidth', threads, extra: { bytes } }, times.get('bandwidth'), {
        bytes,
      });
    }
    for (const { kernel, key, n, k, dtype, activations } of shapes) {
      const work = { flops: 2 * n * k, bytes: n * k * BYTES[dtype] };
      const layout = kernel === 'gemv' ? 'x @ W^T' : `${activations} x @ W^T`;
      record({ kernel, dtype, m: 1, n, k, threads, extra: { layout } }, times.get(key), work);
      for (const coretype of CORETYPES) {
        const peer = times.get(`openblas ${coretype.name} ${n} ${k}`);
        if (dtype !== 'f32' || kernel !== 'gemv' || !peer) continue;
        const extra = { coretype: coretype.name, layout };
        record({ kernel: 'openblas_sgemv', dtype, m: 1, n, k, threads, extra }, peer, work);
      }
    }
  }
  for (const { x, out } of shapes) for (const t of [x, out]) t.dispose();
  for (const weights of cycles.values()) for (const w of weights) w.dispose();
}

function attention() {
  for (const shape of ATTENTION) {
    const { heads, kvHeads, queries, keys, depth, causal } = shape;
    const q = randomTensor([1, heads, queries, depth], 'f32');
    const k = randomTensor([1, kvHeads, keys, depth], 'f32');
    const v = randomTensor([1, kvHeads, keys, depth], 'f32');
    settle();
    for (const threads of threadCounts) {
      setThreads(threads);
      const run = () =>
        withBackend(CPU, () => scaledDotProductAttention(q, k, v, { causal })).dispose();
      const reps = repsFor(warmupMs(run));
      const extra = { variant: shape.variant, heads, kvHeads, causal };
      record(
        { kernel: 'attention', dtype: 'f32', m: queries, n: keys, k: depth, threads, extra },
        time(run, reps),
        {
          // q kᵀ and p v in full (a causal kernel may skip the masked half).
          flops: 4 * heads * queries * keys * depth,
          bytes: 4 * (2 * heads * queries * depth + 2 * kvHeads * keys * depth),
        },
      );
    }
    for (const t of [q, k, v]) t.dispose();
  }
}

/**
 * cholesky (n³/3 flops) and choleskyInverse (2n³/3: the triangular inverse and the product) of
 * a well-conditioned SPD f32 matrix B Bᵀ / n + I, as GPTQ runs them on a Hessian.
 */
function linalg() {
  for (const n of LINALG) {
    const b = randomTensor([n, n], 'f32');
    const a = spd(b, n);
    const factor = withBackend(CPU, () => cholesky(a));
    const out = zeros([n, n], { backend: CPU });
    b.dispose();
    settle();
    for (const threads of threadCounts) {
      setThreads(threads);
      const runs = [
        ['cholesky', () => runKernelInto('cholesky', [a], { upper: false }, out), n ** 3 / 3],
        [
          'choleskyInverse',
          () => runKernelInto('choleskyInverse', [factor], { upper: false }, out),
          (2 * n ** 3) / 3,
        ],
      ];
      for (const [kernel, run, flops] of runs) {
        const reps = smoke ? 3 : Math.max(3, Math.min(10, Math.round(2000 / warmupMs(run))));
        record({ kernel, dtype: 'f32', m: n, n, k: n, threads }, time(run, reps), { flops });
      }
    }
    for (const t of [a, factor, out]) t.dispose();
  }
}

/** B Bᵀ / n + I for a square f32 tensor B on the cpu backend. */
function spd(b, n) {
  const product = zeros([n, n], { backend: CPU });
  linearInto(b, b, product);
  const values = Float32Array.from(product.dataSync());
  product.dispose();
  for (let i = 0; i < values.length; i++) values[i] /= n;
  for (let i = 0; i < n; i++) values[i * n + i] += 1;
  return tensor(values, { shape: [n, n], backend: CPU });
}

// --- GPTQ (quantMatmul) ---

const QUANT_BITS = [2, 3, 4, 8];
const QUANT_GROUP = smoke ? 32 : 128;
const QUANT_WEIGHTS = smoke ? [[64, 128]] : WEIGHTS;
const QUANT_PREFILL = smoke ? 16 : 512;

/** A packed weight (random words: every bit pattern is valid) with f16 scales, on "cpu". */
function randomQuantized(n, k, bits) {
  const groups = Math.ceil(k / QUANT_GROUP);
  const words = (count, shape) => {
    const data = new Int32Array(count);
    const chunk = Math.min(count, 1 << 16);
    for (let i = 0; i < chunk; i++) data[i] = (nextRandom() * 2 ** 32) | 0;
    for (let i = chunk; i < count; i += chunk) data.copyWithin(i, 0, Math.min(chunk, count - i));
    return tensor(data, { shape, backend: CPU });
  };
  const qweight = words(((k * bits) / 32) * n, [(k * bits) / 32, n]);
  const qzeros = words((groups * n * bits) / 32, [groups, (n * bits) / 32]);
  // Scales of 2^-8 .. 2^-4, f16.
  const scales = tensor(
    Uint16Array.from(
      { length: groups * n },
      () => ((7 + Math.floor(nextRandom() * 4)) << 10) | 0x155,
    ),
    { shape: [groups, n], dtype: 'f16', backend: CPU },
  );
  const bytes = 4 * qweight.size + 4 * qzeros.size + 2 * scales.size;
  return { qweight, qzeros, scales, bytes };
}

function pushQuant(
  kernel,
  bits,
  m,
  n,
  k,
  threads,
  times,
  { flops, bytes, descAct = false, path, activations, accuracyLevel },
) {
  const stats = summarize(times);
  const seconds = stats.ms / 1e3;
  const r = {
    kernel,
    bits,
    group_size: QUANT_GROUP,
    desc_act: descAct,
    m,
    n,
    k,
    threads,
    ms: round(stats.ms, 4),
    gbps: round(bytes / seconds / 1e9, 2),
    gflops: round(flops / seconds / 1e9, 2),
    // The fields every record of this bench has (the dtype is null: weights are packed codes).
    dtype: null,
    min_ms: round(stats.min_ms, 4),
    max_ms: round(stats.max_ms, 4),
    reps: stats.reps,
  };
  // 'ops': through core's ops (output allocated per call), as QuantLinear runs them.
  if (path !== undefined) r.path = path;
  // 'int8': x quantized to int8 per block (QuantAttrs.activations; onnxruntime: accuracy_level 4).
  if (activations !== undefined) r.activations = activations;
  // onnxruntime's MatMulNBits: its accuracy_level (4 = int8 activations).
  if (accuracyLevel !== undefined) r.accuracy_level = accuracyLevel;
  records.push(r);
  progress(`  ${describe(r)}`);
}

// Bits whose act-order (desc_act) cost is measured: QuantLinear's forward for an act-order layer,
// quantMatmul reading x through the load-time permutation, against quantMatmul alone, both
// through core's ops and alternating in rounds.
const DESC_ACT_BITS = [4];

/** A random permutation of 0..k-1, i32 on "cpu". */
function randomPermutation(k) {
  const perm = Int32Array.from({ length: k }, (_, i) => i);
  for (let i = k - 1; i > 0; i--) {
    const j = Math.floor(nextRandom() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return tensor(perm, { shape: [k], dtype: 'i32', backend: CPU });
}

function descActPair(bits, n, k, threads, weights, x, xs, bytes) {
  const attrs = { bits, groupSize: QUANT_GROUP, zeroOffset: 1 };
  const perm = randomPermutation(k);
  const forward = (input, w, permuted) =>
    withBackend(CPU, () => {
      quantMatmul(input, w, attrs, null, permuted ? perm : null).dispose();
    });
  for (const [kernel, m, input, cycle] of [
    ['qgemv', 1, x, weights],
    ['qgemm', QUANT_PREFILL, xs, [weights[0]]],
  ]) {
    const times = { false: [], true: [] };
    const reps = kernel === 'qgemv' ? (smoke ? 3 : Math.max(10, 2 * cycle.length)) : smoke ? 1 : 5;
    // Decode calls are short and the machine's bandwidth drifts: many alternating rounds.
    const rounds = smoke ? 1 : kernel === 'qgemv' ? 15 : 3;
    for (let round = 0; round < rounds; round++) {
      for (const permuted of [false, true]) {
        const run = (rep) => forward(input, cycle[rep % cycle.length], permuted);
        times[permuted].push(...time(run, reps));
      }
    }
    for (const permuted of [false, true]) {
      pushQuant(kernel, bits, m, n, k, threads, times[permuted], {
        flops: 2 * m * n * k,
        bytes: permuted ? bytes + 4 * k : bytes,
        descAct: permuted,
        path: 'ops',
      });
    }
  }
  perm.dispose();
}

/** The act-order pairs of quant() alone (--only=desc_act). */
function descActOnly() {
  for (const threads of threadCounts) {
    setThreads(threads);
    for (const [n, k] of QUANT_WEIGHTS) {
      for (const bits of DESC_ACT_BITS) {
        const first = randomQuantized(n, k, bits);
        const weights = [
          first,
          ...Array.from({ length: copiesFor(first.bytes) - 1 }, () => randomQuantized(n, k, bits)),
        ];
        const x = randomTensor([1, k], 'f32');
        const xs = randomTensor([QUANT_PREFILL, k], 'f32');
        settle();
        descActPair(bits, n, k, threads, weights, x, xs, first.bytes);
        for (const w of weights) for (const t of [w.qweight, w.qzeros, w.scales]) t.dispose();
        for (const t of [x, xs]) t.dispose();
      }
    }
  }
}

function quant() {
  for (const threads of threadCounts) {
    setThreads(threads);
    const bandwidthTimes = [];
    for (const [n, k] of QUANT_WEIGHTS) {
      for (const bits of QUANT_BITS) {
        const attrs = { bits, groupSize: QUANT_GROUP, zeroOffset: 1 };
        const first = randomQuantized(n, k, bits);
        const copies = copiesFor(first.bytes);
        const weights = [
          first,
          ...Array.from({ length: copies - 1 }, () => randomQuantized(n, k, bits)),
        ];
        const x = randomTensor([1, k], 'f32');
        const out = zeros([1, n], { backend: CPU });
        const xs = randomTensor([QUANT_PREFILL, k], 'f32');
        const outs = zeros([QUANT_PREFILL, n], { backend: CPU });
        settle();
        const inputsOf = (input, w) => [input, w.qweight, w.qzeros, w.scales];
        const gemvRun = (rep) =>
          runKernelInto('quantMatmul', inputsOf(x, weights[rep % copies]), attrs, out);
        const gemvTimes = [];
        for (let round = 0; round < GEMV_ROUNDS; round++) {
          bandwidthTimes.push(...(bandwidth(threads, smoke ? 2 : 3) ?? []));
          gemvTimes.push(...time(gemvRun, smoke ? 3 : Math.max(10, 2 * copies)));
        }
        pushQuant('qgemv', bits, 1, n, k, threads, gemvTimes, {
          flops: 2 * n * k,
          bytes: first.bytes,
        });
        const gemmRun = () => runKernelInto('quantMatmul', inputsOf(xs, first), attrs, outs);
        pushQuant(
          'qgemm',
          bits,
          QUANT_PREFILL,
          n,
          k,
          threads,
          time(gemmRun, repsFor(warmupMs(gemmRun))),
          {
            flops: 2 * QUANT_PREFILL * n * k,
            bytes: first.bytes,
          },
        );
        if (DESC_ACT_BITS.includes(bits))
          descActPair(bits, n, k, threads, weights, x, xs, first.bytes);
        for (const w of weights) for (const t of [w.qweight, w.qzeros, w.scales]) t.dispose();
        for (const t of [x, out, xs, outs]) t.dispose();
      }
      // The f32 GEMM of the same shape (x @ W^T), for the prefill comparison.
      const weight = randomTensor([n, k], 'f32');
      const xs = randomTensor([QUANT_PREFILL, k], 'f32');
      const outs = zeros([QUANT_PREFILL, n], { backend: CPU });
      settle();
      const run = () => linearInto(xs, weight, outs);
      record(
        {
          kernel: 'gemm',
          dtype: 'f32',
          m: QUANT_PREFILL,
          n,
          k,
          threads,
          extra: { layout: 'x @ W^T' },
        },
        time(run, repsFor(warmupMs(run))),
        {
          flops: 2 * QUANT_PREFILL * n * k,
          bytes: 4 * (QUANT_PREFILL * k + n * k + QUANT_PREFILL * n),
        },
      );
      for (const t of [weight, xs, outs]) t.dispose();
    }
    if (bandwidthTimes.length > 0) {
      const bytes = BANDWIDTH_MIB * 2 ** 20;
      record({ kernel: 'read_bandwidth', threads, extra: { bytes } }, bandwidthTimes, { bytes });
    }
  }
}

// --- int8 activations against onnxruntime's MatMulNBits ---

/**
 * 4-bit g128 quantMatmul with f32 and with int8 activations against onnxruntime's MatMulNBits
 * (4-bit, block 128, zero points; accuracy_level 4 = int8 activations with VNNI, its fastest CPU
 * path), on the same weights: m = 1 over copies that stream from DRAM (onnxruntime runs them as
 * one model of parallel nodes, so that its per-run overhead is shared), m = QUANT_PREFILL on one
 * copy (in cache, as onnxruntime's own benchmarks). Rounds alternate the three and the read
 * bandwidth. Records: slimlm's as quant's with activations 'f32' | 'int8'; onnxruntime's as kernel
 * 'ort_matmulnbits' with accuracy_level, gbps counting its B, f32 scales and zero points.
 */
async function quantInt8() {
  const { ort, why } = await loadOnnxRuntime();
  if (!ort) {
    progress(`bench: the onnxruntime peer is skipped (${why})`);
    return;
  }
  const bits = 4;
  for (const threads of threadCounts) {
    setThreads(threads);
    for (const [n, k] of QUANT_WEIGHTS) {
      const first = randomQuantized(n, k, bits);
      const copies = copiesFor(first.bytes);
      const weights = [
        first,
        ...Array.from({ length: copies - 1 }, () => randomQuantized(n, k, bits)),
      ];
      const converted = weights.map((w) =>
        toMatMulNBits(
          {
            qweight: w.qweight.dataSync(),
            qzeros: w.qzeros.dataSync(),
            scales: w.scales.dataSync(),
          },
          { n, k, blockSize: QUANT_GROUP, zeroOffset: 1 },
        ),
      );
      const ortBytes =
        converted[0].b.length + 4 * converted[0].scales.length + converted[0].zeroPoints.length;
      const options = { n, k, blockSize: QUANT_GROUP, accuracyLevel: 4 };
      const decodeSession = await matMulNBitsSession(
        ort,
        matMulNBitsModel(converted, options),
        threads,
      );
      const prefillSession = await matMulNBitsSession(
        ort,
        matMulNBitsModel(converted.slice(0, 1), options),
        threads,
      );
      for (const [kernel, m, session, layers] of [
        ['qgemv', 1, decodeSession, copies],
        ['qgemm', QUANT_PREFILL, prefillSession, 1],
      ]) {
        const x = randomTensor([m, k], 'f32');
        const xData = x.dataSync();
        const out = zeros([m, n], { backend: CPU });
        settle();
        const times = { f32: [], int8: [], ort: [] };
        const bandwidthTimes = [];
        const reps = kernel === 'qgemv' ? (smoke ? 3 : Math.max(10, 2 * copies)) : smoke ? 1 : 3;
        const rounds = kernel === 'qgemv' ? GEMV_ROUNDS : smoke ? 1 : 3;
        for (let round = 0; round < rounds; round++) {
          if (!runs('quant') && kernel === 'qgemv')
            bandwidthTimes.push(...(bandwidth(threads, smoke ? 2 : 3) ?? []));
          for (const activations of ['f32', 'int8']) {
            const attrs = { bits, groupSize: QUANT_GROUP, zeroOffset: 1, activations };
            const run = (rep) => {
              const w = weights[rep % layers];
              runKernelInto('quantMatmul', [x, w.qweight, w.qzeros, w.scales], attrs, out);
            };
            times[activations].push(...time(run, reps));
          }
          // One run of the model covers every layer: time per layer.
          const ortReps = Math.max(1, Math.ceil(reps / layers));
          const ortTimes = await timeAsync(() => session.run(xData, m, k), ortReps);
          times.ort.push(...ortTimes.map((ms) => ms / layers));
        }
        const work = { flops: 2 * m * n * k, bytes: first.bytes };
        for (const activations of ['f32', 'int8'])
          pushQuant(kernel, bits, m, n, k, threads, times[activations], { ...work, activations });
        pushQuant('ort_matmulnbits', bits, m, n, k, threads, times.ort, {
          flops: work.flops,
          bytes: ortBytes,
          accuracyLevel: 4,
        });
        if (
          bandwidthTimes.length > 0 &&
          !records.some((b) => b.kernel === 'read_bandwidth' && b.threads === threads)
        ) {
          const bytes = BANDWIDTH_MIB * 2 ** 20;
          record({ kernel: 'read_bandwidth', threads, extra: { bytes } }, bandwidthTimes, {
            bytes,
          });
        }
        for (const t of [x, out]) t.dispose();
      }
      await decodeSession.release();
      await prefillSession.release();
      for (const w of weights) for (const t of [w.qweight, w.qzeros, w.scales]) t.dispose();
    }
  }
}

// --- output ---

/** ' desc_act', ' (ops)', ' int8 x' and the like, for a quant record. */
function quantNotes(r) {
  const notes = [];
  if (r.desc_act) notes.push(' desc_act');
  if (r.path) notes.push(` (${r.path})`);
  if (r.activations) notes.push(` ${r.activations} x`);
  if (r.accuracy_level !== undefined) notes.push(` accuracy_level ${r.accuracy_level}`);
  return notes.join('');
}

function describe(r) {
  const dims = r.m === null ? `${r.bytes / 2 ** 20} MiB` : `${r.m}x${r.n}x${r.k}`;
  if (r.bits !== undefined)
    return `${r.kernel} ${r.bits}-bit g${r.group_size}${quantNotes(r)} ${dims} t=${r.threads}: ${r.ms} ms ${r.gflops} GFLOP/s ${r.gbps} GB/s`;
  const extras = ['layout', 'coretype', 'variant'].filter((key) => r[key] !== undefined);
  return `${r.kernel} ${r.dtype ?? ''} ${dims} t=${r.threads}: ${r.ms} ms (${r.min_ms}-${r.max_ms}) ${r.gflops ?? '-'} GFLOP/s ${r.gbps ?? '-'} GB/s ${extras.map((key) => r[key]).join(' ')}`;
}

function table() {
  const columns = [
    ['kernel', (r) => r.kernel],
    [
      'dtype',
      (r) =>
        r.bits !== undefined ? `${r.bits}-bit g${r.group_size}${quantNotes(r)}` : (r.dtype ?? ''),
    ],
    ['m', (r) => r.m ?? ''],
    ['n', (r) => r.n ?? ''],
    ['k', (r) => r.k ?? ''],
    ['threads', (r) => r.threads],
    ['ms (median)', (r) => r.ms.toFixed(3)],
    [
      'min-max ms',
      (r) => (r.min_ms === undefined ? '' : `${r.min_ms.toFixed(3)}-${r.max_ms.toFixed(3)}`),
    ],
    ['GFLOP/s', (r) => (r.gflops === null ? '' : r.gflops.toFixed(1))],
    ['GB/s', (r) => (r.gbps === null ? '' : r.gbps.toFixed(1))],
    ['notes', (r) => [r.layout, r.coretype, r.variant].filter(Boolean).join(', ')],
  ];
  const rows = records.map((r) => columns.map(([, cell]) => String(cell(r))));
  const widths = columns.map(([title], i) =>
    Math.max(title.length, ...rows.map((row) => row[i].length)),
  );
  const line = (cells) => cells.map((cell, i) => cell.padEnd(widths[i])).join('  ');
  const lines = [line(columns.map(([title]) => title)), line(widths.map((w) => '-'.repeat(w)))];
  for (const row of rows) lines.push(line(row));
  lines.push('', ...targets());
  return lines.join('\n');
}

/** The targets, as ratios of this run's own measurements. */
function targets() {
  const find = (kernel, fields) =>
    records.find(
      (r) =>
        r.kernel === kernel && Object.entries(fields).every(([key, value]) => r[key] === value),
    );
  const lines = ['Targets (same run):'];
  for (const size of SQUARE.filter((s) => s >= 1024)) {
    for (const threads of threadCounts) {
      const ours = find('gemm', { m: size, n: size, k: size, threads, dtype: 'f32' });
      const peer = find('openblas_sgemm', {
        m: size,
        n: size,
        k: size,
        threads,
        coretype: 'SkylakeX',
      });
      if (!ours || !peer) continue;
      const ratio = ours.gflops / peer.gflops;
      lines.push(
        `  f32 GEMM ${size}^3, ${threads} thread(s): ${ours.gflops} vs OpenBLAS SkylakeX ${peer.gflops} GFLOP/s = ${(ratio * 100).toFixed(0)}% (target >= 90%)`,
      );
    }
  }
  const gemvF16 = find('gemv', { dtype: 'f16', n: 4096, k: 4096, threads: allThreads });
  const read = find('read_bandwidth', { threads: allThreads });
  if (gemvF16 && read) {
    const ratio = gemvF16.gbps / read.gbps;
    lines.push(
      `  f16 GEMV 4096x4096, ${allThreads} thread(s): ${gemvF16.gbps} vs read bandwidth ${read.gbps} GB/s = ${(ratio * 100).toFixed(0)}% (target >= 85%)`,
    );
  }
  const gemvF32 = find('gemv', { dtype: 'f32', n: 4096, k: 4096, threads: allThreads });
  for (const dtype of MIXED_WEIGHT_DTYPES) {
    const mixed = find('gemv_mixed', { dtype, n: 4096, k: 4096, threads: allThreads });
    if (!mixed || !gemvF32) continue;
    lines.push(
      `  f32 x ${dtype} GEMV 4096x4096, ${allThreads} thread(s): ${mixed.ms} ms, ${mixed.gbps} GB/s vs f32 x f32 ${gemvF32.ms} ms, ${gemvF32.gbps} GB/s = ${(gemvF32.ms / mixed.ms).toFixed(2)}x the speed (target >= 1x)`,
    );
  }
  for (const bits of QUANT_BITS) {
    for (const [n, k] of QUANT_WEIGHTS) {
      const qgemv = find('qgemv', { bits, n, k, threads: allThreads });
      const qgemm = find('qgemm', { bits, n, k, threads: allThreads });
      const gemmF32 = find('gemm', { dtype: 'f32', m: QUANT_PREFILL, n, k, threads: allThreads });
      if (qgemv && read) {
        const target = bits === 4 && n === 11008 ? ' (target >= 85%)' : '';
        lines.push(
          `  ${bits}-bit g${QUANT_GROUP} qgemv ${n}x${k}, ${allThreads} thread(s): ${qgemv.gbps} vs read bandwidth ${read.gbps} GB/s = ${((qgemv.gbps / read.gbps) * 100).toFixed(0)}%${target}`,
        );
      }
      if (qgemm && gemmF32) {
        lines.push(
          `  ${bits}-bit g${QUANT_GROUP} qgemm m=${QUANT_PREFILL} ${n}x${k}, ${allThreads} thread(s): ${qgemm.gflops} vs f32 GEMM ${gemmF32.gflops} GFLOP/s = ${((qgemm.gflops / gemmF32.gflops) * 100).toFixed(0)}% (target >= 70%)`,
        );
      }
    }
  }
  for (const [n, k] of QUANT_WEIGHTS) {
    for (const m of [1, QUANT_PREFILL]) {
      const kernel = m === 1 ? 'qgemv' : 'qgemm';
      const int8 = find(kernel, { bits: 4, m, n, k, threads: allThreads, activations: 'int8' });
      const f32 = find(kernel, { bits: 4, m, n, k, threads: allThreads, activations: 'f32' });
      const peer = find('ort_matmulnbits', { m, n, k, threads: allThreads });
      if (!int8 || !peer) continue;
      lines.push(
        `  4-bit g${QUANT_GROUP} m=${m} ${n}x${k}, ${allThreads} thread(s): int8 x ${int8.ms} ms (f32 x ${f32?.ms} ms) vs onnxruntime MatMulNBits accuracy_level 4 ${peer.ms} ms = ${(peer.ms / int8.ms).toFixed(2)}x its speed (target > 1x)`,
      );
    }
  }
  if (lines.length === 1) lines.push('  (needs the OpenBLAS peers and the full sizes)');
  return lines;
}

try {
  peers = buildPeers();
  progress(
    `bench: ${cpuInfo().isa}, threads ${threadCounts.join(' and ')}${smoke ? ' (smoke)' : ''}`,
  );
  if (runs('gemm')) {
    progress('square GEMM');
    squareGemm();
    progress('transformer GEMM (x @ W^T)');
    transformerGemm();
  }
  if (runs('gemv')) {
    progress('GEMV and read bandwidth');
    gemv();
  }
  if (runs('attention')) {
    progress('attention');
    attention();
  }
  if (runs('linalg')) {
    progress('cholesky and choleskyInverse');
    linalg();
  }
  if (runs('quant')) {
    progress('GPTQ quantMatmul (qgemv, qgemm), f32 GEMM and read bandwidth');
    quant();
  }
  if (only === 'desc_act') {
    progress('act-order (desc_act) against plain order, 4 bits, through core ops');
    descActOnly();
  }
  if (runs('quant') || runs('int8')) {
    progress('int8 activations: quantMatmul against onnxruntime MatMulNBits');
    await quantInt8();
  }
} finally {
  setThreads(allThreads);
  if (peersDir) rmSync(peersDir, { recursive: true, force: true });
}

process.stdout.write(asJson ? `${JSON.stringify(records, null, 1)}\n` : `${table()}\n`);

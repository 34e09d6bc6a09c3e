// Timings on a GPU machine (bundled by scripts/device-bundle.mjs into .device/gpu-bench.mjs):
// the fp16 tensor-core GEMM, GEMV, the 4-bit GPTQ GEMV, attention and GPTQ's linear algebra
// (cholesky, choleskyInverse, gptqQuantizeBlock), each the median of several
// runs after a warm-up, with the peak device memory. bench/torch_peer.py times torch on the same
// shapes in the same run, for docs/benchmarks.md. Writes $OUT/gpu-bench.json.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  add,
  cholesky,
  choleskyInverse,
  contiguous,
  type DType,
  matmul,
  mul,
  narrow,
  type QuantAttrs,
  quantMatmul,
  runKernel,
  scaledDotProductAttention,
  scope,
  type Tensor,
  tensor,
  transpose,
  withBackend,
} from '@slimlm/core';
import { sample, sampleQuantizedWeight } from '@slimlm/core/testing';
import { CUDA, deviceInfo, memoryStats, resetPeakMemoryStats, synchronize } from '../src/index';

interface Timing {
  name: string;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** TFLOP/s for products, GB/s of the operands read for memory-bound kernels. */
  rate: number;
  unit: 'TFLOP/s' | 'GB/s';
  peakAllocatedBytes: number;
}

function onCuda(shape: number[], seed: number, dtype: DType = 'f32'): Tensor {
  const values = withBackend('reference', () => sample(shape, seed).dataSync());
  return withBackend(CUDA, () => tensor(values, { shape, dtype }));
}

/** Median of `repeats` timed runs of fn (synchronised), after `warmup` untimed ones. */
function time(
  name: string,
  work: number,
  unit: Timing['unit'],
  fn: () => void,
  repeats = 20,
): Timing {
  resetPeakMemoryStats();
  for (let i = 0; i < 3; i++) scope(fn);
  synchronize();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    scope(fn);
    synchronize();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const medianMs = times[Math.floor(times.length / 2)]!;
  const rate = work / (medianMs / 1000) / (unit === 'TFLOP/s' ? 1e12 : 1e9);
  const timing = {
    name,
    medianMs,
    minMs: times[0]!,
    maxMs: times[times.length - 1]!,
    rate,
    unit,
    peakAllocatedBytes: memoryStats().peakAllocatedBytes,
  };
  console.log(
    `${name}: ${medianMs.toFixed(3)} ms (${times[0]!.toFixed(3)}-${times[times.length - 1]!.toFixed(3)}), ${rate.toFixed(1)} ${unit}`,
  );
  return timing;
}

const timings: Timing[] = [];

for (const dtype of ['f16', 'bf16'] as const) {
  const n = 4096;
  const a = onCuda([n, n], 1, dtype);
  const w = onCuda([n, n], 2, dtype);
  timings.push(
    time(
      `matmul ${dtype} ${n}x${n}x${n} (x @ W^T)`,
      2 * n ** 3,
      'TFLOP/s',
      () => void matmul(a, transpose(w)),
    ),
  );
  const x = onCuda([1, n], 3, dtype);
  timings.push(
    time(
      `matmul ${dtype} GEMV 1x${n} @ ${n}x${n}`,
      n * n * 2,
      'GB/s',
      () => void matmul(x, transpose(w)),
    ),
  );
}

for (const [k, n] of [
  [4096, 4096],
  [4096, 11008],
  [11008, 4096],
] as const) {
  const attrs: QuantAttrs = { bits: 4, groupSize: 128, zeroOffset: 1 };
  const weight = withBackend(CUDA, () => sampleQuantizedWeight(k, n, attrs, 4));
  const packedBytes = (k * n) / 2 + (k / 128) * n * 2.5;
  for (const m of [1, 8, 512]) {
    const x = onCuda([m, k], 5);
    const work = m > 8 ? 2 * m * k * n : packedBytes;
    timings.push(
      time(
        `quantMatmul 4-bit g128 ${m}x${k} @ ${k}x${n}`,
        work,
        m > 8 ? 'TFLOP/s' : 'GB/s',
        () => void quantMatmul(x, weight, attrs),
      ),
    );
  }
}

{
  const [heads, depth] = [32, 128];
  const q = onCuda([1, heads, 1, depth], 6, 'f16');
  const k = onCuda([1, heads, 4096, depth], 7, 'f16');
  const v = onCuda([1, heads, 4096, depth], 8, 'f16');
  timings.push(
    time(
      'attention decode f16 32 heads, 4096 keys, D 128',
      2 * heads * 4096 * depth * 2,
      'GB/s',
      () => void scaledDotProductAttention(q, k, v, { causal: true }),
    ),
  );
  const qp = onCuda([1, heads, 2048, depth], 9, 'f16');
  const kp = onCuda([1, heads, 2048, depth], 10, 'f16');
  const vp = onCuda([1, heads, 2048, depth], 11, 'f16');
  timings.push(
    time(
      'attention prefill f16 32 heads, 2048 x 2048, D 128, causal',
      (2 * 2 * heads * 2048 * 2048 * depth) / 2,
      'TFLOP/s',
      () => void scaledDotProductAttention(qp, kp, vp, { causal: true }),
      5,
    ),
  );
}

// GPTQ's linear algebra at the sizes of a 7B layer's Hessian (K = 4096 for q/k/v/o/gate/up,
// 11008 for down): the factorisation, the inverse from the factor, and one lazy-update block of
// 128 columns over K rows (the column loop of a square layer).
for (const k of [4096, 11008]) {
  // H = X Xᵀ / k + I from random X: symmetric positive definite and well conditioned.
  const x = onCuda([k, k], 12);
  const identity = withBackend(CUDA, () => {
    const values = new Float32Array(k * k);
    for (let i = 0; i < k; i++) values[i * k + i] = 1;
    return tensor(values, { shape: [k, k] });
  });
  const h = withBackend(CUDA, () => add(mul(matmul(x, transpose(x)), 1 / k), identity));
  x.dispose();
  identity.dispose();
  timings.push(time(`cholesky f32 ${k}x${k}`, k ** 3 / 3, 'TFLOP/s', () => void cholesky(h), 5));
  const factor = cholesky(h);
  h.dispose();
  timings.push(
    time(
      `choleskyInverse f32 ${k}x${k}`,
      (2 * k ** 3) / 3,
      'TFLOP/s',
      () => void choleskyInverse(factor),
      5,
    ),
  );
  // hinv as GPTQ makes it: the upper Cholesky factor of H⁻¹, here its first 128 x 128 block.
  const hinv = scope(() => {
    const upper = cholesky(choleskyInverse(factor), { upper: true });
    return contiguous(narrow(narrow(upper, 0, 0, 128), 1, 0, 128));
  });
  factor.dispose();
  const [rows, cols, groups] = [k, 128, 1];
  const w = onCuda([rows, cols], 13);
  const scales = withBackend(CUDA, () =>
    tensor(new Float32Array(groups * rows).fill(0.05), { shape: [groups, rows] }),
  );
  const zeros = withBackend(CUDA, () =>
    tensor(new Float32Array(groups * rows).fill(8), { shape: [groups, rows] }),
  );
  const params = withBackend(CUDA, () => tensor(new Int32Array(cols), { shape: [cols] }));
  const outputs = [
    ...Array.from({ length: 3 }, () => ({ shape: [rows, cols], dtype: 'f32' as const })),
    { shape: [rows, cols], dtype: 'u8' as const },
  ];
  timings.push(
    time(
      `gptqQuantizeBlock ${rows} rows x ${cols} columns`,
      rows * cols * cols,
      'TFLOP/s',
      () =>
        void runKernel(
          'gptqQuantizeBlock',
          [w, hinv, scales, zeros, params],
          { maxq: 15 },
          outputs,
        ),
    ),
  );
}

writeFileSync(
  join(process.env.OUT ?? '.', 'gpu-bench.json'),
  JSON.stringify({ device: deviceInfo(), timings }, null, 2),
);

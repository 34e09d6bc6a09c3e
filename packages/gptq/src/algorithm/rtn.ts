import {
  cast,
  contiguous,
  formatShape,
  type KernelArgs,
  registerKernel,
  runKernel,
  SlimlmError,
  scope,
  type Tensor,
  toBackend,
} from '@slimlm/core';
import type { Bits } from '../format/pack';
import { backendRunning } from '../kernel-backend';
import type { LayerQuantization } from './gptq';
import {
  checkQuantizerSettings,
  dequantizeCode,
  findParams,
  type MseSearch,
  maxCode,
  mseSearchOf,
  type QuantizerSettings,
  quantizeCode,
} from './quantizer';

/** Attributes of 'gptqRtnQuantize'. */
export interface GptqRtnAttrs {
  bits: Bits;
  sym: boolean;
  /** Columns per group (consecutive; the last group may be shorter); K for one group. */
  groupSize: number;
  /** The range search of the reference's `mse` option; absent for the plain range. */
  mse?: MseSearch;
}

/** What 'gptqRtnQuantize' returns. */
export interface GptqRtnResult {
  /** Integer codes u8 [N, K]. */
  codes: Tensor;
  /** Fake-quantized weights scale * (code - zero), f32 [N, K]. */
  q: Tensor;
  /** f32 [G, N]. */
  scales: Tensor;
  /** Integer-valued zero points z, f32 [G, N]. */
  zeros: Tensor;
  /** Σ (w - q)² of each row, f64 [N] (kernels may sum in different orders: equal to f64 rounding). */
  losses: Tensor;
}

/**
 * Round to nearest of a weight w f32 [N, K] in one fused op: each row's group of `groupSize`
 * consecutive columns gets the reference quantizer's parameters from its own weights
 * (`findParams`), and each weight its nearest code (`quantizeCode`), every step rounded to f32
 * like the reference's torch code, so all kernels give the same codes, scales, zeros and q.
 */
export function gptqRtnQuantize(w: Tensor, attrs: GptqRtnAttrs): GptqRtnResult {
  const op = 'gptqRtnQuantize';
  w.assertAlive(op);
  if (w.dtype !== 'f32')
    throw new SlimlmError('DTYPE_MISMATCH', `${op}: w must be f32, got ${w.dtype}`);
  if (w.rank !== 2)
    throw new SlimlmError('SHAPE_MISMATCH', `${op}: w must be [N, K], got ${formatShape(w.shape)}`);
  checkQuantizerSettings(op, attrs);
  const [n, k] = w.shape as [number, number];
  if (attrs.groupSize < 1)
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `${op}: groupSize must be a positive number of columns (K = ${k} for one group), got ${attrs.groupSize}`,
    );
  const groups = Math.ceil(k / attrs.groupSize);
  return scope(() => {
    const [codes, q, scales, zeros, losses] = runKernel(op, [contiguous(w)], attrs, [
      { shape: [n, k], dtype: 'u8' },
      { shape: [n, k], dtype: 'f32' },
      { shape: [groups, n], dtype: 'f32' },
      { shape: [groups, n], dtype: 'f32' },
      { shape: [n], dtype: 'f64' },
    ]) as [Tensor, Tensor, Tensor, Tensor, Tensor];
    return { codes, q, scales, zeros, losses };
  });
}

/** The reference kernel: findParams per group, then quantizeCode per weight, row by row. */
function referenceKernel({ inputs, outputs, attrs }: KernelArgs<GptqRtnAttrs>): void {
  const wT = inputs[0]!;
  const [n, k] = wT.shape as [number, number];
  const w = wT.storage.handle as Float32Array;
  const [codes, q, scales, zeros, losses] = outputs.map((t) => t.storage.handle) as [
    Uint8Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float64Array,
  ];
  const [cOff, qOff, sOff, zOff, lOff] = outputs.map((t) => t.offset) as number[];
  const maxq = maxCode(attrs.bits);
  const g = attrs.groupSize;
  for (let id = 0, start = 0; start < k; id++, start += g) {
    const width = Math.min(g, k - start);
    const params = findParams(w, n, width, k, wT.offset + start, attrs);
    scales.set(params.scale, sOff! + id * n);
    zeros.set(params.zero, zOff! + id * n);
  }
  for (let r = 0; r < n; r++) {
    let loss = 0;
    for (let c = 0; c < k; c++) {
      const id = Math.floor(c / g);
      const scale = scales[sOff! + id * n + r]!;
      const zero = zeros[zOff! + id * n + r]!;
      const x = w[wT.offset + r * k + c]!;
      const code = quantizeCode(x, scale, zero, maxq);
      const value = dequantizeCode(code, scale, zero);
      codes[cOff! + r * k + c] = code;
      q[qOff! + r * k + c] = value;
      const d = x - value;
      loss += d * d;
    }
    losses[lOff! + r] = loss;
  }
}

registerKernel({ op: 'gptqRtnQuantize', backend: 'reference', fn: referenceKernel });

/**
 * Round to nearest, the baseline GPTQ is measured against: each group of consecutive columns gets
 * the quantizer's parameters from its own weights, and every weight its nearest code (one
 * 'gptqRtnQuantize' op). `loss` is the plain squared error Σ (w - q)² (there is no Hessian);
 * `damp` is 0.
 */
export function rtnQuantize(weight: Tensor, options: QuantizerSettings): LayerQuantization {
  const started = performance.now();
  checkQuantizerSettings('rtnQuantize', options);
  if (weight.rank !== 2)
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `rtnQuantize: weight must be [N, K], got ${formatShape(weight.shape)}`,
    );
  const k = weight.shape[1]!;
  const g = options.groupSize === -1 ? k : options.groupSize;
  const mse = mseSearchOf(options);
  // Quantized where the op has a kernel (the host, for a GPU's weight); q comes back beside it.
  const home = weight.backend.name;
  const runner = backendRunning('gptqRtnQuantize', home);
  const w = scope(() => {
    const moved = runner === home ? weight : toBackend(weight, runner);
    return moved.dtype === 'f32' ? moved : cast(moved, 'f32');
  });
  let result: GptqRtnResult;
  try {
    result = gptqRtnQuantize(w, {
      bits: options.bits,
      sym: options.sym,
      groupSize: g,
      ...(mse === undefined ? {} : { mse }),
    });
  } finally {
    if (w !== weight) w.dispose();
  }
  if (runner !== home) {
    const q = result.q;
    result = { ...result, q: toBackend(q, home) };
    q.dispose();
  }
  try {
    const gIdx = new Int32Array(k);
    for (let c = 0; c < k; c++) gIdx[c] = Math.floor(c / g);
    let loss = 0;
    for (const value of result.losses.dataSync()) loss += value;
    return {
      codes: result.codes.dataSync() as Uint8Array,
      scales: result.scales.dataSync() as Float32Array,
      zeros: result.zeros.dataSync() as Float32Array,
      gIdx,
      dequantized: result.q,
      loss,
      damp: 0,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    for (const t of [result.codes, result.scales, result.zeros, result.losses]) t.dispose();
  }
}

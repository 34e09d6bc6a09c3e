import type { DType } from '../dtype';
import { runKernel1 } from '../engine';
import { SlimlmError } from '../errors';
import { registerGradient } from '../kernels';
import { formatShape } from '../shape';
import type { Tensor } from '../tensor';
import { cast } from './cast';
import { zerosLike } from './creation';
import { scatterAdd } from './indexing';
import { matmul } from './matmul';
import { sum } from './reduce';
import { contiguous, reshape } from './view';

/**
 * A GPTQ-packed weight of a Linear with K input and N output features (FORMATS.md): integer codes
 * packed along K, zero points packed along N, one scale per (group, output channel).
 */
export interface QuantizedWeight {
  /** i32 [K * bits / 32, N]: codes of 32 / bits input channels per word, lowest bits first. */
  qweight: Tensor;
  /** i32 [G, N * bits / 32]: zero points (v1 stores z - 1, v2 stores z), packed along N. */
  qzeros: Tensor;
  /** f16, bf16 or f32 [G, N]. */
  scales: Tensor;
}

export interface QuantAttrs {
  bits: 2 | 3 | 4 | 8;
  /** Input channels per group (consecutive); K for a single group. */
  groupSize: number;
  /**
   * 1 for v1 ('gptq') checkpoints, which store z - 1: the reader adds 1 and masks,
   * (qz + 1) & (2^bits - 1). 0 for v2 ('gptq_v2'), which stores z.
   */
  zeroOffset: 0 | 1;
  /**
   * How quantMatmul multiplies (dequantize ignores it). 'f32' (default): x times the dequantized
   * weight in f32. 'int8' (bits 2, 4 and 8), the mode of onnxruntime's MatMulNBits at
   * accuracy_level 4: x is quantized per row and block of L input channels (L = 128, 64 or 32, the
   * largest dividing the group length min(groupSize, K)) to xq = round(x * (127 / max|x|)) (f32
   * product, nearest even) with scale d = max|x| / 127, and
   * y[i, j] = Σ_blocks s[g, j] · d[i, b] · Σ_k xq[i, k] · (q[k, j] − z[g, j]), the inner sum an exact
   * integer. Faster on CPUs with int8 dot products; costs a little accuracy (see docs/benchmarks.md).
   * A block holding an infinity or a NaN makes its row NaN.
   */
  activations?: QuantActivations;
}

/**
 * The attributes quantMatmul's kernels receive: QuantAttrs, and `permuted` when the last input is
 * a permutation perm i32 [K] of x's channels (see quantMatmul). Inputs: x, qweight, qzeros,
 * scales, then bias if any, then perm if permuted.
 */
export interface QuantMatmulAttrs extends QuantAttrs {
  permuted?: boolean;
}

/** The message of a permutation entry outside [0, K), for every backend's kernel to throw. */
export function badPermutationError(at: number, value: number, k: number): SlimlmError {
  return invalid('quantMatmul', `perm[${at}] = ${value} is not an input channel (0 to ${k - 1})`);
}

/** quantMatmul's kernel inputs by name: x, the packed weight, then bias and perm where present. */
export function quantMatmulOperands(
  inputs: readonly Tensor[],
  attrs: QuantMatmulAttrs,
): {
  x: Tensor;
  qweight: Tensor;
  qzeros: Tensor;
  scales: Tensor;
  bias: Tensor | undefined;
  perm: Tensor | undefined;
} {
  const [x, qweight, qzeros, scales] = inputs as [Tensor, Tensor, Tensor, Tensor];
  const permuted = attrs.permuted === true;
  return {
    x,
    qweight,
    qzeros,
    scales,
    bias: inputs.length === (permuted ? 6 : 5) ? inputs[4] : undefined,
    perm: permuted ? inputs[inputs.length - 1] : undefined,
  };
}

/** Throws badPermutationError at the first entry of perm [K] outside [0, K). */
export function checkPermutation(perm: ArrayLike<number>, k: number): void {
  for (let i = 0; i < k; i++) {
    const from = perm[i]!;
    if (!(from >= 0 && from < k)) throw badPermutationError(i, from, k);
  }
}

/** Rows of K values (`values` [rows, K]) with channel i read from channel perm[i], perm checked. */
export function permuteChannels(
  values: ArrayLike<number>,
  perm: ArrayLike<number>,
  k: number,
): Float32Array {
  checkPermutation(perm, k);
  const result = new Float32Array(values.length);
  for (let i = 0; i < k; i++) {
    const from = perm[i]!;
    for (let row = 0; row < values.length; row += k) result[row + i] = values[row + from]!;
  }
  return result;
}

/** The arithmetic of quantMatmul: see {@link QuantAttrs.activations}. */
export type QuantActivations = 'f32' | 'int8';

/**
 * Whether int8 activations (QuantAttrs.activations 'int8') can serve a packed weight of K input
 * channels: 2, 4 or 8 bits, K and the group length multiples of 32 (x is quantized in blocks of
 * 32, 64 or 128 channels that never straddle a group).
 */
export function takesInt8Activations(bits: number, k: number, groupSize: number): boolean {
  return bits !== 3 && k % 32 === 0 && (groupSize >= k || groupSize % 32 === 0);
}

/** Dimensions of a validated quantized weight. */
export interface QuantShape {
  k: number;
  n: number;
  groups: number;
}

const SCALE_DTYPES: readonly DType[] = ['f16', 'bf16', 'f32'];
const BITS: readonly number[] = [2, 3, 4, 8];

function invalid(op: string, message: string): SlimlmError {
  return new SlimlmError('INVALID_ARGUMENT', `${op}: ${message}`);
}

function shapeError(op: string, message: string): SlimlmError {
  return new SlimlmError('SHAPE_MISMATCH', `${op}: ${message}`);
}

function expectDType(op: string, name: string, t: Tensor, allowed: readonly DType[]): void {
  if (!allowed.includes(t.dtype)) {
    throw new SlimlmError(
      'DTYPE_MISMATCH',
      `${op}: ${name} must be ${allowed.join(' or ')}, got ${t.dtype}`,
    );
  }
}

/**
 * Checks a packed weight and its attributes against each other and returns K, N and the group
 * count. K comes from qweight's rows (K = rows * 32 / bits), N from scales' columns.
 */
export function checkQuantizedWeight(
  op: string,
  w: QuantizedWeight,
  attrs: QuantAttrs,
): QuantShape {
  const { qweight, qzeros, scales } = w;
  for (const t of [qweight, qzeros, scales]) t.assertAlive(op);
  const { bits, groupSize, zeroOffset, activations = 'f32' } = attrs;
  if (!BITS.includes(bits)) throw invalid(op, `bits must be 2, 3, 4 or 8, got ${bits}`);
  if (activations !== 'f32' && activations !== 'int8')
    throw invalid(op, `activations must be 'f32' or 'int8', got '${String(activations)}'`);
  if (activations === 'int8' && bits === 3)
    throw invalid(op, `int8 activations need 2, 4 or 8 bits, got 3 (use activations 'f32')`);
  if (zeroOffset !== 0 && zeroOffset !== 1)
    throw invalid(op, `zeroOffset must be 0 (gptq_v2) or 1 (gptq), got ${zeroOffset}`);
  expectDType(op, 'qweight', qweight, ['i32']);
  expectDType(op, 'qzeros', qzeros, ['i32']);
  expectDType(op, 'scales', scales, SCALE_DTYPES);
  for (const [name, t] of [
    ['qweight', qweight],
    ['qzeros', qzeros],
    ['scales', scales],
  ] as const) {
    if (t.rank !== 2) throw shapeError(op, `${name} must be 2-D, got ${formatShape(t.shape)}`);
  }
  const [groups, n] = scales.shape as [number, number];
  const [rows, qweightColumns] = qweight.shape as [number, number];
  const k = (rows * 32) / bits;
  if (!Number.isInteger(k))
    throw shapeError(
      op,
      `qweight ${formatShape(qweight.shape)} has ${rows} rows, not a whole number of input channels at ${bits} bits (rows * 32 / bits)`,
    );
  if (qweightColumns !== n)
    throw shapeError(
      op,
      `qweight ${formatShape(qweight.shape)} has ${qweightColumns} columns but scales ${formatShape(scales.shape)} has ${n} output channels`,
    );
  if (bits === 3 && (k % 32 !== 0 || n % 32 !== 0))
    throw shapeError(
      op,
      `3-bit packing needs K and N multiples of 32, got K = ${k} (qweight ${formatShape(qweight.shape)}) and N = ${n}`,
    );
  if ((n * bits) % 32 !== 0)
    throw shapeError(
      op,
      `N = ${n} output channels do not fill whole qzeros words at ${bits} bits (N * bits must be a multiple of 32)`,
    );
  if (!Number.isInteger(groupSize) || groupSize < 1)
    throw invalid(
      op,
      `groupSize must be a positive integer (K = ${k} for one group), got ${groupSize}`,
    );
  if (activations === 'int8' && !takesInt8Activations(bits, k, groupSize))
    throw shapeError(
      op,
      `int8 activations need K and the group size multiples of 32, got K = ${k} and groupSize ${groupSize}`,
    );
  const expectedGroups = Math.ceil(k / groupSize);
  if (groups !== expectedGroups)
    throw shapeError(
      op,
      `scales ${formatShape(scales.shape)} has ${groups} groups, expected ceil(K / groupSize) = ceil(${k} / ${groupSize}) = ${expectedGroups}`,
    );
  const expectedZeros = [groups, (n * bits) / 32];
  if (qzeros.shape[0] !== expectedZeros[0] || qzeros.shape[1] !== expectedZeros[1])
    throw shapeError(
      op,
      `qzeros ${formatShape(qzeros.shape)} does not match scales ${formatShape(scales.shape)} at ${bits} bits; expected ${formatShape(expectedZeros)}`,
    );
  return { k, n, groups };
}

/**
 * `x @ W^T (+ bias)` for a GPTQ-packed W [N, K] (W[n, k] = scale[g, n] * (q[k, n] - z[g, n]) with
 * g = floor(k / groupSize)), without materialising W: the HF Linear forward of a quantized layer.
 * x is f32 [..., K]; the result is f32 [..., N]. Groups here are always consecutive: act-order
 * checkpoints (a non-monotonic g_idx) are reordered once at load by their caller, which passes
 * the order as `perm` (i32 [K]): input channel i of W then reads x's channel perm[i], i.e. the
 * product is gather(x, perm, -1) @ W^T, with the gather folded into the kernel's read of x (no
 * extra op or host-side check per call; kernels reject entries outside [0, K)). The bias (f32,
 * f16 or bf16 [N]) is added after the product. Records a gradient for x and the bias (the packed
 * weight is constant); with int8 activations the gradient of x is that of the f32 product (the
 * rounding of x is passed straight through).
 */
export function quantMatmul(
  x: Tensor,
  w: QuantizedWeight,
  attrs: QuantAttrs,
  bias?: Tensor | null,
  perm?: Tensor | null,
): Tensor {
  const op = 'quantMatmul';
  x.assertAlive(op);
  const { k, n } = checkQuantizedWeight(op, w, attrs);
  expectDType(op, 'x', x, ['f32']);
  if (x.rank === 0 || x.shape[x.rank - 1] !== k)
    throw shapeError(
      op,
      `x ${formatShape(x.shape)} must end in K = ${k} input features (qweight ${formatShape(w.qweight.shape)} at ${attrs.bits} bits)`,
    );
  if (bias) {
    bias.assertAlive(op);
    expectDType(op, 'bias', bias, SCALE_DTYPES);
    if (bias.rank !== 1 || bias.shape[0] !== n)
      throw shapeError(op, `bias ${formatShape(bias.shape)} must be [${n}] (N output channels)`);
  }
  if (perm) {
    perm.assertAlive(op);
    expectDType(op, 'perm', perm, ['i32']);
    if (perm.rank !== 1 || perm.shape[0] !== k)
      throw shapeError(
        op,
        `perm ${formatShape(perm.shape)} must be [${k}] (one input channel of x per row of W)`,
      );
  }
  const inputs = [contiguous(x), w.qweight, w.qzeros, w.scales];
  if (bias) inputs.push(bias);
  if (perm) inputs.push(contiguous(perm));
  const kernelAttrs: QuantMatmulAttrs = {
    bits: attrs.bits,
    groupSize: attrs.groupSize,
    zeroOffset: attrs.zeroOffset,
    ...(attrs.activations === 'int8' ? { activations: 'int8' as const } : {}),
    ...(perm ? { permuted: true } : {}),
  };
  return runKernel1(op, inputs, kernelAttrs, { shape: [...x.shape.slice(0, -1), n], dtype: 'f32' });
}

/**
 * The f32 weight [N, K] (the HF Linear layout) of a GPTQ-packed weight: W[n, k] =
 * scale[g, n] * (q[k, n] - z[g, n]), the scale widened exactly, q - z an integer and the product
 * rounded to f32. The group of input channel k is gIdx[k] when given (i32 [K], any order, each in
 * [0, G)), else floor(k / groupSize).
 */
export function dequantize(w: QuantizedWeight, attrs: QuantAttrs, gIdx?: Tensor | null): Tensor {
  const op = 'dequantize';
  const { k, n, groups } = checkQuantizedWeight(op, w, attrs);
  const inputs = [w.qweight, w.qzeros, w.scales];
  if (gIdx) {
    gIdx.assertAlive(op);
    expectDType(op, 'gIdx', gIdx, ['i32']);
    if (gIdx.rank !== 1 || gIdx.shape[0] !== k)
      throw shapeError(
        op,
        `gIdx ${formatShape(gIdx.shape)} must be [${k}] (one group per input channel)`,
      );
    const values = gIdx.dataSync();
    for (let i = 0; i < k; i++) {
      const g = values[i]!;
      if (!(g >= 0 && g < groups))
        throw invalid(op, `gIdx[${i}] = ${g} is not a group of scales (0 to ${groups - 1})`);
    }
    inputs.push(gIdx);
  }
  const kernelAttrs: QuantAttrs = {
    bits: attrs.bits,
    groupSize: attrs.groupSize,
    zeroOffset: attrs.zeroOffset,
  };
  return runKernel1(op, inputs, kernelAttrs, { shape: [n, k], dtype: 'f32' });
}

// dx = dy @ W, with W [N, K] dequantized once per backward pass (a permuted product scatters it
// back to x's channels); dbias sums dy over all leading axes. The packed tensors are integer (or
// constant scales) and the permutation an index: they get no gradient.
registerGradient<QuantMatmulAttrs>(
  'quantMatmul',
  ({ inputs, gradOutputs: [dy], attrs, needsGrad }) => {
    const { x, qweight, qzeros, scales, bias, perm } = quantMatmulOperands(inputs, attrs);
    let gradX: Tensor | null = null;
    if (needsGrad[0]) {
      gradX = matmul(dy!, dequantize({ qweight, qzeros, scales }, attrs));
      if (perm) gradX = scatterAdd(zerosLike(x), perm, gradX, -1);
    }
    let gradBias: Tensor | null = null;
    if (bias && needsGrad[4]) {
      gradBias = sum(reshape(dy!, [-1, bias.shape[0]!]), 0);
      if (gradBias.dtype !== bias.dtype) gradBias = cast(gradBias, bias.dtype);
    }
    return [gradX, null, null, null, ...(bias ? [gradBias] : []), ...(perm ? [null] : [])];
  },
);

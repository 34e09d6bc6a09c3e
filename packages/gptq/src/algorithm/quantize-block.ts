import {
  contiguous,
  formatShape,
  type KernelArgs,
  registerKernel,
  runKernel,
  SlimlmError,
  scope,
  type Tensor,
} from '@slimlm/core';
import { quantizeCode } from './quantizer';

/** Attributes of 'gptqQuantizeBlock'. */
export interface GptqQuantizeBlockAttrs {
  /** The largest code, 2^bits - 1. */
  maxq: number;
}

/** What 'gptqQuantizeBlock' returns, all [N, B]. */
export interface GptqBlockResult {
  /** Fake-quantized weights scale * (q - zero). */
  q: Tensor;
  /** The scaled errors (w - q) / Hinv[i, i] that the caller applies to the later columns. */
  err: Tensor;
  /** The reference's Losses1 / 2: (w - q)^2 / Hinv[i, i]^2 / 2. */
  losses: Tensor;
  /** Integer codes (u8). */
  codes: Tensor;
}

function shapeError(message: string): SlimlmError {
  return new SlimlmError('SHAPE_MISMATCH', `gptqQuantizeBlock: ${message}`);
}

function dtypeError(name: string, t: Tensor, dtype: string): SlimlmError {
  return new SlimlmError(
    'DTYPE_MISMATCH',
    `gptqQuantizeBlock: ${name} must be ${dtype}, got ${t.dtype}`,
  );
}

/**
 * The GPTQ column loop over one block of B columns, for every one of the N rows at once (rows are
 * independent inside a block). Column i, left to right, is quantized with the parameters of row
 * `params[i]` of `scales`/`zeros`, its scaled error err = (w - q) / hinv[i, i] is recorded, and
 * err * hinv[i, j] is subtracted from every later column j of the block; only the upper triangle
 * of `hinv` is read. Group parameters are inputs, not computed here, because the reference takes
 * them from the weights outside the block (FORMATS.md, "Matching the reference exactly").
 *
 * Inputs: w f32 [N, B], hinv f32 [B, B], scales and zeros f32 [P, N], params i32 [B] (each < P).
 * Kernels compute in f32, rounding each step like the reference's torch code.
 */
export function gptqQuantizeBlock(
  w: Tensor,
  hinv: Tensor,
  scales: Tensor,
  zeros: Tensor,
  params: Tensor,
  attrs: GptqQuantizeBlockAttrs,
): GptqBlockResult {
  for (const [name, t] of [
    ['w', w],
    ['hinv', hinv],
    ['scales', scales],
    ['zeros', zeros],
  ] as const) {
    if (t.dtype !== 'f32') throw dtypeError(name, t, 'f32');
    if (t.rank !== 2) throw shapeError(`${name} must be 2-D, got ${formatShape(t.shape)}`);
  }
  if (params.dtype !== 'i32') throw dtypeError('params', params, 'i32');
  const [n, b] = w.shape as [number, number];
  const p = scales.shape[0]!;
  if (hinv.shape[0] !== b || hinv.shape[1] !== b)
    throw shapeError(
      `hinv must be [${b}, ${b}] for w ${formatShape(w.shape)}, got ${formatShape(hinv.shape)}`,
    );
  if (scales.shape[1] !== n || zeros.shape[0] !== p || zeros.shape[1] !== n)
    throw shapeError(
      `scales and zeros must both be [P, ${n}], got ${formatShape(scales.shape)} and ${formatShape(zeros.shape)}`,
    );
  if (params.rank !== 1 || params.shape[0] !== b)
    throw shapeError(`params must be [${b}], got ${formatShape(params.shape)}`);
  if (!(Number.isInteger(attrs.maxq) && attrs.maxq > 0))
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `gptqQuantizeBlock: maxq must be a positive integer, got ${attrs.maxq}`,
    );
  return scope(() => {
    const inputs = [w, hinv, scales, zeros, params].map((t) => contiguous(t));
    const [q, err, losses, codes] = runKernel('gptqQuantizeBlock', inputs, attrs, [
      { shape: [n, b], dtype: 'f32' },
      { shape: [n, b], dtype: 'f32' },
      { shape: [n, b], dtype: 'f32' },
      { shape: [n, b], dtype: 'u8' },
    ]) as [Tensor, Tensor, Tensor, Tensor];
    return { q, err, losses, codes };
  });
}

const f32 = Math.fround;

/**
 * The reference kernel, in plain f32 steps. The row being worked on lives in `err`'s row: entry i
 * holds the updated weight until column i is quantized, then its error.
 */
function referenceKernel({ inputs, outputs, attrs }: KernelArgs<GptqQuantizeBlockAttrs>): void {
  const [wT, hT, sT, zT, pT] = inputs as [Tensor, Tensor, Tensor, Tensor, Tensor];
  const [n, b] = wT.shape as [number, number];
  const w = wT.storage.handle as Float32Array;
  const h = hT.storage.handle as Float32Array;
  const scales = sT.storage.handle as Float32Array;
  const zeros = zT.storage.handle as Float32Array;
  const params = pT.storage.handle as Int32Array;
  const [qOut, errOut, lossOut, codeOut] = outputs.map((t) => t.storage.handle) as [
    Float32Array,
    Float32Array,
    Float32Array,
    Uint8Array,
  ];
  const [wOff, hOff, sOff, zOff, pOff] = [wT, hT, sT, zT, pT].map((t) => t.offset) as number[];
  const outOff = outputs.map((t) => t.offset) as number[];
  const { maxq } = attrs;
  for (let r = 0; r < n; r++) {
    const row = outOff[1]! + r * b;
    for (let j = 0; j < b; j++) errOut[row + j] = w[wOff! + r * b + j]!;
    for (let i = 0; i < b; i++) {
      const g = params[pOff! + i]!;
      const scale = scales[sOff! + g * n + r]!;
      const zero = zeros[zOff! + g * n + r]!;
      const x = errOut[row + i]!;
      const code = quantizeCode(x, scale, zero, maxq);
      const q = f32(scale * (code - zero));
      const d = h[hOff! + i * b + i]!;
      const diff = f32(x - q);
      const e = f32(diff / d);
      qOut[outOff[0]! + r * b + i] = q;
      lossOut[outOff[2]! + r * b + i] = f32(f32(diff * diff) / f32(d * d)) / 2;
      codeOut[outOff[3]! + r * b + i] = code;
      errOut[row + i] = e;
      const hRow = hOff! + i * b;
      for (let j = i + 1; j < b; j++) errOut[row + j] = errOut[row + j]! - f32(e * h[hRow + j]!);
    }
  }
}

registerKernel({ op: 'gptqQuantizeBlock', backend: 'reference', fn: referenceKernel });

import {
  contiguous,
  formatShape,
  type KernelArgs,
  registerKernel,
  runKernel1,
  SlimlmError,
  type Tensor,
} from '@slimlm/core';
import { assertBits, type Bits, packRows } from './pack';

/** Attributes of 'gptqPackCodes'. */
export interface GptqPackCodesAttrs {
  bits: Bits;
}

/**
 * qweight i32 [K * bits / 32, N] of integer codes u8 [N, K] (the HF weight layout that the
 * algorithms produce): each column n's codes packed along K as `packRows` packs them, in one op
 * (the transpose included). Codes must lie in [0, 2^bits - 1]; K * bits must be a multiple of 32
 * (K a multiple of 32 at 3 bits).
 */
export function gptqPackCodes(codes: Tensor, attrs: GptqPackCodesAttrs): Tensor {
  const op = 'gptqPackCodes';
  codes.assertAlive(op);
  assertBits(op, attrs.bits);
  if (codes.dtype !== 'u8')
    throw new SlimlmError('DTYPE_MISMATCH', `${op}: codes must be u8, got ${codes.dtype}`);
  if (codes.rank !== 2)
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: codes must be [N, K], got ${formatShape(codes.shape)}`,
    );
  const [n, k] = codes.shape as [number, number];
  if ((k * attrs.bits) % 32 !== 0 || (attrs.bits === 3 && k % 32 !== 0))
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: K = ${k} codes of ${attrs.bits} bits do not fill whole int32 words (K * bits must be a multiple of 32, K a multiple of 32 at 3 bits)`,
    );
  return runKernel1(op, [contiguous(codes)], attrs, {
    shape: [(k * attrs.bits) / 32, n],
    dtype: 'i32',
  });
}

/** The reference kernel: transpose to [K, N], then packRows (which checks every code). */
function referenceKernel({ inputs, outputs, attrs }: KernelArgs<GptqPackCodesAttrs>): void {
  const c = inputs[0]!;
  const [n, k] = c.shape as [number, number];
  const codes = c.storage.handle as Uint8Array;
  const transposed = new Uint8Array(k * n);
  for (let row = 0; row < n; row++) {
    const from = c.offset + row * k;
    for (let col = 0; col < k; col++) transposed[col * n + row] = codes[from + col]!;
  }
  const out = outputs[0]!;
  (out.storage.handle as Int32Array).set(packRows(transposed, k, n, attrs.bits), out.offset);
}

registerKernel({ op: 'gptqPackCodes', backend: 'reference', fn: referenceKernel });

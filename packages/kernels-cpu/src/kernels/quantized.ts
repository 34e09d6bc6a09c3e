import {
  badPermutationError,
  type DType,
  type KernelArgs,
  permuteChannels,
  type QuantAttrs,
  type QuantMatmulAttrs,
  quantMatmulOperands,
  type Tensor,
} from '@slimlm/core';
import type { NativeAddon } from '../native';
import { registerNative } from './register';

/** The quantized-weight family's addon functions (native/quant/bindings.cc). */
export interface QuantAddon {
  quantMatmul(
    x: ArrayBufferView,
    qweight: ArrayBufferView,
    qzeros: ArrayBufferView,
    scales: ArrayBufferView,
    bias: ArrayBufferView | null,
    out: ArrayBufferView,
    dims: Float64Array,
    perm: ArrayBufferView | null,
  ): number;
  dequantize(
    qweight: ArrayBufferView,
    qzeros: ArrayBufferView,
    scales: ArrayBufferView,
    gIdx: ArrayBufferView | null,
    out: ArrayBufferView,
    dims: Float64Array,
  ): void;
  gemm(a: ArrayBufferView, b: ArrayBufferView, c: ArrayBufferView, dims: Float64Array): void;
}

/** DType codes of native/include/slimlm/common.h. */
const FLOAT_CODES: Partial<Record<DType, number>> = { f32: 0, f16: 1, bf16: 2 };

const data = (t: Tensor) => t.storage.handle as ArrayBufferView;

/** The packed weight's 9 dims (quant/bindings.cc packedWeight), or undefined if not native. */
function weightDims(
  [qweight, qzeros, scales]: readonly Tensor[],
  attrs: QuantAttrs,
): number[] | undefined {
  if (![qweight!, qzeros!, scales!].every((t) => t.isContiguous)) return undefined;
  const n = scales!.shape[1]!;
  const k = (qweight!.shape[0]! * 32) / attrs.bits;
  return [
    n,
    k,
    attrs.bits,
    attrs.groupSize,
    attrs.zeroOffset,
    FLOAT_CODES[scales!.dtype]!,
    qweight!.offset,
    qzeros!.offset,
    scales!.offset,
  ];
}

/**
 * Registers native 'quantMatmul' and 'dequantize' on "cpu". quantMatmul streams the packed weight
 * (m <= 8) or dequantizes it block by block into the GEMM's packed panels (larger m); shapes its
 * kernels do not take (K not a multiple of 32, groups not a multiple of 32) are dequantized
 * natively and multiplied by the native GEMM. Non-contiguous packed tensors use the reference
 * kernel (checkpoint tensors are contiguous).
 */
export function registerQuantized(native: NativeAddon): void {
  const addon = native as NativeAddon & QuantAddon;
  registerNative<QuantAttrs>('dequantize', (args: KernelArgs<QuantAttrs>, reference) => {
    const [qweight, qzeros, scales, gIdx] = args.inputs;
    const out = args.outputs[0]!;
    const dims = weightDims(args.inputs, args.attrs);
    if (dims === undefined || (gIdx && !gIdx.isContiguous)) {
      reference(args);
      return;
    }
    addon.dequantize(
      data(qweight!),
      data(qzeros!),
      data(scales!),
      gIdx ? data(gIdx) : null,
      data(out),
      Float64Array.from([...dims, gIdx?.offset ?? 0, out.offset]),
    );
  });

  registerNative<QuantMatmulAttrs>(
    'quantMatmul',
    (args: KernelArgs<QuantMatmulAttrs>, reference) => {
      const { inputs, attrs } = args;
      const { x, qweight, qzeros, scales, bias, perm } = quantMatmulOperands(inputs, attrs);
      const out = args.outputs[0]!;
      const dims = weightDims(inputs.slice(1), attrs);
      if (dims === undefined || !x!.isContiguous || (bias && !bias.isContiguous)) {
        reference(args);
        return;
      }
      const [n, k] = dims as [number, number];
      const m = x!.size / k;
      const { groupSize } = attrs;
      if (k % 32 === 0 && (groupSize % 32 === 0 || groupSize >= k)) {
        // The kernel gathers x's channels by perm as it copies x, after checking every entry.
        const bad = addon.quantMatmul(
          data(x!),
          data(qweight!),
          data(qzeros!),
          data(scales!),
          bias ? data(bias) : null,
          data(out),
          Float64Array.from([
            ...dims,
            m,
            x!.offset,
            bias ? FLOAT_CODES[bias.dtype]! : 0,
            bias?.offset ?? 0,
            out.offset,
            attrs.activations === 'int8' ? 1 : 0,
            perm?.offset ?? 0,
          ]),
          perm ? data(perm) : null,
        );
        if (bad >= 0) {
          const at = perm!.offset + bad;
          throw badPermutationError(bad, (data(perm!) as Int32Array)[at]!, k);
        }
        return;
      }
      // Odd shapes: W [n, k] in f32, then out = x @ W^T by the native GEMM (W^T read in place), x's
      // channels gathered first when permuted.
      let xData = data(x!);
      let xOffset = x!.offset;
      if (perm) {
        xData = permuteChannels(x.dataSync(), perm.dataSync(), k);
        xOffset = 0;
      }
      const weight = new Float32Array(n * k);
      addon.dequantize(
        data(qweight!),
        data(qzeros!),
        data(scales!),
        null,
        weight,
        Float64Array.from([...dims, 0, 0]),
      );
      // gemm dims (native/gemm/bindings.cc): batch, m, n, k, then a, b, c as type, offset, strides.
      addon.gemm(
        xData,
        weight,
        data(out),
        Float64Array.of(1, m, n, k, 0, xOffset, k, 1, 0, 0, 0, 1, k, 0, 0, out.offset, m * n),
      );
      if (bias) {
        const values = bias.dataSync();
        const result = data(out) as Float32Array;
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) result[out.offset + i * n + j]! += values[j]!;
        }
      }
    },
  );
}

import type { DType, KernelArgs, QuantAttrs, Tensor } from '@slimlm/core';
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
  ): void;
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

  registerNative<QuantAttrs>('quantMatmul', (args: KernelArgs<QuantAttrs>, reference) => {
    const [x, qweight, qzeros, scales, bias] = args.inputs;
    const out = args.outputs[0]!;
    const dims = weightDims(args.inputs.slice(1), args.attrs);
    if (dims === undefined || !x!.isContiguous || (bias && !bias.isContiguous)) {
      reference(args);
      return;
    }
    const [n, k] = dims as [number, number];
    const m = x!.size / k;
    const { groupSize } = args.attrs;
    if (k % 32 === 0 && (groupSize % 32 === 0 || groupSize >= k)) {
      addon.quantMatmul(
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
          args.attrs.activations === 'int8' ? 1 : 0,
        ]),
      );
      return;
    }
    // Odd shapes: W [n, k] in f32, then out = x @ W^T by the native GEMM (W^T read in place).
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
      data(x!),
      weight,
      data(out),
      Float64Array.of(1, m, n, k, 0, x!.offset, k, 1, 0, 0, 0, 1, k, 0, 0, out.offset, m * n),
    );
    if (bias) {
      const values = bias.dataSync();
      const result = data(out) as Float32Array;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) result[out.offset + i * n + j]! += values[j]!;
      }
    }
  });
}

import {
  checkPermutation,
  type QuantAttrs,
  type QuantMatmulAttrs,
  quantMatmulOperands,
  SlimlmError,
  type Tensor,
} from '@slimlm/core';
import type { NativeAddon } from '../native';
import { DTYPE_CODES, registerCuda, type Temporaries, viewOf } from './launch';

/**
 * The packed weight as the kernels take it (gptq::Packed), each tensor made contiguous, qweight
 * 16-byte aligned (the GEMV reads 4 columns of a row in one load).
 */
function packedWeight(
  temps: Temporaries,
  [qweight, qzeros, scales]: readonly [Tensor, Tensor, Tensor],
  attrs: QuantAttrs,
) {
  return {
    qweight: temps.dense(viewOf(qweight), 16).address,
    qzeros: temps.dense(viewOf(qzeros)).address,
    scales: temps.dense(viewOf(scales)).address,
    scaleType: DTYPE_CODES[scales.dtype],
    bits: attrs.bits,
    n: scales.shape[1]!,
    k: (qweight.shape[0]! * 32) / attrs.bits,
    groupSize: attrs.groupSize,
    zeroOffset: attrs.zeroOffset,
  };
}

/**
 * quantMatmul and dequantize over GPTQ-packed weights, every bit width (2, 3, 4, 8), v1 and v2
 * zero points, any group size. quantMatmul streams the packed weight with the codes dequantized
 * in registers (up to 8 rows of x) or in shared memory (more rows); W is never written out. A
 * permuted product (act-order) gathers x's channels into a temporary first.
 */
export function registerQuantized(addon: NativeAddon): void {
  registerCuda<QuantMatmulAttrs>(addon, 'quantMatmul', ({ args, temps }) => {
    const { inputs, attrs } = args;
    const { x, qweight, qzeros, scales, bias, perm } = quantMatmulOperands(inputs, attrs);
    if (args.attrs.activations === 'int8') {
      throw new SlimlmError(
        'UNSUPPORTED',
        `quantMatmul: int8 activations are not implemented on cuda; use activations 'f32'`,
      );
    }
    const w = packedWeight(temps, [qweight, qzeros, scales], args.attrs);
    let source = temps.dense(viewOf(x));
    if (perm) {
      // A permuted product gathers x's channels into a temporary first (its entries checked
      // on the host, as the gather op checks them).
      checkPermutation(perm.dataSync(), w.k);
      const gathered = { ...source, address: temps.allocate('f32', x.size) };
      addon.gather({
        x: source.address,
        indices: temps.dense(viewOf(perm)).address,
        out: gathered.address,
        outer: x.size / w.k,
        axisSize: w.k,
        inner: 1,
        count: w.k,
        elementBytes: 4,
      });
      source = gathered;
    }
    addon.quantMatmul({
      ...w,
      x: source.address,
      bias: bias ? temps.dense(viewOf(bias)).address : null,
      biasType: bias ? DTYPE_CODES[bias.dtype] : 0,
      out: viewOf(args.outputs[0]!).address,
      m: x.shape.slice(0, -1).reduce((a, b) => a * b, 1),
    });
  });

  registerCuda<QuantAttrs>(addon, 'dequantize', ({ args, temps }) => {
    const [qweight, qzeros, scales, gIdx] = args.inputs;
    addon.dequantize({
      ...packedWeight(temps, [qweight!, qzeros!, scales!], args.attrs),
      gIdx: gIdx ? temps.dense(viewOf(gIdx)).address : null,
      out: viewOf(args.outputs[0]!).address,
    });
  });
}

import { type CholeskyAttrs, notPositiveDefinite, registerKernel, type Tensor } from '@slimlm/core';
import { fromNative } from '../errors';
import type { NativeAddon } from '../native';
import { expectDTypes, registerCuda, Temporaries, viewOf } from './launch';

/**
 * A square f32 matrix as the linalg kernels read it, in place: its lower triangle, or with
 * `transposed` its upper triangle read as the lower one of its transpose (strides swapped).
 */
function squareView(t: Tensor, transposed: boolean) {
  const { address, strides } = viewOf(t);
  const [rowStride, colStride] = transposed
    ? [strides[1]!, strides[0]!]
    : [strides[0]!, strides[1]!];
  return { data: address, n: t.shape[0]!, rowStride, colStride };
}

/**
 * cholesky and choleskyInverse on f32 (tiled, f64 diagonal tiles, f32 products), reading the
 * input's triangle through its strides; and the GPTQ column loop 'gptqQuantizeBlock', one warp
 * per row. cholesky waits for its kernels once, to learn whether a pivot failed, and then throws
 * core's NUMERICAL error naming it, as the reference kernel does.
 */
export function registerLinalg(addon: NativeAddon): void {
  registerCuda<CholeskyAttrs>(addon, 'cholesky', ({ args, temps }) => {
    const a = args.inputs[0]!;
    expectDTypes('cholesky', [a], ['f32']);
    const { upper } = args.attrs;
    const plan = addon.plan('cholesky', { n: a.shape[0]! });
    const failure = addon.cholesky({
      // An upper factor is the transpose of the lower factor of aᵀ, whose lower triangle is a's
      // upper one.
      a: squareView(a, upper),
      out: viewOf(args.outputs[0]!).address,
      upper,
      diagonalInverse: temps.allocate('f32', plan.scratchFloats),
      status: temps.allocate('f32', 4),
    });
    if (failure !== null) throw notPositiveDefinite(failure.pivot, failure.value);
  });

  registerCuda<CholeskyAttrs>(addon, 'choleskyInverse', ({ args, temps }) => {
    const factor = args.inputs[0]!;
    expectDTypes('choleskyInverse', [factor], ['f32']);
    const n = factor.shape[0]!;
    addon.choleskyInverse({
      // UᵀU = L Lᵀ for L = Uᵀ: an upper factor is read as the lower one through swapped strides.
      factor: squareView(factor, args.attrs.upper),
      out: viewOf(args.outputs[0]!).address,
      inverse: temps.allocate('f32', n * n),
    });
  });

  registerGptqQuantizeBlock(addon);
}

/**
 * 'gptqQuantizeBlock' (op and reference kernel in @slimlm/gptq, which validates the operands: f32
 * w [N, B], hinv [B, B], scales/zeros [P, N], i32 params [B]; outputs q, err, losses f32 and codes
 * u8 [N, B]). Registered by name like kernels-cpu's, not through registerCuda, which wants core's
 * reference kernel: this op's comes with @slimlm/gptq, which this package does not depend on.
 */
function registerGptqQuantizeBlock(addon: NativeAddon): void {
  const backend = addon.capabilities().backend;
  registerKernel<{ maxq: number }>({
    op: 'gptqQuantizeBlock',
    backend,
    fn: ({ inputs, outputs, attrs }) => {
      const temps = new Temporaries(addon);
      try {
        const [w, hinv, scales, zeros, params] = inputs.map((t) => temps.dense(viewOf(t)).address);
        const [q, err, losses, codes] = outputs.map((t) => viewOf(t).address);
        const [rows, cols] = inputs[0]!.shape as [number, number];
        addon.gptqQuantizeBlock({
          rows,
          cols,
          paramRows: inputs[2]!.shape[0]!,
          maxq: attrs.maxq,
          w,
          hinv,
          scales,
          zeros,
          params,
          q,
          err,
          losses,
          codes,
        });
      } catch (error) {
        throw fromNative(error, `gptqQuantizeBlock on ${backend}`);
      } finally {
        temps.release();
      }
    },
  });
}

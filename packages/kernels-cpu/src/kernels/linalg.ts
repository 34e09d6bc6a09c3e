import { type CholeskyAttrs, notPositiveDefinite, type Tensor } from '@slimlm/core';
import { runCopy, storageOf } from './operands';
import { registerNative } from './register';

/** The linear algebra family's addon functions (native/linalg/bindings.cc). */
export interface LinalgAddon {
  /** null when positive definite, else [pivot index, pivot value]. */
  cholesky(
    input: ArrayBufferView,
    out: ArrayBufferView,
    dims: Float64Array,
  ): [number, number] | null;
  choleskyInverse(input: ArrayBufferView, out: ArrayBufferView, dims: Float64Array): void;
}

/**
 * Runs a linear algebra kernel from the f32 matrix `input` (any strides) into the f32 output:
 * in place when it is contiguous, else through a contiguous temporary copied into it.
 */
function intoSquare<R>(
  input: Tensor,
  out: Tensor,
  upper: boolean,
  run: (input: ArrayBufferView, out: ArrayBufferView, dims: Float64Array) => R,
  addon: Parameters<typeof runCopy>[0],
): R {
  const n = input.shape[0]!;
  const direct = out.isContiguous;
  const target = direct ? storageOf(out) : new Float32Array(n * n);
  const dims = Float64Array.from([
    n,
    upper ? 1 : 0,
    input.offset,
    input.strides[0]!,
    input.strides[1]!,
    direct ? out.offset : 0,
  ]);
  const result = run(storageOf(input), target, dims);
  if (!direct && n > 0) {
    runCopy(
      addon,
      'f32',
      out.shape,
      { data: target, offset: 0, strides: [n, 1] },
      {
        data: storageOf(out),
        offset: out.offset,
        strides: out.strides,
      },
    );
  }
  return result;
}

/**
 * cholesky and choleskyInverse on f32 (blocked, GEMM-based and threaded: native/linalg); f64
 * uses the reference kernel.
 */
export function registerLinalg(addon: LinalgAddon & Parameters<typeof runCopy>[0]): void {
  registerNative<CholeskyAttrs>('cholesky', (args, reference) => {
    const [a] = args.inputs;
    const [out] = args.outputs;
    if (a!.dtype !== 'f32') return reference(args);
    const failed = intoSquare(
      a!,
      out!,
      args.attrs.upper,
      (input, target, dims) => addon.cholesky(input, target, dims),
      addon,
    );
    if (failed) throw notPositiveDefinite(failed[0], failed[1]);
  });

  registerNative<CholeskyAttrs>('choleskyInverse', (args, reference) => {
    const [factor] = args.inputs;
    const [out] = args.outputs;
    if (factor!.dtype !== 'f32') return reference(args);
    intoSquare(
      factor!,
      out!,
      args.attrs.upper,
      (input, target, dims) => addon.choleskyInverse(input, target, dims),
      addon,
    );
  });
}

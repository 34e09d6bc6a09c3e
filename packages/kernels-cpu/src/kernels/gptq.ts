import { getKernel, type KernelArgs, registerKernel, SlimlmError, type Tensor } from '@slimlm/core';
import { CPU } from '../backend';
import { storageOf } from './operands';

/** The GPTQ family's addon functions (native/gptq/bindings.cc). */
export interface GptqAddon {
  /** dims = [rows, cols, paramRows, maxq, then the nine arrays' offsets in elements]. */
  gptqQuantizeBlock(
    w: ArrayBufferView,
    hinv: ArrayBufferView,
    scales: ArrayBufferView,
    zeros: ArrayBufferView,
    params: ArrayBufferView,
    q: ArrayBufferView,
    err: ArrayBufferView,
    losses: ArrayBufferView,
    codes: ArrayBufferView,
    dims: Float64Array,
  ): void;
  /** dims = [rows, cols, groupSize, maxq, sym, then the six arrays' offsets in elements]. */
  gptqRtnQuantize(
    w: ArrayBufferView,
    codes: ArrayBufferView,
    q: ArrayBufferView,
    scales: ArrayBufferView,
    zeros: ArrayBufferView,
    losses: ArrayBufferView,
    dims: Float64Array,
  ): void;
  /** dims = [n, k, bits, codesOffset, wordsOffset]; false (nothing written) when a code does not fit. */
  gptqPackCodes(codes: ArrayBufferView, words: ArrayBufferView, dims: Float64Array): boolean;
}

/**
 * The kernel of `op` on "cpu": `native(args)` unless `useReference(args)`, then the op's reference
 * kernel (registered by @slimlm/gptq, which may load after this package), looked up at call time.
 */
function registerWithReference<A>(
  op: string,
  useReference: (args: KernelArgs<A>) => boolean,
  native: (args: KernelArgs<A>) => boolean | undefined,
): void {
  const reference = (args: KernelArgs<A>) => {
    const kernel = getKernel(op, 'reference');
    if (kernel === undefined)
      throw new SlimlmError(
        'NO_KERNEL',
        `${op}: these operands need the reference kernel; import '@slimlm/gptq'`,
      );
    return kernel(args as KernelArgs);
  };
  registerKernel<A>({
    op,
    backend: CPU,
    fn: (args) => {
      const tensors = [...args.inputs, ...args.outputs] as Tensor[];
      if (!tensors.every((t) => t.isContiguous) || useReference(args)) return reference(args);
      // A native kernel that declines (false) leaves the reference kernel to say why.
      if (native(args) === false) return reference(args);
    },
  });
}

/**
 * The GPTQ family's ops (ops and reference kernels in @slimlm/gptq, which validate the operands),
 * natively, each giving the same bits as its reference kernel:
 * - 'gptqQuantizeBlock' (f32 w [N, B], hinv [B, B], scales/zeros [P, N], i32 params [B]; outputs
 *   q, err, losses f32 and codes u8 [N, B]): rows split across threads, each row's update
 *   vectorized, f32 steps rounded like the reference kernel;
 * - 'gptqRtnQuantize' (f32 w [N, K]; codes u8, q f32 [N, K], scales/zeros f32 [G, N], losses f64
 *   [N]): rows across threads, groups vectorized; the MSE range search stays on the reference
 *   kernel (its pow must be V8's to match bit for bit);
 * - 'gptqPackCodes' (codes u8 [N, K] to i32 [K * bits / 32, N]): chunks of 32 input channels
 *   across threads; K not a multiple of 32 and codes that do not fit go to the reference kernel.
 * Operands that are not contiguous go to the reference kernels.
 */
export function registerGptq(addon: GptqAddon): void {
  registerWithReference<{ maxq: number }>(
    'gptqQuantizeBlock',
    () => false,
    (args) => {
      const tensors = [...args.inputs, ...args.outputs] as Tensor[];
      const [w, , scales] = tensors as [Tensor, Tensor, Tensor];
      const [rows, cols] = w.shape as [number, number];
      addon.gptqQuantizeBlock(
        storageOf(tensors[0]!),
        storageOf(tensors[1]!),
        storageOf(tensors[2]!),
        storageOf(tensors[3]!),
        storageOf(tensors[4]!),
        storageOf(tensors[5]!),
        storageOf(tensors[6]!),
        storageOf(tensors[7]!),
        storageOf(tensors[8]!),
        Float64Array.from([
          rows,
          cols,
          scales.shape[0]!,
          args.attrs.maxq,
          ...tensors.map((t) => t.offset),
        ]),
      );
      return undefined;
    },
  );
  registerWithReference<RtnAttrs>(
    'gptqRtnQuantize',
    (args) => args.attrs.mse !== undefined,
    ({ inputs, outputs, attrs }) => {
      const tensors = [...inputs, ...outputs] as Tensor[];
      const [rows, cols] = inputs[0]!.shape as [number, number];
      addon.gptqRtnQuantize(
        storageOf(tensors[0]!),
        storageOf(tensors[1]!),
        storageOf(tensors[2]!),
        storageOf(tensors[3]!),
        storageOf(tensors[4]!),
        storageOf(tensors[5]!),
        Float64Array.from([
          rows,
          cols,
          attrs.groupSize,
          2 ** attrs.bits - 1,
          attrs.sym ? 1 : 0,
          ...tensors.map((t) => t.offset),
        ]),
      );
      return undefined;
    },
  );
  registerWithReference<{ bits: number }>(
    'gptqPackCodes',
    (args) => args.inputs[0]!.shape[1]! % 32 !== 0,
    ({ inputs, outputs, attrs }) => {
      const [codes, words] = [inputs[0]!, outputs[0]!];
      const [n, k] = codes.shape as [number, number];
      return addon.gptqPackCodes(
        storageOf(codes),
        storageOf(words),
        Float64Array.of(n, k, attrs.bits, codes.offset, words.offset),
      );
    },
  );
}

/** The attributes of 'gptqRtnQuantize' (GptqRtnAttrs in @slimlm/gptq). */
interface RtnAttrs {
  bits: number;
  sym: boolean;
  groupSize: number;
  mse?: unknown;
}

import {
  broadcastShapes,
  type DType,
  formatShape,
  getKernel,
  isGradEnabled,
  type KernelArgs,
  keep,
  matmul,
  matmulDType,
  registerKernel,
  SlimlmError,
  type Tensor,
  zeros,
} from '@slimlm/core';
import { CPU } from '../backend';
import { type NativeAddon, native, unavailableReason } from '../native';

const NATIVE_DTYPES: Partial<Record<DType, number>> = { f32: 0, f16: 1, bf16: 2 };

/** An operand [...batch, rows, cols] with its strides over the output's batch axes (0 where broadcast). */
interface Operand {
  tensor: Tensor;
  batchStrides: number[];
}

/**
 * The stride that walks batch axes of `shape` with `strides` as one flat axis, when there is one
 * (contiguous batches, or all broadcast), else undefined.
 */
function collapseBatch(shape: readonly number[], strides: readonly number[]): number | undefined {
  let count = 1;
  let stride = 0;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const size = shape[axis]!;
    if (size === 1) continue;
    const axisStride = strides[axis]!;
    if (count === 1) stride = axisStride;
    else if (axisStride !== stride * count) return undefined;
    count *= size;
  }
  return stride;
}

/**
 * The native calls that compute out = a @ b, each as the addon's dims array: one call when the
 * batch axes collapse into one strided axis, else one per batch entry.
 */
function gemmCalls(
  a: Operand,
  b: Operand,
  out: Tensor,
  batchShape: readonly number[],
): Float64Array[] {
  const [m, k] = a.tensor.shape.slice(-2) as [number, number];
  const n = b.tensor.shape[b.tensor.rank - 1]!;
  // Each matrix carries its own dtype: an f32 A may multiply an f16/bf16 B (read as stored).
  const aCode = NATIVE_DTYPES[a.tensor.dtype]!;
  const bCode = NATIVE_DTYPES[b.tensor.dtype]!;
  const cCode = NATIVE_DTYPES[out.dtype]!;
  const dims = (
    count: number,
    aOffset: number,
    aBatch: number,
    bOffset: number,
    bBatch: number,
    cOffset: number,
  ) =>
    Float64Array.of(
      count,
      m,
      n,
      k,
      aCode,
      aOffset,
      a.tensor.strides[a.tensor.rank - 2]!,
      a.tensor.strides[a.tensor.rank - 1]!,
      aBatch,
      bCode,
      bOffset,
      b.tensor.strides[b.tensor.rank - 2]!,
      b.tensor.strides[b.tensor.rank - 1]!,
      bBatch,
      cCode,
      cOffset,
      m * n,
    );
  const batches = batchShape.reduce((product, size) => product * size, 1);
  const strideA = collapseBatch(batchShape, a.batchStrides);
  const strideB = collapseBatch(batchShape, b.batchStrides);
  if (strideA !== undefined && strideB !== undefined)
    return [dims(batches, a.tensor.offset, strideA, b.tensor.offset, strideB, out.offset)];
  const calls: Float64Array[] = [];
  const index = new Array<number>(batchShape.length).fill(0);
  const offsetIn = (operand: Operand) =>
    index.reduce((sum, i, axis) => sum + i * operand.batchStrides[axis]!, operand.tensor.offset);
  for (let batch = 0; batch < batches; batch++) {
    calls.push(dims(1, offsetIn(a), 0, offsetIn(b), 0, out.offset + batch * m * n));
    for (let axis = index.length - 1; axis >= 0; axis--) {
      index[axis]!++;
      if (index[axis]! < batchShape[axis]!) break;
      index[axis] = 0;
    }
  }
  return calls;
}

function handles(
  a: Operand,
  b: Operand,
  out: Tensor,
): [ArrayBufferView, ArrayBufferView, ArrayBufferView] {
  return [
    a.tensor.storage.handle as ArrayBufferView,
    b.tensor.storage.handle as ArrayBufferView,
    out.storage.handle as ArrayBufferView,
  ];
}

/** Whether the native GEMM takes these operands: f32, f16 and bf16 alike, or f32 by f16/bf16. */
function nativeOperands(a: Tensor, b: Tensor): boolean {
  return NATIVE_DTYPES[a.dtype] !== undefined && NATIVE_DTYPES[b.dtype] !== undefined;
}

/**
 * Registers the native matmul: f32, f16 and bf16 on any strides, and f32 activations by f16/bf16
 * weights (widened in registers, never copied); other dtypes use the reference kernel.
 */
export function registerMatmul(addon: NativeAddon): void {
  const reference = getKernel('matmul', 'reference')!;
  registerKernel({
    op: 'matmul',
    backend: CPU,
    fn: (args: KernelArgs) => {
      const [a, b] = args.inputs as [Tensor, Tensor];
      const out = args.outputs[0]!;
      if (!nativeOperands(a, b)) {
        reference(args);
        return;
      }
      // Core hands over operands already broadcast to the output's batch axes.
      const left = { tensor: a, batchStrides: a.strides.slice(0, -2) };
      const right = { tensor: b, batchStrides: b.strides.slice(0, -2) };
      for (const dims of gemmCalls(left, right, out, out.shape.slice(0, -2)))
        addon.gemm(...handles(left, right, out), dims);
    },
  });
}

/** t's strides over `batchShape` (its own batch axes right-aligned to it), 0 where it broadcasts. */
function broadcastStrides(t: Tensor, batchShape: readonly number[]): number[] {
  const own = t.rank - 2;
  return batchShape.map((_, axis) => {
    const mine = axis - (batchShape.length - own);
    return mine < 0 || t.shape[mine] === 1 ? 0 : t.strides[mine]!;
  });
}

/**
 * `matmul(a, b)` for "cpu" tensors of rank >= 2 ([...batch, M, K] @ [...batch, K, N], batch axes
 * broadcasting), computed on a worker thread so that a large product does not block the event
 * loop. Throws at once, like `matmul`, on invalid operands; the promise resolves with a new tensor
 * that the caller owns (it belongs to no scope) and must dispose. Not recorded for autograd. The
 * operands must not be written until it resolves; f32, f16 and bf16 run natively (an f32 `a`
 * may take an f16/bf16 `b`, as in `matmul`), other dtypes run `matmul` before returning.
 */
export function matmulAsync(a: Tensor, b: Tensor): Promise<Tensor> {
  const op = 'matmulAsync';
  if (native === undefined)
    throw new SlimlmError(
      'NO_BACKEND',
      `${op}: the native addon is unavailable (${unavailableReason})`,
    );
  for (const t of [a, b]) {
    t.assertAlive(op);
    if (t.backend.name !== CPU) {
      throw new SlimlmError(
        'BACKEND_MISMATCH',
        `${op}: runs on the '${CPU}' backend, got a tensor on '${t.backend.name}'; move it with toBackend(t, '${CPU}')`,
      );
    }
  }
  const dtype = matmulDType(op, a, b);
  const shapes = `${formatShape(a.shape)} by ${formatShape(b.shape)}`;
  if (a.rank < 2 || b.rank < 2) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: cannot multiply ${shapes}: operands must have at least two axes (use matmul for vectors)`,
    );
  }
  const [m, k] = a.shape.slice(-2) as [number, number];
  const [kb, n] = b.shape.slice(-2) as [number, number];
  if (k !== kb)
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: cannot multiply ${shapes}: inner dims ${k} and ${kb} differ`,
    );
  let batchShape: number[];
  try {
    batchShape = broadcastShapes(op, a.shape.slice(0, -2), b.shape.slice(0, -2));
  } catch {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: cannot multiply ${shapes}: batch dims cannot be broadcast together`,
    );
  }
  if (isGradEnabled() && (a.requiresGrad || b.requiresGrad)) {
    throw new SlimlmError(
      'AUTOGRAD',
      `${op}: is not recorded for autograd; use matmul, or run it under noGrad()`,
    );
  }
  if (!nativeOperands(a, b)) return Promise.resolve(keep(matmul(a, b)));
  // A local keeps the narrowing from undefined inside the callbacks below.
  const addon = native;
  const out = keep(zeros([...batchShape, m, n], { dtype, backend: CPU }));
  const left = { tensor: a, batchStrides: broadcastStrides(a, batchShape) };
  const right = { tensor: b, batchStrides: broadcastStrides(b, batchShape) };
  const calls = gemmCalls(left, right, out, batchShape).map((dims) =>
    addon.gemmAsync(...handles(left, right, out), dims),
  );
  return Promise.all(calls).then(
    () => out,
    (error: unknown) => {
      out.dispose();
      throw error;
    },
  );
}

import { recordOp } from './autograd/tape';
import { activeBackend, type Backend, getBackend } from './backend';
import { type DType, isStorageArrayOf, type StorageArray } from './dtype';
import { SlimlmError } from './errors';
import { getKernel, type KernelFn, missingKernelError } from './kernels';
import { track } from './memory';
import { assertValidShape, contiguousStrides, formatShape, type Shape, sizeOf } from './shape';
import { Storage } from './storage';
import { setContiguousHook, Tensor } from './tensor';

export interface OutputSpec {
  shape: Shape;
  dtype: DType;
}

/** The backend all inputs live on; mixing backends is an error naming both. */
export function commonBackend(op: string, inputs: readonly Tensor[]): Backend {
  const first = inputs[0];
  if (first === undefined) return activeBackend();
  for (const t of inputs) t.assertAlive(op);
  const backend = first.backend;
  for (const t of inputs) {
    if (t.backend !== backend) {
      throw new SlimlmError(
        'BACKEND_MISMATCH',
        `${op}: inputs live on backends '${backend.name}' and '${t.backend.name}'; move them with toBackend() first`,
      );
    }
  }
  return backend;
}

function assertDTypeSupported(op: string, backend: Backend, dtype: DType): void {
  if (!backend.dtypes.includes(dtype)) {
    throw new SlimlmError(
      'UNSUPPORTED_DTYPE',
      `${op}: backend '${backend.name}' does not support dtype ${dtype} (it has ${backend.dtypes.join(', ')})`,
    );
  }
}

/** A new contiguous tensor on `backend`, zero-filled, not yet tracked by any scope. */
function allocateTensor(backend: Backend, spec: OutputSpec): Tensor {
  const storage = Storage.allocate(backend, spec.dtype, sizeOf(spec.shape));
  return new Tensor(storage, spec.shape, contiguousStrides(spec.shape), 0, spec.dtype);
}

/** The kernel of `op` on `backend`, or the error naming both. */
function kernelFor(op: string, backend: Backend): KernelFn {
  const kernel = getKernel(op, backend.name);
  if (kernel === undefined) throw missingKernelError(op, backend.name);
  return kernel;
}

function callKernel<A>(
  kernel: KernelFn,
  backend: Backend,
  inputs: readonly Tensor[],
  outputs: readonly Tensor[],
  attrs: A,
): void {
  const temporaries: Tensor[] = [];
  const kernelInputs = backend.stridedInputs
    ? inputs
    : inputs.map((t) => {
        if (t.isContiguous) return t;
        const copy = copyToContiguous(t);
        temporaries.push(copy);
        return copy;
      });
  try {
    kernel({ inputs: kernelInputs, outputs, attrs, backend });
  } finally {
    for (const t of temporaries) t.dispose();
  }
}

/**
 * Runs the active kernel of `op`: the one call every op makes after validating its arguments.
 * Allocates the outputs, records the op for autograd and tracks the outputs in the current scope.
 */
export function runKernel<A>(
  op: string,
  inputs: readonly Tensor[],
  attrs: A,
  outputSpecs: readonly OutputSpec[],
): Tensor[] {
  const backend = commonBackend(op, inputs);
  for (const spec of outputSpecs) assertDTypeSupported(op, backend, spec.dtype);
  const kernel = kernelFor(op, backend);
  const outputs = outputSpecs.map((spec) => allocateTensor(backend, spec));
  try {
    callKernel(kernel, backend, inputs, outputs, attrs);
  } catch (error) {
    for (const t of outputs) t.dispose();
    throw error;
  }
  recordOp(op, inputs, outputs, attrs);
  for (const t of outputs) track(t);
  return outputs;
}

/** `runKernel` for the usual single output. */
export function runKernel1<A>(
  op: string,
  inputs: readonly Tensor[],
  attrs: A,
  output: OutputSpec,
): Tensor {
  return runKernel(op, inputs, attrs, [output])[0]!;
}

/**
 * Runs `op`'s kernel writing into an existing tensor (a view, say) instead of a new one. Not
 * recorded for autograd: an in-place write into a tensor that requires a gradient is refused.
 */
export function runKernelInto<A>(
  op: string,
  inputs: readonly Tensor[],
  attrs: A,
  output: Tensor,
): void {
  const backend = commonBackend(op, [...inputs, output]);
  if (output.requiresGrad) {
    throw new SlimlmError(
      'AUTOGRAD',
      `${op}: cannot write in place into a tensor that requires a gradient`,
    );
  }
  callKernel(kernelFor(op, backend), backend, inputs, [output], attrs);
}

/** A new handle on `source`'s storage with another shape/strides/offset, recorded as `op`. */
export function makeView<A>(
  op: string,
  source: Tensor,
  shape: Shape,
  strides: readonly number[],
  offset: number,
  attrs: A,
): Tensor {
  source.assertAlive(op);
  const view = new Tensor(source.storage, shape, strides, offset, source.dtype);
  recordOp(op, [source], [view], attrs);
  track(view);
  return view;
}

/** Copies any strided tensor into fresh contiguous storage with the backend's `copy` kernel. */
function copyToContiguous(tensor: Tensor): Tensor {
  const kernel = kernelFor('copy', tensor.backend);
  const copy = allocateTensor(tensor.backend, tensor);
  try {
    kernel({ inputs: [tensor], outputs: [copy], attrs: {}, backend: tensor.backend });
  } catch (error) {
    copy.dispose();
    throw error;
  }
  return copy;
}

setContiguousHook(copyToContiguous);

/** A tensor holding `data` (the dtype's storage array) on `backend`, tracked by the scope. */
export function tensorFromStorageArray(
  op: string,
  data: StorageArray,
  shape: Shape,
  dtype: DType,
  backend: Backend = activeBackend(),
): Tensor {
  assertValidShape(op, shape);
  if (!isStorageArrayOf(data, dtype)) {
    throw new SlimlmError(
      'DTYPE_MISMATCH',
      `${op}: data is a ${data.constructor.name}, which does not hold ${dtype}`,
    );
  }
  if (data.length !== sizeOf(shape)) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: ${data.length} values do not fill shape ${formatShape(shape)} (${sizeOf(shape)} elements)`,
    );
  }
  assertDTypeSupported(op, backend, dtype);
  const t = allocateTensor(backend, { shape, dtype });
  if (data.length > 0) backend.write(t.storage.handle, dtype, data, 0);
  track(t);
  return t;
}

/** Moves (copies) a tensor to another backend; the result is a leaf without gradient history. */
export function toBackend(tensor: Tensor, backend: string | Backend): Tensor {
  const target = typeof backend === 'string' ? getBackend(backend) : backend;
  return tensorFromStorageArray('toBackend', tensor.rawSync(), tensor.shape, tensor.dtype, target);
}

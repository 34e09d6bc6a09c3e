import type { GradNode } from './autograd/node';
import type { Backend } from './backend';
import { type DType, isFloatDType, type StorageArray } from './dtype';
import { SlimlmError } from './errors';
import { fromBf16Bits, fromF16Bits } from './half';
import { countTensor, setTensorCheck } from './memory';
import { contiguousStrides, formatShape, type Shape, sizeOf } from './shape';
import type { Storage } from './storage';

/** Frees storage of tensors that were garbage-collected without dispose(); only a safety net. */
const finalizer = new FinalizationRegistry<{ storage: Storage; backend: string }>((held) => {
  countTensor(held.backend, -1);
  held.storage.release();
});

let nextTensorId = 0;

/** Nested arrays of numbers, as `toArray` returns them. */
export type NestedArray = number | NestedArray[];

/**
 * An n-dimensional array on a backend: a shape, a dtype and a strided window (strides and offset
 * in elements) onto backend-owned storage. Views share storage; `dispose()` (or `using`) frees it
 * when the last tensor on it goes. Tensors are made by ops and creation functions, not `new`.
 */
export class Tensor {
  readonly id = nextTensorId++;
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  readonly size: number;
  /** Gradient accumulated by `backward()` for a tensor that requires one. Owned by this tensor. */
  grad: Tensor | null = null;
  /** @internal The op that produced this tensor, when it was recorded for autograd. */
  gradNode: GradNode | null = null;
  /** @internal Which output of `gradNode` this tensor is. */
  outputIndex = 0;
  private requires = false;
  private contiguous: boolean | undefined;
  private store: Storage | null;

  /** @internal Use ops and creation functions. */
  constructor(
    storage: Storage,
    shape: Shape,
    strides: readonly number[],
    offset: number,
    dtype: DType,
  ) {
    this.store = storage.retain();
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze([...strides]);
    this.offset = offset;
    this.dtype = dtype;
    this.size = sizeOf(shape);
    countTensor(storage.backend.name, 1);
    finalizer.register(this, { storage, backend: storage.backend.name }, this);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The backend's storage; kernels read `storage.handle`. Throws once disposed. */
  get storage(): Storage {
    if (this.store === null) {
      throw new SlimlmError(
        'DISPOSED',
        `tensor #${this.id} ${formatShape(this.shape)} ${this.dtype} was disposed and cannot be used`,
      );
    }
    return this.store;
  }

  get backend(): Backend {
    return this.storage.backend;
  }

  get isDisposed(): boolean {
    return this.store === null;
  }

  /** True when elements are laid out row-major without gaps (the offset may be non-zero). */
  get isContiguous(): boolean {
    // Shape and strides never change, and every kernel call asks: compute it once.
    if (this.contiguous === undefined) {
      const expected = contiguousStrides(this.shape);
      this.contiguous = this.shape.every((d, i) => d <= 1 || this.strides[i] === expected[i]);
    }
    return this.contiguous;
  }

  get requiresGrad(): boolean {
    return this.requires;
  }

  /** Marks a tensor whose gradient `backward()` should compute. Only float tensors have one. */
  set requiresGrad(value: boolean) {
    if (value && !isFloatDType(this.dtype)) {
      throw new SlimlmError(
        'DTYPE_MISMATCH',
        `requiresGrad: only float tensors have gradients, this one is ${this.dtype}`,
      );
    }
    this.requires = value;
  }

  /** Throws naming `op` if this tensor was disposed. */
  assertAlive(op: string): void {
    if (this.store === null) {
      throw new SlimlmError(
        'DISPOSED',
        `${op}: tensor #${this.id} ${formatShape(this.shape)} ${this.dtype} was disposed and cannot be used`,
      );
    }
  }

  /** The elements in row-major order, in the dtype's storage format (raw bits for f16/bf16). */
  rawSync(): StorageArray {
    return readContiguous(this, (t) => t.backend.read(t.storage.handle, t.dtype, t.offset, t.size));
  }

  /** Like `rawSync`, waiting on the device when the backend reads asynchronously. */
  async raw(): Promise<StorageArray> {
    return readContiguousAsync(this, async (t) => {
      const backend = t.backend;
      const args = [t.storage.handle, t.dtype, t.offset, t.size] as const;
      return backend.readAsync ? backend.readAsync(...args) : backend.read(...args);
    });
  }

  /** The elements as numbers in row-major order: f16 and bf16 are widened to a Float32Array. */
  dataSync(): Exclude<StorageArray, Uint16Array> {
    return decode(this.dtype, this.rawSync());
  }

  async data(): Promise<Exclude<StorageArray, Uint16Array>> {
    return decode(this.dtype, await this.raw());
  }

  /** The elements as nested arrays (a number for a 0-d tensor). */
  toArray(): NestedArray {
    const values = this.dataSync();
    const build = (axis: number, start: number): NestedArray => {
      if (axis === this.shape.length) return values[start]!;
      const stride = sizeOf(this.shape.slice(axis + 1));
      return Array.from({ length: this.shape[axis]! }, (_, i) =>
        build(axis + 1, start + i * stride),
      );
    };
    return build(0, 0);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new SlimlmError(
        'SHAPE_MISMATCH',
        `item: tensor has shape ${formatShape(this.shape)}, expected exactly one element`,
      );
    }
    return this.dataSync()[0]!;
  }

  /** Backpropagates from this tensor; see `backward` in autograd. */
  backward(options?: { gradient?: Tensor; retainGraph?: boolean }): void {
    backwardHook(this, options);
  }

  /** Frees this handle (idempotent); storage goes when its last view does. */
  dispose(): void {
    const storage = this.store;
    if (storage === null) return;
    this.store = null;
    finalizer.unregister(this);
    countTensor(storage.backend.name, -1);
    storage.release();
    const node = this.gradNode;
    this.gradNode = null;
    node?.dropReference();
    this.grad?.dispose();
    this.grad = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}${this.store ? `, ${this.store.backend.name}` : ', disposed'})`;
  }
}

setTensorCheck((value): value is Tensor => value instanceof Tensor);

type BackwardHook = (root: Tensor, options?: { gradient?: Tensor; retainGraph?: boolean }) => void;
let backwardHook: BackwardHook = () => {
  throw new SlimlmError('AUTOGRAD', 'backward: autograd is not loaded');
};

/** @internal autograd/backward.ts installs itself here, which keeps Tensor free of an import cycle. */
export function setBackwardHook(hook: BackwardHook): void {
  backwardHook = hook;
}

type Contiguous = (tensor: Tensor) => Tensor;
let makeContiguous: Contiguous = () => {
  throw new SlimlmError('NO_KERNEL', 'contiguous: ops are not loaded');
};

/** @internal engine.ts installs the copy used to read strided views. */
export function setContiguousHook(hook: Contiguous): void {
  makeContiguous = hook;
}

function readContiguous<T>(tensor: Tensor, read: (t: Tensor) => T): T {
  tensor.assertAlive('read');
  if (tensor.isContiguous) return read(tensor);
  const copy = makeContiguous(tensor);
  try {
    return read(copy);
  } finally {
    copy.dispose();
  }
}

async function readContiguousAsync<T>(tensor: Tensor, read: (t: Tensor) => Promise<T>): Promise<T> {
  tensor.assertAlive('read');
  if (tensor.isContiguous) return read(tensor);
  const copy = makeContiguous(tensor);
  try {
    return await read(copy);
  } finally {
    copy.dispose();
  }
}

function decode(dtype: DType, raw: StorageArray): Exclude<StorageArray, Uint16Array> {
  if (dtype !== 'f16' && dtype !== 'bf16') return raw as Exclude<StorageArray, Uint16Array>;
  const widen = dtype === 'f16' ? fromF16Bits : fromBf16Bits;
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = widen(raw[i]!);
  return out;
}

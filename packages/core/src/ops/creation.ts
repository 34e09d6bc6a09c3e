import { activeBackend, type Backend, getBackend, withBackend } from '../backend';
import { allocateStorageArray, type DType, isStorageArrayOf, type StorageArray } from '../dtype';
import { runKernel1, tensorFromStorageArray } from '../engine';
import { invalidArgument, SlimlmError } from '../errors';
import { toBf16Bits, toF16Bits } from '../half';
import { defaultGenerator, type Generator } from '../random';
import { assertValidShape, type Shape, sizeOf } from '../shape';
import type { NestedArray, Tensor } from '../tensor';

export interface CreateOptions {
  /** Default f32. */
  dtype?: DType;
  /** Default: the active backend. */
  backend?: string | Backend;
}

function backendOf(options: CreateOptions | undefined): Backend {
  const choice = options?.backend;
  if (choice === undefined) return activeBackend();
  return typeof choice === 'string' ? getBackend(choice) : choice;
}

/** Encodes plain numbers into the storage array of `dtype` (halves rounded to nearest even). */
export function encodeValues(values: ArrayLike<number>, dtype: DType): StorageArray {
  const out = allocateStorageArray(dtype, values.length);
  const encode = dtype === 'f16' ? toF16Bits : dtype === 'bf16' ? toBf16Bits : (v: number) => v;
  for (let i = 0; i < values.length; i++) out[i] = encode(values[i]!);
  return out;
}

function naturalDType(data: ArrayBufferView): DType | undefined {
  if (data instanceof Float64Array) return 'f64';
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Int8Array) return 'i8';
  if (data instanceof Uint8Array) return 'u8';
  return undefined;
}

function flatten(op: string, data: NestedArray): { values: number[]; shape: number[] } {
  const shape: number[] = [];
  for (let level: NestedArray = data; Array.isArray(level); level = level[0] ?? 0) {
    shape.push(level.length);
    if (level.length === 0) break;
  }
  const values: number[] = [];
  const walk = (node: NestedArray, axis: number): void => {
    if (axis === shape.length) {
      if (typeof node !== 'number') throw invalidArgument(op, 'nested arrays are ragged');
      values.push(node);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[axis])
      throw invalidArgument(op, 'nested arrays are ragged');
    for (const child of node) walk(child, axis + 1);
  };
  walk(data, 0);
  return { values, shape };
}

/**
 * A tensor from numbers, nested arrays or a typed array. A typed array sets the default dtype
 * (Float32Array: f32, Int32Array: i32, ...); a Uint16Array with dtype f16 or bf16 holds raw bits.
 */
export function tensor(
  data: NestedArray | ArrayLike<number> | ArrayBufferView,
  options: CreateOptions & { shape?: Shape } = {},
): Tensor {
  const backend = backendOf(options);
  if (ArrayBuffer.isView(data)) {
    const view = data as unknown as StorageArray;
    const dtype = options.dtype ?? naturalDType(view);
    if (dtype === undefined) {
      throw invalidArgument('tensor', `a ${view.constructor.name} needs an explicit dtype`);
    }
    const shape = options.shape ?? [view.length];
    const storage = isStorageArrayOf(view, dtype) ? view : encodeValues(view, dtype);
    return tensorFromStorageArray('tensor', storage, shape, dtype, backend);
  }
  const flat =
    typeof data === 'number' || Array.isArray(data)
      ? flatten('tensor', data as NestedArray)
      : {
          values: Array.from(data as ArrayLike<number>),
          shape: [(data as ArrayLike<number>).length],
        };
  const dtype = options.dtype ?? 'f32';
  return tensorFromStorageArray(
    'tensor',
    encodeValues(flat.values, dtype),
    options.shape ?? flat.shape,
    dtype,
    backend,
  );
}

/** A tensor of `shape` filled with `value` (computed on the backend by its `fill` kernel). */
export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  assertValidShape('full', shape);
  const backend = backendOf(options);
  return withBackend(backend.name, () =>
    runKernel1('fill', [], { value }, { shape, dtype: options.dtype ?? 'f32' }),
  );
}

export function zeros(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** Like `x` (shape, dtype, backend) unless the options say otherwise. */
export function fullLike(x: Tensor, value: number, options: CreateOptions = {}): Tensor {
  return full(x.shape, value, { dtype: x.dtype, backend: x.backend, ...options });
}

export function zerosLike(x: Tensor, options: CreateOptions = {}): Tensor {
  return fullLike(x, 0, options);
}

export function onesLike(x: Tensor, options: CreateOptions = {}): Tensor {
  return fullLike(x, 1, options);
}

/** Evenly spaced values in [start, stop): `arange(5)` or `arange(2, 10, 2)`. */
export function arange(
  start: number,
  stop?: number,
  step = 1,
  options: CreateOptions = {},
): Tensor {
  const [from, to] = stop === undefined ? [0, start] : [start, stop];
  if (step === 0 || !Number.isFinite(step))
    throw invalidArgument('arange', `step must be a non-zero number, got ${step}`);
  const count = Math.max(0, Math.ceil((to - from) / step));
  const values = Array.from({ length: count }, (_, i) => from + i * step);
  const dtype = options.dtype ?? 'f32';
  return tensorFromStorageArray(
    'arange',
    encodeValues(values, dtype),
    [count],
    dtype,
    backendOf(options),
  );
}

export interface RandomOptions extends CreateOptions {
  /** Default: the global generator (see manualSeed). */
  generator?: Generator;
}

function random(
  op: string,
  shape: Shape,
  options: RandomOptions,
  draw: (g: Generator) => number,
): Tensor {
  assertValidShape(op, shape);
  const dtype = options.dtype ?? 'f32';
  if (dtype !== 'f64' && dtype !== 'f32' && dtype !== 'f16' && dtype !== 'bf16') {
    throw new SlimlmError(
      'DTYPE_MISMATCH',
      `${op}: random values need a float dtype, got ${dtype}`,
    );
  }
  const generator = options.generator ?? defaultGenerator;
  const values = Array.from({ length: sizeOf(shape) }, () => draw(generator));
  return tensorFromStorageArray(op, encodeValues(values, dtype), shape, dtype, backendOf(options));
}

/** Normal samples (default mean 0, std 1) from a seeded generator. */
export function randn(
  shape: Shape,
  options: RandomOptions & { mean?: number; std?: number } = {},
): Tensor {
  const { mean = 0, std = 1 } = options;
  return random('randn', shape, options, (g) => mean + std * g.nextNormal());
}

/** Uniform samples in [low, high) (default [0, 1)) from a seeded generator. */
export function rand(
  shape: Shape,
  options: RandomOptions & { low?: number; high?: number } = {},
): Tensor {
  const { low = 0, high = 1 } = options;
  return random('rand', shape, options, (g) => low + (high - low) * g.nextFloat());
}

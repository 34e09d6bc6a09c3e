import { bytesPerElement, contiguousStrides, type DType, type Tensor } from '@slimlm/core';

/** The op family's addon functions (native/ops/bindings.cc): each takes typed arrays and `dims`. */
export interface OpsAddon {
  copy(src: ArrayBufferView, dst: ArrayBufferView, dims: Float64Array): void;
  fill(dst: ArrayBufferView, value: ArrayBufferView, dims: Float64Array): void;
  select(
    out: ArrayBufferView,
    cond: ArrayBufferView,
    a: ArrayBufferView,
    b: ArrayBufferView,
    dims: Float64Array,
  ): void;
  map(
    out: ArrayBufferView,
    a: ArrayBufferView,
    b: ArrayBufferView | null,
    dims: Float64Array,
  ): void;
  reduce(x: ArrayBufferView, out: ArrayBufferView, dims: Float64Array): void;
  softmax(x: ArrayBufferView, out: ArrayBufferView, dims: Float64Array): void;
  norm(
    x: ArrayBufferView,
    weight: ArrayBufferView | null,
    bias: ArrayBufferView | null,
    out: ArrayBufferView,
    dims: Float64Array,
  ): void;
  rotary(
    x: ArrayBufferView,
    cos: ArrayBufferView,
    sin: ArrayBufferView,
    out: ArrayBufferView,
    dims: Float64Array,
  ): void;
  attention(
    q: ArrayBufferView,
    k: ArrayBufferView,
    v: ArrayBufferView,
    mask: ArrayBufferView | null,
    out: ArrayBufferView,
    dims: Float64Array,
  ): void;
  crossEntropy(
    logits: ArrayBufferView,
    targets: Int32Array,
    losses: Float64Array,
    dims: Float64Array,
  ): void;
  gather(x: ArrayBufferView, indices: Int32Array, out: ArrayBufferView, dims: Float64Array): void;
  scatterAdd(
    out: ArrayBufferView,
    indices: Int32Array,
    updates: ArrayBufferView,
    dims: Float64Array,
  ): void;
}

/** Dims a native kernel takes (kMaxDims in native/ops/ops.h); more go to the reference kernel. */
export const MAX_RANK = 16;

/** Element type codes of native/ops/ops.h (ValueType). */
const VALUE_TYPES: Partial<Record<DType, number>> = { f32: 0, f16: 1, bf16: 2, u8: 3, i32: 4 };

/** The dtypes native kernels compute in: f32, and the halves they convert exactly. */
export function isNativeFloat(dtype: DType): boolean {
  return dtype === 'f32' || dtype === 'f16' || dtype === 'bf16';
}

/**
 * A strided operand as native kernels take it: storage, element type, offset and strides in
 * elements. A tensor is one; so is a temporary f32 copy of one.
 */
export interface Operand {
  data: ArrayBufferView;
  type: number;
  offset: number;
  strides: readonly number[];
}

export function storageOf(t: Tensor): ArrayBufferView {
  return t.storage.handle as ArrayBufferView;
}

export function operandOf(t: Tensor): Operand {
  return { data: storageOf(t), type: VALUE_TYPES[t.dtype]!, offset: t.offset, strides: t.strides };
}

/** Native function codes of native/ops/ops.h (MapOp). */
export const MapOp = {
  identity: 0,
  add: 1,
  sub: 2,
  mul: 3,
  div: 4,
  neg: 5,
  exp: 6,
  log: 7,
  sqrt: 8,
  rsqrt: 9,
  tanh: 10,
  sigmoid: 11,
  silu: 12,
  geluErf: 13,
  geluTanh: 14,
  relu: 15,
  square: 16,
  maximum: 17,
  minimum: 18,
  abs: 19,
  clamp: 20,
  erf: 21,
  sin: 22,
  cos: 23,
  pow: 24,
  equal: 25,
  notEqual: 26,
  greater: 27,
  greaterEqual: 28,
  less: 29,
  lessEqual: 30,
  logicalNot: 31,
} as const;

/** out = op(inputs) elementwise over `shape`, every operand on its own strides. */
export function runMap(
  addon: OpsAddon,
  op: number,
  shape: readonly number[],
  out: Operand,
  inputs: readonly Operand[],
  params: readonly [number, number] = [0, 0],
): void {
  const [a, b] = inputs as [Operand, Operand | undefined];
  const second = b ?? a;
  addon.map(
    out.data,
    a.data,
    b ? b.data : null,
    Float64Array.from([
      op,
      inputs.length,
      params[0],
      params[1],
      out.type,
      out.offset,
      a.type,
      a.offset,
      second.type,
      second.offset,
      shape.length,
      ...shape,
      ...out.strides,
      ...inputs.flatMap((input) => input.strides),
    ]),
  );
}

/** copy of raw elements between two strided views of one shape and dtype. */
export function runCopy(
  addon: OpsAddon,
  dtype: DType,
  shape: readonly number[],
  src: Omit<Operand, 'type'>,
  dst: Omit<Operand, 'type'>,
): void {
  addon.copy(
    src.data,
    dst.data,
    Float64Array.from([
      bytesPerElement(dtype),
      shape.length,
      src.offset,
      dst.offset,
      ...shape,
      ...src.strides,
      ...dst.strides,
    ]),
  );
}

/**
 * `t` as an f32 operand: itself when f32; for halves, converted (exactly) to a temporary, either
 * the view alone (contiguous) or, when the view is larger than its storage (a broadcast), the
 * whole storage with the view's offset and strides kept.
 */
export function asF32(addon: OpsAddon, t: Tensor): Operand {
  if (t.dtype === 'f32') return operandOf(t);
  const storage = storageOf(t) as Uint16Array;
  if (t.size <= storage.length) {
    const strides = contiguousStrides(t.shape);
    const out: Operand = { data: new Float32Array(t.size), type: 0, offset: 0, strides };
    if (t.size > 0) runMap(addon, MapOp.identity, t.shape, out, [operandOf(t)]);
    return out;
  }
  const whole = new Float32Array(storage.length);
  runMap(
    addon,
    MapOp.identity,
    [storage.length],
    { data: whole, type: 0, offset: 0, strides: [1] },
    [{ data: storage, type: VALUE_TYPES[t.dtype]!, offset: 0, strides: [1] }],
  );
  return { data: whole, type: 0, offset: t.offset, strides: t.strides };
}

/** `t` as a contiguous f32 operand: itself when it already is one, else a converted copy. */
export function denseF32(addon: OpsAddon, t: Tensor): Operand {
  if (t.dtype === 'f32' && t.isContiguous) return operandOf(t);
  const strides = contiguousStrides(t.shape);
  const out: Operand = { data: new Float32Array(t.size), type: 0, offset: 0, strides };
  if (t.size === 0) return out;
  if (t.dtype === 'f32') runCopy(addon, 'f32', t.shape, operandOf(t), out);
  else runMap(addon, MapOp.identity, t.shape, out, [operandOf(t)]);
  return out;
}

/**
 * Runs `compute` on an f32 operand for the (contiguous) output `out`: `out` itself when f32,
 * else a temporary that is then rounded into `out`.
 */
export function intoF32(addon: OpsAddon, out: Tensor, compute: (target: Operand) => void): void {
  if (out.dtype === 'f32') {
    compute(operandOf(out));
    return;
  }
  const temporary: Operand = {
    data: new Float32Array(out.size),
    type: 0,
    offset: 0,
    strides: contiguousStrides(out.shape),
  };
  compute(temporary);
  if (out.size > 0) runMap(addon, MapOp.identity, out.shape, operandOf(out), [temporary]);
}

/** The values of an i32 tensor (indices, targets) as a contiguous Int32Array. */
export function int32Values(addon: OpsAddon, t: Tensor): Int32Array {
  const storage = storageOf(t) as Int32Array;
  if (t.isContiguous) return storage.subarray(t.offset, t.offset + t.size);
  const out = new Int32Array(t.size);
  if (t.size > 0) {
    runCopy(addon, 'i32', t.shape, operandOf(t), {
      data: out,
      offset: 0,
      strides: contiguousStrides(t.shape),
    });
  }
  return out;
}

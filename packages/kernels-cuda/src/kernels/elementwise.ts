import {
  bytesPerElement,
  type CastAttrs,
  type ClampAttrs,
  type DType,
  fromBf16Bits,
  fromF16Bits,
  type GeluAttrs,
  type KernelArgs,
  type MaskedFillAttrs,
  type Tensor,
  toBf16Bits,
  toF16Bits,
} from '@slimlm/core';
import type { NativeAddon } from '../native';
import { DTYPE_CODES, FLOATS, isFloat, registerCuda, unsupportedDType, viewOf } from './launch';
import { collapse } from './layout';
import { bitsOf } from './memory';

/** Function codes of the map kernel (native/kernels/kernels.h MapOp). */
export const MAP_OPS = {
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

/** Ops the map kernel also runs on i32 and u8 operands, in wrapping int32 arithmetic. */
export const INTEGER_OPS: ReadonlySet<string> = new Set([
  'add',
  'sub',
  'mul',
  'neg',
  'abs',
  'square',
  'maximum',
  'minimum',
  'clamp',
  'equal',
  'notEqual',
  'greater',
  'greaterEqual',
  'less',
  'lessEqual',
  'logicalNot',
]);

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** out = f(inputs) elementwise on the map kernel, every operand on its own strides. */
function runMap(
  addon: NativeAddon,
  code: number,
  out: Tensor,
  inputs: readonly Tensor[],
  params: readonly [number, number] = [0, 0],
): void {
  const [a, b] = inputs.map(viewOf);
  const o = viewOf(out);
  addon.map({
    op: code,
    arity: inputs.length,
    param0: params[0],
    param1: params[1],
    layout: collapse('map', out.shape, [o.strides, a!.strides, (b ?? a)!.strides]),
    out: o.address,
    outType: DTYPE_CODES[o.dtype],
    a: a!.address,
    aType: DTYPE_CODES[a!.dtype],
    b: b?.address ?? null,
    bType: DTYPE_CODES[(b ?? a)!.dtype],
  });
}

/** `value` rounded to `dtype` as the reference stores it (min and max commute with rounding). */
function roundedTo(value: number, dtype: DType): number {
  if (dtype === 'f16') return fromF16Bits(toF16Bits(value));
  if (dtype === 'bf16') return fromBf16Bits(toBf16Bits(value));
  if (dtype === 'f32') return Math.fround(value);
  return Math.min(INT32_MAX, Math.max(INT32_MIN, value));
}

function registerMap<A>(
  addon: NativeAddon,
  op: string,
  code: number | ((attrs: A) => number),
  params?: (args: KernelArgs<A>) => [number, number],
): void {
  registerCuda<A>(addon, op, ({ args }) => {
    const x = args.inputs[0]!;
    if (!isFloat(x.dtype) && !INTEGER_OPS.has(op)) throw unsupportedDType(op, x.dtype, FLOATS);
    runMap(
      addon,
      typeof code === 'number' ? code : code(args.attrs),
      args.outputs[0]!,
      args.inputs,
      params?.(args),
    );
  });
}

/** Arithmetic, math functions, comparisons, casts, where and maskedFill. */
export function registerElementwise(addon: NativeAddon): void {
  const simple = [
    'add',
    'sub',
    'mul',
    'div',
    'neg',
    'exp',
    'log',
    'sqrt',
    'rsqrt',
    'tanh',
    'sigmoid',
    'silu',
    'relu',
    'square',
    'maximum',
    'minimum',
    'abs',
    'erf',
    'sin',
    'cos',
    'pow',
    'equal',
    'notEqual',
    'greater',
    'greaterEqual',
    'less',
    'lessEqual',
    'logicalNot',
  ] as const;
  for (const op of simple) registerMap(addon, op, MAP_OPS[op]);

  registerMap<GeluAttrs>(addon, 'gelu', (attrs) =>
    attrs.approximate === 'tanh' ? MAP_OPS.geluTanh : MAP_OPS.geluErf,
  );

  registerMap<ClampAttrs>(addon, 'clamp', MAP_OPS.clamp, ({ attrs, outputs }) => {
    const dtype = outputs[0]!.dtype;
    const integer = !isFloat(dtype);
    const low = attrs.min ?? (integer ? INT32_MIN : Number.NEGATIVE_INFINITY);
    const high = attrs.max ?? (integer ? INT32_MAX : Number.POSITIVE_INFINITY);
    return [roundedTo(low, dtype), roundedTo(high, dtype)];
  });

  // Among every stored dtype: float <-> float rounds once to nearest even (as core's half.ts),
  // float -> integer truncates and integer -> integer wraps, as C's conversions do.
  registerCuda<CastAttrs>(addon, 'cast', ({ args }) =>
    runMap(addon, MAP_OPS.identity, args.outputs[0]!, args.inputs),
  );

  registerCuda(addon, 'where', ({ args }) => {
    const [condition, a, b] = args.inputs.map(viewOf);
    const out = viewOf(args.outputs[0]!);
    addon.select({
      layout: collapse('where', out.shape, [
        out.strides,
        condition!.strides,
        a!.strides,
        b!.strides,
      ]),
      out: out.address,
      cond: condition!.address,
      a: a!.address,
      b: b!.address,
      elementBytes: bytesPerElement(out.dtype),
    });
  });

  registerCuda<MaskedFillAttrs>(addon, 'maskedFill', ({ args }) => {
    const [x, mask] = args.inputs.map(viewOf);
    const out = viewOf(args.outputs[0]!);
    addon.select({
      layout: collapse('maskedFill', out.shape, [
        out.strides,
        mask!.strides,
        out.strides,
        x!.strides,
      ]),
      out: out.address,
      cond: mask!.address,
      a: null,
      aBits: bitsOf(args.attrs.value, out.dtype),
      b: x!.address,
      elementBytes: bytesPerElement(out.dtype),
    });
  });
}

import {
  bytesPerElement,
  type CastAttrs,
  type ClampAttrs,
  type DType,
  encodeValues,
  fromBf16Bits,
  fromF16Bits,
  type GeluAttrs,
  type KernelArgs,
  type MaskedFillAttrs,
  type Tensor,
  toBf16Bits,
  toF16Bits,
} from '@slimlm/core';
import {
  isNativeFloat,
  MAX_RANK,
  MapOp,
  type Operand,
  type OpsAddon,
  operandOf,
  runMap,
  storageOf,
} from './operands';
import { registerNative } from './register';

const COMPARISONS = new Set(['equal', 'notEqual', 'greater', 'greaterEqual', 'less', 'lessEqual']);

/**
 * Whether the native map kernel takes these inputs and output: float operands, or i32 operands
 * of a comparison (the index masks of the cross-entropy gradient).
 */
function mapsNatively(op: string, inputs: readonly Tensor[], out: Tensor): boolean {
  if (out.rank > MAX_RANK) return false;
  if (COMPARISONS.has(op) && inputs.every((t) => t.dtype === 'i32')) return true;
  return (
    inputs.every((t) => isNativeFloat(t.dtype)) && (isNativeFloat(out.dtype) || out.dtype === 'u8')
  );
}

/** Registers `op` as native function `code` on f32, f16 and bf16; other dtypes use the reference. */
function registerMap<A>(
  addon: OpsAddon,
  op: string,
  code: number | ((attrs: A) => number),
  params?: (args: KernelArgs<A>) => [number, number],
): void {
  registerNative<A>(op, (args, reference) => {
    const [out] = args.outputs;
    if (!mapsNatively(op, args.inputs, out!)) return reference(args);
    runMap(
      addon,
      typeof code === 'number' ? code : code(args.attrs),
      out!.shape,
      operandOf(out!),
      args.inputs.map(operandOf),
      params?.(args),
    );
  });
}

/** `value` rounded to `dtype` as the reference stores it, back as a number (exact in f32). */
function roundedTo(value: number, dtype: DType): number {
  if (dtype === 'f16') return fromF16Bits(toF16Bits(value));
  if (dtype === 'bf16') return fromBf16Bits(toBf16Bits(value));
  return Math.fround(value);
}

/**
 * Elementwise ops, comparisons, casts, where and maskedFill. Arithmetic runs in f32 and is rounded
 * once to the output dtype; where and maskedFill move raw elements of any dtype.
 */
export function registerElementwise(addon: OpsAddon): void {
  const simple: [string, number][] = [
    ['add', MapOp.add],
    ['sub', MapOp.sub],
    ['mul', MapOp.mul],
    ['div', MapOp.div],
    ['neg', MapOp.neg],
    ['exp', MapOp.exp],
    ['log', MapOp.log],
    ['sqrt', MapOp.sqrt],
    ['rsqrt', MapOp.rsqrt],
    ['tanh', MapOp.tanh],
    ['sigmoid', MapOp.sigmoid],
    ['silu', MapOp.silu],
    ['relu', MapOp.relu],
    ['square', MapOp.square],
    ['maximum', MapOp.maximum],
    ['minimum', MapOp.minimum],
    ['abs', MapOp.abs],
    ['erf', MapOp.erf],
    ['sin', MapOp.sin],
    ['cos', MapOp.cos],
    ['pow', MapOp.pow],
    ['equal', MapOp.equal],
    ['notEqual', MapOp.notEqual],
    ['greater', MapOp.greater],
    ['greaterEqual', MapOp.greaterEqual],
    ['less', MapOp.less],
    ['lessEqual', MapOp.lessEqual],
    ['logicalNot', MapOp.logicalNot],
  ];
  for (const [op, code] of simple) registerMap(addon, op, code);

  registerMap<GeluAttrs>(addon, 'gelu', (attrs) =>
    attrs.approximate === 'tanh' ? MapOp.geluTanh : MapOp.geluErf,
  );

  // Bounds rounded to the dtype first: min and max commute with rounding, so the result is then
  // exactly the reference's f64 clamp rounded once.
  registerMap<ClampAttrs>(addon, 'clamp', MapOp.clamp, ({ attrs, outputs }) => [
    roundedTo(attrs.min ?? Number.NEGATIVE_INFINITY, outputs[0]!.dtype),
    roundedTo(attrs.max ?? Number.POSITIVE_INFINITY, outputs[0]!.dtype),
  ]);

  // Casts among f32, f16 and bf16 (and from u8 masks) round like core's half.ts; casts to or from
  // integers and f64 follow C's rules in the reference kernel.
  registerNative<CastAttrs>('cast', (args, reference) => {
    const [x] = args.inputs;
    const [out] = args.outputs;
    const fromNative = isNativeFloat(x!.dtype) || x!.dtype === 'u8';
    if (!fromNative || !isNativeFloat(out!.dtype) || out!.rank > MAX_RANK) return reference(args);
    runMap(addon, MapOp.identity, out!.shape, operandOf(out!), [operandOf(x!)]);
  });

  registerNative('where', (args, reference) => {
    const [condition, a, b] = args.inputs;
    const [out] = args.outputs;
    if (out!.rank > MAX_RANK) return reference(args);
    select(addon, out!, condition!, operandOf(a!), operandOf(b!));
  });

  // maskedFill is where(mask, value, x), the value encoded once as the reference stores it and
  // broadcast with stride 0.
  registerNative<MaskedFillAttrs>('maskedFill', (args, reference) => {
    const [x, mask] = args.inputs;
    const [out] = args.outputs;
    if (out!.rank > MAX_RANK) return reference(args);
    const value = encodeValues([args.attrs.value], out!.dtype);
    const filler = { data: value, type: 0, offset: 0, strides: out!.shape.map(() => 0) };
    select(addon, out!, mask!, filler, operandOf(x!));
  });
}

/** out = condition ? a : b, moving raw elements of out's dtype. */
function select(addon: OpsAddon, out: Tensor, condition: Tensor, a: Operand, b: Operand): void {
  addon.select(
    storageOf(out),
    storageOf(condition),
    a.data,
    b.data,
    Float64Array.from([
      bytesPerElement(out.dtype),
      out.rank,
      out.offset,
      condition.offset,
      a.offset,
      b.offset,
      ...out.shape,
      ...out.strides,
      ...condition.strides,
      ...a.strides,
      ...b.strides,
    ]),
  );
}

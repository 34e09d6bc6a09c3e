import {
  type ApplyRotaryAttrs,
  type CrossEntropyAttrs,
  type ScaledDotProductAttentionAttrs,
  SlimlmError,
  type Tensor,
  toBf16Bits,
  toF16Bits,
} from '@slimlm/core';
import {
  asF32,
  denseF32,
  int32Values,
  intoF32,
  isNativeFloat,
  MAX_RANK,
  type Operand,
  type OpsAddon,
} from './operands';
import { registerNative } from './register';

/**
 * `t` as f32 with unit stride along its last dim, as the attention kernel reads q, k and v rows:
 * itself when it is, else a contiguous copy.
 */
function rowsF32(addon: OpsAddon, t: Tensor): Operand {
  const view = asF32(addon, t);
  const last = t.shape[t.rank - 1]!;
  return last <= 1 || view.strides[t.rank - 1] === 1 ? view : denseF32(addon, t);
}

/**
 * Stores f64 losses into the (fresh, contiguous) output of any native float dtype, rounding once
 * like the reference.
 */
function storeLosses(out: Tensor, losses: ArrayLike<number>): void {
  const data = out.storage.handle as Float32Array | Uint16Array;
  const encode =
    out.dtype === 'f16' ? toF16Bits : out.dtype === 'bf16' ? toBf16Bits : (v: number) => v;
  for (let i = 0; i < losses.length; i++) data[out.offset + i] = encode(losses[i]!);
}

/** applyRotary, scaledDotProductAttention and crossEntropy on f32, f16 and bf16. */
export function registerTransformer(addon: OpsAddon): void {
  registerNative<ApplyRotaryAttrs>('applyRotary', (args, reference) => {
    const [x, cos, sin] = args.inputs;
    const [out] = args.outputs;
    if (!isNativeFloat(x!.dtype) || x!.rank > MAX_RANK) return reference(args);
    const [xs, cs, ss] = [x!, cos!, sin!].map((t) => asF32(addon, t)) as [
      Operand,
      Operand,
      Operand,
    ];
    intoF32(addon, out!, (target) =>
      addon.rotary(
        xs.data,
        cs.data,
        ss.data,
        target.data,
        Float64Array.from([
          args.attrs.rotaryDim,
          xs.offset,
          cs.offset,
          ss.offset,
          target.offset,
          x!.rank,
          ...x!.shape,
          ...xs.strides,
          ...cs.strides,
          ...ss.strides,
        ]),
      ),
    );
  });

  registerNative<ScaledDotProductAttentionAttrs>('scaledDotProductAttention', (args, reference) => {
    const [q, k, v, mask] = args.inputs;
    const [out] = args.outputs;
    if (!isNativeFloat(q!.dtype)) return reference(args);
    const [qs, ks, vs] = [q!, k!, v!].map((t) => rowsF32(addon, t)) as [Operand, Operand, Operand];
    const ms = mask ? asF32(addon, mask) : null;
    const [batch, queryHeads, queryLength, depth] = q!.shape as [number, number, number, number];
    const [, kvHeads, keyLength] = k!.shape as [number, number, number];
    intoF32(addon, out!, (target) =>
      addon.attention(
        qs.data,
        ks.data,
        vs.data,
        ms?.data ?? null,
        target.data,
        Float64Array.from([
          batch,
          queryHeads,
          kvHeads,
          queryLength,
          keyLength,
          depth,
          v!.shape[3]!,
          args.attrs.causal ? 1 : 0,
          args.attrs.scale,
          qs.offset,
          ks.offset,
          vs.offset,
          ms?.offset ?? 0,
          target.offset,
          ...qs.strides.slice(0, 3),
          ...ks.strides.slice(0, 3),
          ...vs.strides.slice(0, 3),
          ...(ms?.strides ?? [0, 0, 0, 0]),
        ]),
      ),
    );
  });

  // Targets are data: they are range-checked here, before the kernel runs, with the reference's
  // error. Each row's loss comes back in f64 and is reduced in row order, as the reference does.
  registerNative<CrossEntropyAttrs>('crossEntropy', (args, reference) => {
    const [logits, targets] = args.inputs;
    const [out] = args.outputs;
    if (!isNativeFloat(logits!.dtype) || logits!.rank > MAX_RANK) return reference(args);
    const { ignoreIndex, reduction } = args.attrs;
    const classes = logits!.shape[logits!.rank - 1]!;
    const labels = int32Values(addon, targets!);
    for (let row = 0; row < labels.length; row++) {
      const label = labels[row]!;
      if (label !== ignoreIndex && (label < 0 || label >= classes)) {
        throw new SlimlmError(
          'INVALID_ARGUMENT',
          `crossEntropy: target ${label} at position ${row} is out of range for ${classes} classes (expected 0..${classes - 1}, or ignoreIndex ${ignoreIndex})`,
        );
      }
    }
    const input = asF32(addon, logits!);
    const losses = new Float64Array(labels.length);
    const rows = logits!.rank - 1;
    addon.crossEntropy(
      input.data,
      labels,
      losses,
      Float64Array.from([
        classes,
        input.strides[rows]!,
        ignoreIndex,
        input.offset,
        rows,
        ...logits!.shape.slice(0, rows),
        ...input.strides.slice(0, rows),
      ]),
    );
    if (reduction === 'none') {
      storeLosses(out!, losses);
      return;
    }
    let total = 0;
    let counted = 0;
    for (let row = 0; row < labels.length; row++) {
      if (labels[row] === ignoreIndex) continue;
      total += losses[row]!;
      counted++;
    }
    storeLosses(out!, [reduction === 'sum' ? total : total / counted]);
  });
}

import {
  type ApplyRotaryAttrs,
  type CrossEntropyAttrs,
  type ScaledDotProductAttentionAttrs,
  SlimlmError,
} from '@slimlm/core';
import type { NativeAddon } from '../native';
import {
  DTYPE_CODES,
  expectDTypes,
  FLOATS,
  registerCuda,
  type Temporaries,
  type View,
  viewOf,
} from './launch';
import { collapse } from './layout';

/** Cross-entropy reductions as the kernel numbers them. */
const REDUCTIONS = { none: 0, sum: 1, mean: 2 } as const;

/** `view` with unit stride along its last axis (what attention reads rows with). */
function unitRows(temps: Temporaries, view: View): View {
  const last = view.shape.length - 1;
  return view.shape[last]! <= 1 || view.strides[last] === 1 ? view : temps.dense(view);
}

/** applyRotary, scaledDotProductAttention and crossEntropy on f32, f16 and bf16. */
export function registerTransformer(addon: NativeAddon): void {
  // The largest head dimension the attention kernels hold in registers and shared memory.
  const { backend, attentionMaxHeadDim: maxHeadDim } = addon.capabilities();
  // cos and sin arrive broadcast to [..., rotaryDim] (stride 0 over heads, say): they are read
  // in place, x is made contiguous.
  registerCuda<ApplyRotaryAttrs>(addon, 'applyRotary', ({ args, temps }) => {
    const [x, cos, sin] = args.inputs;
    expectDTypes('applyRotary', args.inputs, FLOATS);
    const [c, s] = [viewOf(cos!), viewOf(sin!)];
    const rank = x!.rank;
    const headDim = x!.shape[rank - 1]!;
    addon.rotary({
      x: temps.dense(viewOf(x!)).address,
      out: viewOf(args.outputs[0]!).address,
      cos: c.address,
      sin: s.address,
      type: DTYPE_CODES[x!.dtype],
      rows: headDim === 0 ? 0 : x!.size / headDim,
      headDim,
      rotaryDim: args.attrs.rotaryDim,
      tables: collapse('applyRotary', x!.shape.slice(0, -1), [
        c.strides.slice(0, -1),
        s.strides.slice(0, -1),
      ]),
      cosStride: c.strides[rank - 1],
      sinStride: s.strides[rank - 1],
    });
  });

  registerCuda<ScaledDotProductAttentionAttrs>(
    addon,
    'scaledDotProductAttention',
    ({ args, temps }) => {
      const [q, k, v, mask] = args.inputs;
      expectDTypes('scaledDotProductAttention', args.inputs, FLOATS);
      const [batch, queryHeads, queryLength, depth] = q!.shape as [number, number, number, number];
      const [, kvHeads, keyLength] = k!.shape as [number, number, number];
      const valueDepth = v!.shape[3]!;
      if (depth > maxHeadDim || valueDepth > maxHeadDim) {
        throw new SlimlmError(
          'UNSUPPORTED',
          `scaledDotProductAttention: the ${backend} kernels take head dimensions up to ${maxHeadDim}, got q/k ${depth} and v ${valueDepth}`,
        );
      }
      const [qs, ks, vs] = [q!, k!, v!].map((t) => unitRows(temps, viewOf(t))) as [
        View,
        View,
        View,
      ];
      const ms = mask ? viewOf(mask) : null;
      addon.attention({
        q: qs.address,
        k: ks.address,
        v: vs.address,
        mask: ms?.address ?? null,
        out: viewOf(args.outputs[0]!).address,
        type: DTYPE_CODES[q!.dtype],
        batch,
        queryHeads,
        kvHeads,
        queryLength,
        keyLength,
        depth,
        valueDepth,
        qStrides: qs.strides.slice(0, 3),
        kStrides: ks.strides.slice(0, 3),
        vStrides: vs.strides.slice(0, 3),
        maskStrides: ms?.strides ?? [0, 0, 0, 0],
        scale: args.attrs.scale,
        causal: args.attrs.causal,
      });
    },
  );

  // Targets are data: the kernel reports the first one out of range, and the glue throws the
  // reference backend's error for it (reading that one target back).
  registerCuda<CrossEntropyAttrs>(addon, 'crossEntropy', ({ args, temps }) => {
    const [logits, targets] = args.inputs;
    expectDTypes('crossEntropy', [logits!], FLOATS);
    const { ignoreIndex, reduction } = args.attrs;
    const classes = logits!.shape[logits!.rank - 1]!;
    const labels = temps.dense(viewOf(targets!));
    const badRow = addon.crossEntropy({
      logits: temps.dense(viewOf(logits!)).address,
      type: DTYPE_CODES[logits!.dtype],
      targets: labels.address,
      result: viewOf(args.outputs[0]!).address,
      rows: targets!.size,
      classes,
      ignoreIndex,
      reduction: REDUCTIONS[reduction],
    });
    if (badRow < 0) return;
    const label = new Int32Array(1);
    addon.read(labels.address + badRow * 4, label);
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `crossEntropy: target ${label[0]} at position ${badRow} is out of range for ${classes} classes (expected 0..${classes - 1}, or ignoreIndex ${ignoreIndex})`,
    );
  });
}

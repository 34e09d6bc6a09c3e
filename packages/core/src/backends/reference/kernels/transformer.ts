import { SlimlmError } from '../../../errors';
import { registerKernel } from '../../../kernels';
import type { ScaledDotProductAttentionAttrs } from '../../../ops/attention';
import type { CrossEntropyAttrs } from '../../../ops/loss';
import type { ApplyRotaryAttrs } from '../../../ops/rotary';
import { REFERENCE } from '../backend';
import { readValues, writeValues } from '../strided';

// applyRotary: x [..., D]; cos and sin arrive broadcast to [..., rotaryDim]. The first rotaryDim
// channels of each row rotate as x * cos + rotate_half(x) * sin, where rotate_half(x) is
// (-x2, x1) for the halves (x1, x2); the remaining channels pass through.
registerKernel<ApplyRotaryAttrs>({
  op: 'applyRotary',
  backend: REFERENCE,
  fn: ({ inputs: [x, cos, sin], outputs: [out], attrs }) => {
    const values = readValues(x!);
    const c = readValues(cos!);
    const s = readValues(sin!);
    const width = x!.shape[x!.rank - 1]!;
    const rotary = attrs.rotaryDim;
    const half = rotary / 2;
    const result = Float64Array.from(values);
    const rows = width === 0 ? 0 : values.length / width;
    for (let row = 0; row < rows; row++) {
      const at = row * width;
      const table = row * rotary;
      for (let j = 0; j < rotary; j++) {
        const rotated = j < half ? -values[at + j + half]! : values[at + j - half]!;
        result[at + j] = values[at + j]! * c[table + j]! + rotated * s[table + j]!;
      }
    }
    writeValues(out!, result);
  },
});

// scaledDotProductAttention: q [B, Hq, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv], an optional
// additive mask broadcast to [B, Hq, Tq, Tk]. Softmax in f64 after subtracting the row maximum; a
// row that admits no key (causal offset, or -Infinity everywhere in the mask) outputs zeros.
registerKernel<ScaledDotProductAttentionAttrs>({
  op: 'scaledDotProductAttention',
  backend: REFERENCE,
  fn: ({ inputs: [q, k, v, mask], outputs: [out], attrs }) => {
    const [batch, queryHeads, queryLength, depth] = q!.shape as [number, number, number, number];
    const [, kvHeads, keyLength] = k!.shape as [number, number, number];
    const valueDepth = v!.shape[3]!;
    const group = queryHeads / kvHeads;
    const offset = keyLength - queryLength;
    const qs = readValues(q!);
    const ks = readValues(k!);
    const vs = readValues(v!);
    const bias = mask === undefined ? null : readValues(mask);
    const result = new Float64Array(out!.size);
    const scores = new Float64Array(keyLength);
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < queryHeads; h++) {
        const kvHead = b * kvHeads + Math.floor(h / group);
        for (let i = 0; i < queryLength; i++) {
          const row = (b * queryHeads + h) * queryLength + i;
          const visible = attrs.causal
            ? Math.max(0, Math.min(keyLength, i + offset + 1))
            : keyLength;
          let max = Number.NEGATIVE_INFINITY;
          for (let j = 0; j < visible; j++) {
            let dot = 0;
            for (let d = 0; d < depth; d++) {
              dot += qs[row * depth + d]! * ks[(kvHead * keyLength + j) * depth + d]!;
            }
            scores[j] = dot * attrs.scale + (bias === null ? 0 : bias[row * keyLength + j]!);
            max = Math.max(max, scores[j]!);
          }
          if (max === Number.NEGATIVE_INFINITY) continue;
          let total = 0;
          for (let j = 0; j < visible; j++) {
            scores[j] = Math.exp(scores[j]! - max);
            total += scores[j]!;
          }
          for (let j = 0; j < visible; j++) {
            const weight = scores[j]! / total;
            for (let e = 0; e < valueDepth; e++) {
              result[row * valueDepth + e]! +=
                weight * vs[(kvHead * keyLength + j) * valueDepth + e]!;
            }
          }
        }
      }
    }
    writeValues(out!, result);
  },
});

// crossEntropy: logits [..., C], i32 targets [...]. Each row's loss is logsumexp(row) - row[target]
// in f64; ignored rows count neither in the sum nor in the mean's denominator (so a mean over no
// rows is 0/0 = NaN, as in PyTorch). Targets are data, so only the kernel can range-check them.
registerKernel<CrossEntropyAttrs>({
  op: 'crossEntropy',
  backend: REFERENCE,
  fn: ({ inputs: [logits, targets], outputs: [out], attrs }) => {
    const classes = logits!.shape[logits!.rank - 1]!;
    const values = readValues(logits!);
    const labels = readValues(targets!);
    const losses = new Float64Array(labels.length);
    let total = 0;
    let counted = 0;
    labels.forEach((label, row) => {
      if (label === attrs.ignoreIndex) return;
      if (label < 0 || label >= classes) {
        throw new SlimlmError(
          'INVALID_ARGUMENT',
          `crossEntropy: target ${label} at position ${row} is out of range for ${classes} classes (expected 0..${classes - 1}, or ignoreIndex ${attrs.ignoreIndex})`,
        );
      }
      const at = row * classes;
      let max = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < classes; c++) max = Math.max(max, values[at + c]!);
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(values[at + c]! - max);
      losses[row] = max + Math.log(sum) - values[at + label]!;
      total += losses[row]!;
      counted++;
    });
    if (attrs.reduction === 'none') writeValues(out!, losses);
    else writeValues(out!, [attrs.reduction === 'sum' ? total : total / counted]);
  },
});

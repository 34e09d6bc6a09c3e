import { registerGradient } from '../../kernels';
import { scope } from '../../memory';
import type { ScaledDotProductAttentionAttrs } from '../../ops/attention';
import { cast } from '../../ops/cast';
import { equal, maskedFill, notEqual, where } from '../../ops/compare';
import { arange, tensor, zerosLike } from '../../ops/creation';
import { add, div, mul, neg, sub } from '../../ops/elementwise';
import type { CrossEntropyAttrs } from '../../ops/loss';
import { matmul } from '../../ops/matmul';
import { softmax } from '../../ops/normalization';
import { max, sum } from '../../ops/reduce';
import { type ApplyRotaryAttrs, applyRotary } from '../../ops/rotary';
import { reshape, transpose, unsqueeze } from '../../ops/view';
import type { Tensor } from '../../tensor';

// rotate_half is linear with transpose -rotate_half, so the gradient of x * cos + rotate_half(x) *
// sin is dy * cos - rotate_half(dy * sin): the same rotation with -sin, i.e. the inverse rotation.
// Pass-through channels get dy unchanged, as applyRotary leaves them. The tables are constants.
registerGradient<ApplyRotaryAttrs>(
  'applyRotary',
  ({ inputs: [, cos, sin], gradOutputs: [dy], attrs }) =>
    scope(() => [applyRotary(dy!, cos!, neg(sin!), attrs), null, null]),
);

/**
 * 1 where query row r of the [G * Tq, Tk] scores (query i = r mod Tq, repeated for each of the G
 * heads sharing a kv head) may not see key j under causal masking: j > i + (Tk - Tq).
 */
function causalHidden(group: number, queryLength: number, keyLength: number, like: Tensor): Tensor {
  const hidden = new Uint8Array(group * queryLength * keyLength);
  for (let r = 0; r < group * queryLength; r++) {
    const i = r % queryLength;
    for (let j = 0; j < keyLength; j++) {
      hidden[r * keyLength + j] = j > i + keyLength - queryLength ? 1 : 0;
    }
  }
  return tensor(hidden, { shape: [group * queryLength, keyLength], backend: like.backend });
}

// Recomputes the probabilities and backpropagates through softmax(S) v with S = q kᵀ scale + mask.
// Grouped heads are folded into the query rows, q as [B, Hkv, G * Tq, D], so that one batched
// matmul per product serves all heads and the sums over each group in dk and dv come for free.
registerGradient<ScaledDotProductAttentionAttrs>(
  'scaledDotProductAttention',
  ({ inputs: [q, k, v, mask], gradOutputs: [dy], attrs }) =>
    scope(() => {
      const [batch, queryHeads, queryLength, depth] = q!.shape as [number, number, number, number];
      const [, kvHeads, keyLength] = k!.shape as [number, number, number];
      if (keyLength === 0 || queryHeads === 0) {
        return [zerosLike(q!), zerosLike(k!), zerosLike(v!), mask ? zerosLike(mask) : null];
      }
      const group = queryHeads / kvHeads;
      const rows = [batch, kvHeads, group * queryLength];
      const groupedQ = reshape(q!, [...rows, depth]);
      let scores = mul(matmul(groupedQ, transpose(k!)), attrs.scale);
      if (mask) scores = add(scores, reshape(mask, [...rows, keyLength]));
      if (attrs.causal) {
        const hidden = causalHidden(group, queryLength, keyLength, q!);
        scores = maskedFill(scores, hidden, Number.NEGATIVE_INFINITY);
      }
      // A row that admits no key is all -Infinity, which softmax turns into 0/0; its output was 0.
      const admitsAKey = notEqual(max(scores, -1, { keepDims: true }), Number.NEGATIVE_INFINITY);
      const probs = where(admitsAKey, softmax(scores, -1), 0);
      const groupedDy = reshape(dy!, [...rows, v!.shape[3]!]);
      const dv = matmul(transpose(probs), groupedDy);
      const dProbs = matmul(groupedDy, transpose(v!));
      const projection = sum(mul(probs, dProbs), -1, { keepDims: true });
      const dScores = mul(probs, sub(dProbs, projection));
      const dq = reshape(mul(matmul(dScores, k!), attrs.scale), q!.shape);
      const dk = mul(matmul(transpose(dScores), groupedQ), attrs.scale);
      return [dq, dk, dv, mask ? reshape(dScores, mask.shape) : null];
    }),
);

// d/dlogits of logsumexp - logit[target] is softmax - onehot(target), scaled by each row's weight:
// the output gradient, zero for ignored rows, divided by the count of counted rows for 'mean'.
registerGradient<CrossEntropyAttrs>(
  'crossEntropy',
  ({ inputs: [logits, targets], gradOutputs: [dy], attrs }) =>
    scope(() => {
      const classes = logits!.shape[logits!.rank - 1]!;
      const labels = unsqueeze(targets!, -1);
      const classIds = arange(classes, undefined, 1, { dtype: 'i32', backend: logits!.backend });
      const onehot = cast(equal(classIds, labels), logits!.dtype);
      const counted = cast(notEqual(targets!, attrs.ignoreIndex), logits!.dtype);
      const weights =
        attrs.reduction === 'mean' ? div(mul(counted, dy!), sum(counted)) : mul(counted, dy!);
      return [mul(sub(softmax(logits!, -1), onehot), unsqueeze(weights, -1)), null];
    }),
);

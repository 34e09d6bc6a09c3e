import { runKernel1 } from '../engine';
import { invalidArgument, SlimlmError } from '../errors';
import { formatShape } from '../shape';
import type { Tensor } from '../tensor';
import { assertFloat, assertSameDType } from './elementwise';
import { broadcastTo } from './view';

export interface AttentionOptions {
  /**
   * Causal masking aligned to the newest keys, so that it also holds with a KV cache: query i
   * (0-based among the Tq newest positions) sees key j iff j <= i + (Tk - Tq).
   */
  causal?: boolean;
  /** Multiplies q·k before the softmax (default 1 / sqrt(D)). */
  scale?: number;
  /** Additive float mask (same dtype as q) broadcastable to [B, Hq, Tq, Tk]; -Infinity excludes a key. */
  mask?: Tensor;
}

export interface ScaledDotProductAttentionAttrs {
  causal: boolean;
  scale: number;
}

/**
 * softmax(q kᵀ · scale + mask) v over q [B, Hq, Tq, D], k [B, Hkv, Tk, D] and v [B, Hkv, Tk, Dv],
 * giving [B, Hq, Tq, Dv]. Grouped-query attention: Hq must be a multiple of Hkv, and query head h
 * reads kv head floor(h / (Hq / Hkv)), as HF `repeat_kv` arranges. A query row that admits no key
 * at all (before the first key under a causal offset, or -Infinity everywhere in the mask) gives
 * zeros rather than the NaN of a 0/0 softmax, and gets zero gradients.
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionOptions = {},
): Tensor {
  const op = 'scaledDotProductAttention';
  const { mask } = options;
  const operands = mask === undefined ? [q, k, v] : [q, k, v, mask];
  for (const t of operands) {
    t.assertAlive(op);
    assertFloat(op, t);
    assertSameDType(op, q, t);
  }
  const shapes = `q ${formatShape(q.shape)}, k ${formatShape(k.shape)}, v ${formatShape(v.shape)}`;
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: q, k and v must be [batch, heads, seq, headDim], got ${shapes}`,
    );
  }
  const [batch, queryHeads, queryLength, depth] = q.shape as [number, number, number, number];
  const [keyBatch, kvHeads, keyLength, keyDepth] = k.shape as [number, number, number, number];
  const [valueBatch, valueHeads, valueLength, valueDepth] = v.shape as [
    number,
    number,
    number,
    number,
  ];
  if (
    keyBatch !== batch ||
    valueBatch !== batch ||
    valueHeads !== kvHeads ||
    valueLength !== keyLength ||
    keyDepth !== depth
  ) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: batch, kv heads, key length and headDim disagree in ${shapes}`,
    );
  }
  if (kvHeads === 0 ? queryHeads !== 0 : queryHeads % kvHeads !== 0) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: ${queryHeads} query heads are not a multiple of ${kvHeads} kv heads in ${shapes}`,
    );
  }
  // With D = 0 every score is 0 whatever the scale; 1 keeps it finite.
  const scale = options.scale ?? (depth > 0 ? 1 / Math.sqrt(depth) : 1);
  if (!Number.isFinite(scale)) {
    throw invalidArgument(op, `scale must be a finite number, got ${scale}`);
  }
  const attrs: ScaledDotProductAttentionAttrs = { causal: options.causal ?? false, scale };
  const output = { shape: [batch, queryHeads, queryLength, valueDepth], dtype: q.dtype };
  if (mask === undefined) return runKernel1(op, [q, k, v], attrs, output);
  const scoresShape = [batch, queryHeads, queryLength, keyLength];
  let broadcastMask: Tensor;
  try {
    broadcastMask = broadcastTo(mask, scoresShape);
  } catch {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: mask ${formatShape(mask.shape)} does not broadcast to the scores ${formatShape(scoresShape)} of ${shapes}`,
    );
  }
  try {
    return runKernel1(op, [q, k, v, broadcastMask], attrs, output);
  } finally {
    broadcastMask.dispose();
  }
}

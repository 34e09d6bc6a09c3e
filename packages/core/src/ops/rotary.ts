import type { Backend } from '../backend';
import { type DType, isFloatDType } from '../dtype';
import { runKernel1 } from '../engine';
import { invalidArgument, SlimlmError } from '../errors';
import { formatShape, shapesEqual } from '../shape';
import type { Tensor } from '../tensor';
import { tensor } from './creation';
import { assertFloat, assertSameDType } from './elementwise';
import { broadcastTo } from './view';

export interface ApplyRotaryOptions {
  /**
   * How many leading channels of each head rotate (default: all of headDim); the rest pass through
   * unchanged, as in GPT-NeoX's partial rotary (rotary_pct). Must be even.
   */
  rotaryDim?: number;
  /** Which channels pair up: 'half' pairs channel j with j + rotaryDim/2 (HF `rotate_half`). */
  style?: 'half';
}

export interface ApplyRotaryAttrs {
  rotaryDim: number;
  style: 'half';
}

/**
 * Rotary position embedding, HF `rotate_half` convention: on the first rotaryDim channels,
 * out = x * cos + rotate_half(x) * sin with rotate_half(x1, x2) = (-x2, x1). `x` is
 * [batch, heads, seq, headDim] (any rank >= 1 works); `cos` and `sin` (same shape and dtype as
 * each other and as `x`) are [seq, rotaryDim] or anything broadcastable to `x`'s shape with the
 * last dim replaced by rotaryDim, such as [batch, 1, seq, rotaryDim].
 *
 * Only `x` gets a gradient: the tables are treated as constants, and a gradient asked of them
 * comes back as zeros.
 */
export function applyRotary(
  x: Tensor,
  cos: Tensor,
  sin: Tensor,
  options: ApplyRotaryOptions = {},
): Tensor {
  const op = 'applyRotary';
  for (const t of [x, cos, sin]) {
    t.assertAlive(op);
    assertFloat(op, t);
  }
  assertSameDType(op, x, cos);
  assertSameDType(op, x, sin);
  const style = options.style ?? 'half';
  if (style !== 'half') {
    throw invalidArgument(op, `style '${style}' is not supported (only 'half')`);
  }
  if (x.rank === 0) throw invalidArgument(op, 'x must have a head dimension, got a 0-d tensor');
  const headDim = x.shape[x.rank - 1]!;
  const rotaryDim = options.rotaryDim ?? headDim;
  if (!Number.isInteger(rotaryDim) || rotaryDim < 0 || rotaryDim % 2 !== 0 || rotaryDim > headDim) {
    throw invalidArgument(
      op,
      `rotaryDim ${rotaryDim} must be even and between 0 and headDim ${headDim} (x is ${formatShape(x.shape)})`,
    );
  }
  if (
    cos.rank === 0 ||
    cos.shape[cos.rank - 1] !== rotaryDim ||
    !shapesEqual(cos.shape, sin.shape)
  ) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `${op}: cos ${formatShape(cos.shape)} and sin ${formatShape(sin.shape)} must have the same shape ending in rotaryDim ${rotaryDim} (x is ${formatShape(x.shape)})`,
    );
  }
  const tableShape = [...x.shape.slice(0, -1), rotaryDim];
  const broadcast = (table: Tensor): Tensor => {
    try {
      return broadcastTo(table, tableShape);
    } catch {
      throw new SlimlmError(
        'SHAPE_MISMATCH',
        `${op}: tables ${formatShape(table.shape)} do not broadcast to ${formatShape(tableShape)} for x ${formatShape(x.shape)}`,
      );
    }
  };
  const c = broadcast(cos);
  const s = broadcast(sin);
  try {
    const attrs: ApplyRotaryAttrs = { rotaryDim, style };
    return runKernel1(op, [x, c, s], attrs, { shape: x.shape, dtype: x.dtype });
  } finally {
    c.dispose();
    s.dispose();
  }
}

export interface RotaryTablesOptions {
  /** The RoPE base θ (rope_theta; default 10000). */
  base?: number;
  /** Default f32. */
  dtype?: DType;
  backend?: string | Backend;
}

/**
 * The cos and sin tables of HF LlamaRotaryEmbedding for `positions`: inv_freq[i] =
 * 1 / base^(2i / rotaryDim), angles = position * inv_freq, and emb = cat(angles, angles), so each
 * table is [...positions.shape, rotaryDim] ([seq, rotaryDim] for a list). Computed on the host:
 * the angles in f32 exactly as HF does, cos and sin of them in f64, rounded once to `dtype`.
 */
export function rotaryTables(
  positions: readonly number[] | Tensor,
  rotaryDim: number,
  options: RotaryTablesOptions = {},
): { cos: Tensor; sin: Tensor } {
  const op = 'rotaryTables';
  const { base = 10000, dtype = 'f32' } = options;
  if (!Number.isInteger(rotaryDim) || rotaryDim <= 0 || rotaryDim % 2 !== 0) {
    throw invalidArgument(op, `rotaryDim must be a positive even integer, got ${rotaryDim}`);
  }
  if (!isFloatDType(dtype)) {
    throw new SlimlmError('DTYPE_MISMATCH', `${op}: tables need a float dtype, got ${dtype}`);
  }
  if (!(base > 0)) throw invalidArgument(op, `base must be positive, got ${base}`);
  let values: ArrayLike<number>;
  let shape: readonly number[];
  if (Array.isArray(positions)) {
    values = positions as readonly number[];
    shape = [values.length];
  } else {
    const t = positions as Tensor;
    if (t.dtype !== 'i32') {
      throw new SlimlmError('DTYPE_MISMATCH', `${op}: positions must be i32, got ${t.dtype}`);
    }
    values = t.dataSync();
    shape = t.shape;
  }
  const half = rotaryDim / 2;
  // Each step rounds to f32 where transformers' LlamaRotaryEmbedding computes in float32
  // (inv_freq, then position * inv_freq), so tables match its golden outputs at long contexts too.
  const f32 = Math.fround;
  const inverseFrequencies = Array.from({ length: half }, (_, i) =>
    f32(1 / f32(base ** f32((2 * i) / rotaryDim))),
  );
  const cosValues = new Float64Array(values.length * rotaryDim);
  const sinValues = new Float64Array(values.length * rotaryDim);
  for (let p = 0; p < values.length; p++) {
    for (let i = 0; i < half; i++) {
      const angle = f32(f32(values[p]!) * inverseFrequencies[i]!);
      for (const j of [p * rotaryDim + i, p * rotaryDim + half + i]) {
        cosValues[j] = Math.cos(angle);
        sinValues[j] = Math.sin(angle);
      }
    }
  }
  const tableShape = [...shape, rotaryDim];
  const create = { shape: tableShape, dtype, backend: options.backend };
  return { cos: tensor(cosValues, create), sin: tensor(sinValues, create) };
}

import { SlimlmError } from '@slimlm/core';
import { assertBits, type Bits } from '../format/pack';

/** How weights are mapped to integer codes: per output row, or per group of `groupSize` columns. */
export interface QuantizerSettings {
  bits: Bits;
  sym: boolean;
  /** Columns per group; -1 means one group spanning all columns. */
  groupSize: number;
  /**
   * Shrink each row's range by a grid search minimising sum |w - q|^norm (the reference's `mse`
   * option); `true` uses the reference's grid 100, max shrink 0.8, norm 2.4.
   */
  mse?: boolean | MseSearch;
}

export interface MseSearch {
  grid: number;
  maxShrink: number;
  norm: number;
}

export const DEFAULT_MSE: MseSearch = { grid: 100, maxShrink: 0.8, norm: 2.4 };

/** Scale and zero point of each row of one group. */
export interface GroupParams {
  scale: Float32Array;
  zero: Float32Array;
}

const f32 = Math.fround;

/** torch.round: to the nearest integer, ties to even (Math.round sends ties up). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function maxCode(bits: Bits): number {
  return 2 ** bits - 1;
}

/** The integer code of `w`: clamp(round(w / scale) + zero, 0, maxq), in f32 like the reference. */
export function quantizeCode(w: number, scale: number, zero: number, maxq: number): number {
  const q = roundHalfEven(f32(w / scale)) + zero;
  return q < 0 ? 0 : q > maxq ? maxq : q;
}

/** The fake-quantized value scale * (q - zero), rounded to f32. */
export function dequantizeCode(q: number, scale: number, zero: number): number {
  return f32(scale * (q - zero));
}

export function mseSearchOf(settings: QuantizerSettings): MseSearch | undefined {
  if (settings.mse === undefined || settings.mse === false) return undefined;
  return settings.mse === true ? DEFAULT_MSE : settings.mse;
}

/** Checks bits, group size and the MSE grid; `op` names the caller in the message. */
export function checkQuantizerSettings(op: string, settings: QuantizerSettings): void {
  assertBits(op, settings.bits);
  const g = settings.groupSize;
  if (!(g === -1 || (Number.isSafeInteger(g) && g > 0))) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `${op}: groupSize must be -1 (one group per row) or a positive integer, got ${g}`,
    );
  }
  const mse = mseSearchOf(settings);
  if (
    mse !== undefined &&
    !(mse.grid > 0 && mse.maxShrink > 0 && mse.maxShrink <= 1 && mse.norm > 0)
  ) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `${op}: mse needs grid > 0, 0 < maxShrink <= 1 and norm > 0, got ${JSON.stringify(mse)}`,
    );
  }
}

/**
 * The reference quantizer's find_params over `rows` rows of `width` values each: `values[r *
 * stride + offset + c]` for c < width. Range [min(row, 0), max(row, 0)]; symmetric widens it to
 * ±max|row| only where the row has a negative value (the reference leaves xmin = 0 for a
 * non-negative row); an all-zero row uses [-1, 1]. Every step is rounded to f32 where torch does.
 */
export function findParams(
  values: Float32Array,
  rows: number,
  width: number,
  stride: number,
  offset: number,
  settings: QuantizerSettings,
): GroupParams {
  const maxq = maxCode(settings.bits);
  const symZero = (maxq + 1) / 2;
  const scale = new Float32Array(rows);
  const zero = new Float32Array(rows);
  const mse = mseSearchOf(settings);
  for (let r = 0; r < rows; r++) {
    const base = r * stride + offset;
    let xmin = 0;
    let xmax = 0;
    for (let c = 0; c < width; c++) {
      const v = values[base + c]!;
      if (v < xmin) xmin = v;
      if (v > xmax) xmax = v;
    }
    if (settings.sym) {
      xmax = Math.max(Math.abs(xmin), xmax);
      if (xmin < 0) xmin = -xmax;
    }
    if (xmin === 0 && xmax === 0) {
      xmin = -1;
      xmax = 1;
    }
    let s = f32(f32(xmax - xmin) / maxq);
    // `+ 0` turns the -0 of a row with xmin = 0 into 0.
    let z = settings.sym ? symZero : roundHalfEven(f32(-xmin / s)) + 0;
    if (mse !== undefined) {
      let best = Number.POSITIVE_INFINITY;
      const steps = Math.trunc(mse.maxShrink * mse.grid);
      for (let i = 0; i < steps; i++) {
        const p = f32(1 - i / mse.grid);
        const xmin1 = f32(p * xmin);
        const xmax1 = f32(p * xmax);
        const s1 = f32(f32(xmax1 - xmin1) / maxq);
        const z1 = settings.sym ? symZero : roundHalfEven(f32(-xmin1 / s1)) + 0;
        let err = 0;
        for (let c = 0; c < width; c++) {
          const v = values[base + c]!;
          const q = dequantizeCode(quantizeCode(v, s1, z1, maxq), s1, z1);
          err += f32(Math.abs(f32(q - v)) ** mse.norm);
        }
        if (err < best) {
          best = err;
          s = s1;
          z = z1;
        }
      }
    }
    scale[r] = s;
    zero[r] = z;
  }
  return { scale, zero };
}

import {
  assign,
  cholesky,
  choleskyInverse,
  formatShape,
  matmul,
  narrow,
  SlimlmError,
  scope,
  sub,
  type Tensor,
  tensor,
  toBackend,
} from '@slimlm/core';
import { gptqQuantizeBlock } from './quantize-block';
import {
  checkQuantizerSettings,
  findParams,
  type GroupParams,
  maxCode,
  type QuantizerSettings,
} from './quantizer';

/** One Linear's quantization, every array in the original column order unless said otherwise. */
export interface LayerQuantization {
  /** Integer codes [N, K]. */
  codes: Uint8Array;
  /** [G, N], G = ceil(K / groupSize) (1 for groupSize -1), indexed by group id. */
  scales: Float32Array;
  /** [G, N] integer-valued zero points z (not the z - 1 that v1 checkpoints store). */
  zeros: Float32Array;
  /** [K] the group id of each input column. */
  gIdx: Int32Array;
  /** f32 [N, K] fake-quantized weight scales[g] * (codes - zeros[g]). */
  dequantized: Tensor;
  /** The reference's per-module 'error': Σ (w - q)² / Hinv[i, i]² / 2 (RTN: Σ (w - q)²). */
  loss: number;
  /** The damping added to diag(H): the final dampPercent times mean(diag H) (RTN: 0). */
  damp: number;
  seconds: number;
  /** Columns in processing order (perm[k] = original column), when descAct. */
  perm?: Int32Array;
  /** The reference's Losses matrix [N, K] in processing order, with `keepLosses`. */
  losses?: Float32Array;
}

export interface GptqOptions extends QuantizerSettings {
  /** Process columns by decreasing diag(H) (act-order). */
  descAct: boolean;
  /** Compute every group's parameters up front from the unmodified weight. */
  staticGroups: boolean;
  /** Damping as a fraction of mean(diag H), e.g. 0.01; raised by 0.01 while Cholesky fails. */
  dampPercent: number;
  /** Columns per lazy-update block (128). */
  blockSize?: number;
  onLog?: (line: string) => void;
  /**
   * @internal A precomputed Hinv (f32 [K, K], processing order) used instead of factorising H:
   * isolates the column loop from Cholesky rounding in tests.
   */
  hinv?: Tensor;
  /** @internal Return the Losses matrix. */
  keepLosses?: boolean;
}

/** How much dampPercent grows after each failed factorisation (GPTQModel's damp_auto_increment). */
const DAMP_STEP = 0.01;

const f32 = Math.fround;

function invalid(message: string): SlimlmError {
  return new SlimlmError('INVALID_ARGUMENT', `gptqQuantize: ${message}`);
}

function hostF32(t: Tensor): Float32Array {
  const values = t.dataSync();
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

/** Column order by decreasing value; equal values keep their order. */
function argsortDescending(values: Float32Array): Int32Array {
  const order = Array.from(values, (_, i) => i);
  order.sort((a, b) => values[b]! - values[a]! || a - b);
  return Int32Array.from(order);
}

/**
 * mean(diag H) in f32 exactly as torch.mean computes it on the CPU, since the damping, and through
 * it every code, depends on its last bit: torch's cascade sum over 8-float vectors, 4 of them at a
 * time, whose running sums are folded into a second level every 16 steps (aten SumKernel
 * multi_row_sum with num_levels 4); then the vector's lanes and the tail, and a division by K.
 */
function meanDiagonal(h: Float32Array, k: number): number {
  const lanes = 8;
  const ilp = 4;
  const vectors = Math.floor(k / lanes);
  const rows = Math.floor(vectors / ilp);
  const levelPower = Math.max(4, Math.floor(Math.ceil(Math.log2(Math.max(rows, 1))) / 4));
  const step = 2 ** levelPower;
  const levels = Array.from({ length: 4 }, () => new Float32Array(ilp * lanes));
  const at = (vector: number, lane: number) => h[(vector * lanes + lane) * (k + 1)]!;
  const accumulate = (row: number) => {
    const first = levels[0]!;
    for (let v = 0; v < ilp; v++)
      for (let l = 0; l < lanes; l++)
        first[v * lanes + l] = first[v * lanes + l]! + at(row * ilp + v, l);
  };
  const fold = (into: Float32Array, from: Float32Array) => {
    for (let i = 0; i < into.length; i++) into[i] = into[i]! + from[i]!;
  };
  let row = 0;
  while (row + step <= rows) {
    for (let j = 0; j < step; j++) accumulate(row++);
    for (let level = 1; level < 4; level++) {
      fold(levels[level]!, levels[level - 1]!);
      levels[level - 1]!.fill(0);
      if ((row & ((step - 1) * 2 ** (level * levelPower))) !== 0) break;
    }
  }
  while (row < rows) accumulate(row++);
  const acc = levels[0]!;
  for (let level = 1; level < 4; level++) fold(acc, levels[level]!);
  // Vectors left over after the groups of 4 go to the first accumulator, then the 4 are added up.
  for (let v = rows * ilp; v < vectors; v++)
    for (let l = 0; l < lanes; l++) acc[l] = acc[l]! + at(v, l);
  const lanesSum = new Float32Array(lanes);
  for (let v = 0; v < ilp; v++)
    for (let l = 0; l < lanes; l++) lanesSum[l] = lanesSum[l]! + acc[v * lanes + l]!;
  let total = 0;
  for (let c = vectors * lanes; c < k; c++) total = f32(total + h[c * (k + 1)]!);
  for (let l = 0; l < lanes; l++) total = f32(total + lanesSum[l]!);
  return f32(total / k);
}

/**
 * H + damp·I as a new [K, K] tensor without a second host copy of H: the diagonal of `h` is raised
 * for the copy tensor() makes, then restored.
 */
function withDampedDiagonal(h: Float32Array, k: number, damp: number): Tensor {
  const diagonal = new Float32Array(k);
  for (let i = 0; i < k; i++) {
    diagonal[i] = h[i * k + i]!;
    h[i * k + i] = diagonal[i]! + damp;
  }
  try {
    return tensor(h, { shape: [k, k] });
  } finally {
    for (let i = 0; i < k; i++) h[i * k + i] = diagonal[i]!;
  }
}

/**
 * Upper Cholesky factor of (H + damp·I)⁻¹, with H [K, K] f32 in processing order. While the
 * factorisation fails, dampPercent grows by DAMP_STEP (logged), as GPTQModel does.
 */
function inverseFactor(
  h: Float32Array,
  k: number,
  dampPercent: number,
  onLog: ((line: string) => void) | undefined,
): { hinv: Tensor; damp: number } {
  const mean = meanDiagonal(h, k);
  let percent = dampPercent;
  for (;;) {
    const damp = f32(f32(percent) * mean);
    try {
      // Each K×K intermediate is let go as soon as the next exists.
      const hinv = scope(() => {
        const damped = withDampedDiagonal(h, k, damp);
        const lower = cholesky(damped);
        damped.dispose();
        const inverse = choleskyInverse(lower);
        lower.dispose();
        const upper = cholesky(inverse, { upper: true });
        inverse.dispose();
        return upper;
      });
      return { hinv, damp };
    } catch (error) {
      if (!(error instanceof SlimlmError && error.code === 'NUMERICAL')) throw error;
      const next = percent + DAMP_STEP;
      if (!(next < 1))
        throw new SlimlmError(
          'NUMERICAL',
          `gptqQuantize: H is not positive definite even with dampPercent ${percent.toFixed(5)}; the layer's calibration inputs are degenerate`,
        );
      onLog?.(
        `gptq: Cholesky failed with dampPercent ${percent.toFixed(5)}; raising it to ${next.toFixed(5)}`,
      );
      percent = next;
    }
  }
}

/**
 * GPTQ on one Linear (weight f32 [N, K], Hessian f32 [K, K] = 2/n Σ XᵀX), with the reference
 * implementation's semantics (IST-DASLab gptq `fasterquant`, as AutoGPTQ/GPTQModel use it): dead
 * columns (H[k, k] = 0) get H[k, k] = 1 and a zero weight column; act-order sorts columns by
 * decreasing diag(H); Hinv is the upper Cholesky factor of (H + damp·I)⁻¹; columns are quantized
 * in blocks with the fused 'gptqQuantizeBlock' op and each block's errors reach the later columns
 * through one matmul on the active backend. Group parameters are computed at each group's first
 * column from the weight as updated by the previous blocks (not by the current block's in-block
 * updates), or up front from the original weight with staticGroups. The inputs are not modified.
 */
export function gptqQuantize(
  weight: Tensor,
  hessian: Tensor,
  options: GptqOptions,
): LayerQuantization {
  const started = performance.now();
  checkQuantizerSettings('gptqQuantize', options);
  if (weight.rank !== 2) throw invalid(`weight must be [N, K], got ${formatShape(weight.shape)}`);
  const [n, k] = weight.shape as [number, number];
  if (hessian.rank !== 2 || hessian.shape[0] !== k || hessian.shape[1] !== k)
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `gptqQuantize: hessian must be [${k}, ${k}] for weight ${formatShape(weight.shape)}, got ${formatShape(hessian.shape)}`,
    );
  const blockSize = options.blockSize ?? 128;
  if (!(Number.isSafeInteger(blockSize) && blockSize > 0))
    throw invalid(`blockSize must be a positive integer, got ${blockSize}`);
  if (!(options.dampPercent > 0 && options.dampPercent < 1))
    throw invalid(`dampPercent must be in (0, 1), got ${options.dampPercent}`);
  const maxq = maxCode(options.bits);
  const g = options.groupSize === -1 ? k : options.groupSize;
  const groups = Math.ceil(k / g);

  // dataSync returns a new array (Backend.read copies), so these are this call's own copies.
  const w = hostF32(weight);
  let h = hostF32(hessian);
  // Like the reference, per-row parameters (no groups) come from the weight before dead columns
  // are zeroed.
  const rowParams = options.groupSize === -1 ? findParams(w, n, k, k, 0, options) : undefined;
  for (let c = 0; c < k; c++) {
    if (h[c * k + c] !== 0) continue;
    h[c * k + c] = 1;
    for (let r = 0; r < n; r++) w[r * k + c] = 0;
  }
  const staticParams: GroupParams[] = [];
  if (options.staticGroups && rowParams === undefined) {
    for (let s = 0; s < k; s += g)
      staticParams.push(findParams(w, n, Math.min(g, k - s), k, s, options));
  }

  const diag = Float32Array.from({ length: k }, (_, c) => h[c * k + c]!);
  const perm = options.descAct
    ? argsortDescending(diag)
    : Int32Array.from({ length: k }, (_, c) => c);
  const wp = options.descAct ? new Float32Array(n * k) : w;
  let hp = options.descAct ? new Float32Array(k * k) : h;
  if (options.descAct) {
    for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) wp[r * k + c] = w[r * k + perm[c]!]!;
    for (let a = 0; a < k; a++) {
      const from = perm[a]! * k;
      for (let c = 0; c < k; c++) hp[a * k + c] = h[from + perm[c]!]!;
    }
  }

  const scales = new Float32Array(groups * n);
  const zeros = new Float32Array(groups * n);
  const setGroup = (id: number, p: GroupParams) => {
    scales.set(p.scale, id * n);
    zeros.set(p.zero, id * n);
  };
  if (rowParams !== undefined) setGroup(0, rowParams);
  for (const [id, p] of staticParams.entries()) setGroup(id, p);

  const q = new Float32Array(n * k);
  const codes = new Uint8Array(n * k);
  const losses = new Float32Array(n * k);
  const factor =
    options.hinv === undefined
      ? inverseFactor(hp, k, options.dampPercent, options.onLog)
      : { hinv: options.hinv, damp: f32(f32(options.dampPercent) * meanDiagonal(hp, k)) };
  // H is not needed past its factor; let its K² floats go before the column loop.
  h = hp = new Float32Array(0);

  const dequantized = scope(() => {
    const wt = tensor(wp, { shape: [n, k] });
    const hinv =
      factor.hinv.backend === wt.backend ? factor.hinv : toBackend(factor.hinv, wt.backend.name);
    let current: GroupParams | undefined = rowParams;
    for (let i1 = 0; i1 < k; i1 += blockSize) {
      const i2 = Math.min(i1 + blockSize, k);
      const b = i2 - i1;
      // The parameter rows this block uses, and which one each column takes.
      const table: GroupParams[] = [];
      const column = new Int32Array(b);
      const rowOf = new Map<GroupParams, number>();
      for (let c = i1; c < i2; c++) {
        let p: GroupParams;
        if (rowParams !== undefined) p = rowParams;
        else if (options.staticGroups) p = staticParams[Math.floor(perm[c]! / g)]!;
        else {
          if (c % g === 0) {
            const len = Math.min(g, k - c);
            current = findParams(hostF32(narrow(wt, 1, c, len)), n, len, len, 0, options);
            setGroup(c / g, current);
          }
          p = current!;
        }
        let row = rowOf.get(p);
        if (row === undefined) {
          row = table.length;
          rowOf.set(p, row);
          table.push(p);
        }
        column[c - i1] = row;
      }
      scope(() => {
        const paramScales = new Float32Array(table.length * n);
        const paramZeros = new Float32Array(table.length * n);
        table.forEach((p, row) => {
          paramScales.set(p.scale, row * n);
          paramZeros.set(p.zero, row * n);
        });
        const hBlock = narrow(hinv, 0, i1, b);
        const result = gptqQuantizeBlock(
          narrow(wt, 1, i1, b),
          narrow(hBlock, 1, i1, b),
          tensor(paramScales, { shape: [table.length, n] }),
          tensor(paramZeros, { shape: [table.length, n] }),
          tensor(column, { shape: [b] }),
          { maxq },
        );
        const qb = hostF32(result.q);
        const lb = hostF32(result.losses);
        const cb = result.codes.dataSync();
        for (let r = 0; r < n; r++) {
          q.set(qb.subarray(r * b, (r + 1) * b), r * k + i1);
          losses.set(lb.subarray(r * b, (r + 1) * b), r * k + i1);
          for (let j = 0; j < b; j++) codes[r * k + i1 + j] = cb[r * b + j]!;
        }
        if (i2 < k) {
          const rest = narrow(wt, 1, i2, k - i2);
          assign(rest, sub(rest, matmul(result.err, narrow(hBlock, 1, i2, k - i2))));
        }
      });
    }
    if (options.hinv === undefined) factor.hinv.dispose();

    let loss = 0;
    for (let i = 0; i < losses.length; i++) loss += losses[i]!;
    const outQ = options.descAct ? new Float32Array(n * k) : q;
    const outCodes = options.descAct ? new Uint8Array(n * k) : codes;
    if (options.descAct) {
      for (let r = 0; r < n; r++) {
        for (let c = 0; c < k; c++) {
          outQ[r * k + perm[c]!] = q[r * k + c]!;
          outCodes[r * k + perm[c]!] = codes[r * k + c]!;
        }
      }
    }
    return { tensor: tensor(outQ, { shape: [n, k] }), codes: outCodes, loss };
  });

  const gIdx = new Int32Array(k);
  for (let c = 0; c < k; c++) {
    const group = Math.floor(c / g);
    if (options.descAct && !options.staticGroups) gIdx[perm[c]!] = group;
    else gIdx[c] = group;
  }
  return {
    codes: dequantized.codes,
    scales,
    zeros,
    gIdx,
    dequantized: dequantized.tensor,
    loss: dequantized.loss,
    damp: factor.damp,
    seconds: (performance.now() - started) / 1000,
    ...(options.descAct ? { perm } : {}),
    ...(options.keepLosses ? { losses } : {}),
  };
}

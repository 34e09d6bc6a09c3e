import { registerKernel } from '../../../kernels';
import { type CholeskyAttrs, notPositiveDefinite } from '../../../ops/linalg';
import type { Tensor } from '../../../tensor';
import { REFERENCE } from '../backend';
import { readValues, writeValues } from '../strided';

/**
 * The lower triangle of a square row-major matrix as a lower-triangular f64 matrix: `upper`
 * takes the upper triangle instead and transposes it (an upper factor U is the transpose of the
 * lower one, and the upper triangle of a symmetric matrix mirrors its lower one).
 */
function lowerTriangle(values: Float64Array, n: number, upper: boolean): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) out[i * n + j] = upper ? values[j * n + i]! : values[i * n + j]!;
  }
  return out;
}

/** Writes lower-triangular `l` as itself, or as its transpose when `upper` is set. */

function writeFactor(out: Tensor, l: Float64Array, n: number, upper: boolean) {
  if (!upper) {
    writeValues(out, l);
    return;
  }
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) t[j * n + i] = l[i * n + j]!;
  writeValues(out, t);
}

// cholesky: the textbook Cholesky–Crout algorithm in f64, column by column:
// L[j][j] = sqrt(A[j][j] - Σ_k<j L[j][k]²), L[i][j] = (A[i][j] - Σ_k<j L[i][k] L[j][k]) / L[j][j].
registerKernel<CholeskyAttrs>({
  op: 'cholesky',
  backend: REFERENCE,
  fn: ({ inputs: [a], outputs: [out], attrs }) => {
    const n = a!.shape[0]!;
    const l = lowerTriangle(readValues(a!), n, attrs.upper);
    for (let j = 0; j < n; j++) {
      const rowJ = j * n;
      let d = l[rowJ + j]!;
      for (let k = 0; k < j; k++) d -= l[rowJ + k]! * l[rowJ + k]!;
      if (!(d > 0)) throw notPositiveDefinite(j, d);
      const pivot = Math.sqrt(d);
      l[rowJ + j] = pivot;
      for (let i = j + 1; i < n; i++) {
        const rowI = i * n;
        let s = l[rowI + j]!;
        for (let k = 0; k < j; k++) s -= l[rowI + k]! * l[rowJ + k]!;
        l[rowI + j] = s / pivot;
      }
    }
    writeFactor(out!, l, n, attrs.upper);
  },
});

// choleskyInverse: A⁻¹ = L⁻ᵀ L⁻¹ in f64. L⁻¹ (lower) by forward substitution, one column of the
// identity at a time; then (A⁻¹)[i][j] = Σ_{k ≥ max(i, j)} L⁻¹[k][i] L⁻¹[k][j], mirrored.
registerKernel<CholeskyAttrs>({
  op: 'choleskyInverse',
  backend: REFERENCE,
  fn: ({ inputs: [factor], outputs: [out], attrs }) => {
    const n = factor!.shape[0]!;
    const l = lowerTriangle(readValues(factor!), n, attrs.upper);
    const inv = new Float64Array(n * n);
    for (let c = 0; c < n; c++) {
      // Solve L x = e_c: x[i] = 0 for i < c.
      inv[c * n + c] = 1 / l[c * n + c]!;
      for (let i = c + 1; i < n; i++) {
        let s = 0;
        for (let k = c; k < i; k++) s -= l[i * n + k]! * inv[k * n + c]!;
        inv[i * n + c] = s / l[i * n + i]!;
      }
    }
    const result = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let k = i; k < n; k++) s += inv[k * n + i]! * inv[k * n + j]!;
        result[i * n + j] = s;
        result[j * n + i] = s;
      }
    }
    writeValues(out!, result);
  },
});

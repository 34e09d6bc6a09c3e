import { registerKernel } from '@slimlm/core';
import { EXAMPLE } from '../backend';
import { dataOf } from '../utils/data';

// matmul: a [...batch, M, K] @ b [...batch, K, N] -> [...batch, M, N]. The op has already turned
// 1-D operands into matrices and broadcast the batch axes, so both batch shapes are equal here.
// Each output row accumulates in one buffer, walking b row by row (cache-friendly for row-major
// storage): f64 for f32, wrapping i32 arithmetic for integers.
registerKernel({
  op: 'matmul',
  backend: EXAMPLE,
  fn: ({ inputs: [a, b], outputs: [out] }) => {
    const [m, k] = a!.shape.slice(-2) as [number, number];
    const n = b!.shape[b!.rank - 1]!;
    const batches = a!.shape.slice(0, -2).reduce((product, d) => product * d, 1);
    const left = dataOf(a!);
    const right = dataOf(b!);
    const target = dataOf(out!);
    const float = out!.dtype === 'f32';
    const row = float ? new Float64Array(n) : new Int32Array(n);
    for (let batch = 0; batch < batches; batch++) {
      const leftBase = a!.offset + batch * m * k;
      const rightBase = b!.offset + batch * k * n;
      const outBase = out!.offset + batch * m * n;
      for (let i = 0; i < m; i++) {
        row.fill(0);
        for (let p = 0; p < k; p++) {
          const x = left[leftBase + i * k + p]!;
          const rightRow = rightBase + p * n;
          if (float) {
            for (let j = 0; j < n; j++) row[j]! += x * right[rightRow + j]!;
          } else {
            for (let j = 0; j < n; j++) row[j]! += Math.imul(x, right[rightRow + j]!);
          }
        }
        target.set(row, outBase + i * n);
      }
    }
  },
});

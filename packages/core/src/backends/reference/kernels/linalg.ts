import { isFloatDType } from '../../../dtype';
import { registerKernel } from '../../../kernels';
import { sizeOf } from '../../../shape';
import { REFERENCE } from '../backend';
import { readValues, writeValues } from '../strided';

// matmul: a [...batch, M, K] @ b [...batch, K, N] -> [...batch, M, N], batch axes already equal.
// Floats accumulate in f64; integers in wrapping i32 arithmetic (exact low bits for every
// integer dtype, which the store then truncates).
registerKernel({
  op: 'matmul',
  backend: REFERENCE,
  fn: ({ inputs: [a, b], outputs: [out] }) => {
    const [m, k] = a!.shape.slice(-2) as [number, number];
    const n = b!.shape[b!.rank - 1]!;
    const batches = sizeOf(a!.shape.slice(0, -2));
    const left = readValues(a!);
    const right = readValues(b!);
    const result = new Float64Array(out!.size);
    const float = isFloatDType(out!.dtype);
    for (let batch = 0; batch < batches; batch++) {
      const leftBase = batch * m * k;
      const rightBase = batch * k * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let total = 0;
          for (let p = 0; p < k; p++) {
            const x = left[leftBase + i * k + p]!;
            const y = right[rightBase + p * n + j]!;
            total = float ? total + x * y : (total + Math.imul(x, y)) | 0;
          }
          result[(batch * m + i) * n + j] = total;
        }
      }
    }
    writeValues(out!, result);
  },
});

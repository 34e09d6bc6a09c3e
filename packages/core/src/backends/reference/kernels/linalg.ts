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
    // i-p-j order: the inner loop walks a row of b and a row of the result, both contiguous.
    for (let batch = 0; batch < batches; batch++) {
      for (let i = 0; i < m; i++) {
        const row = (batch * m + i) * n;
        for (let p = 0; p < k; p++) {
          const x = left[(batch * m + i) * k + p]!;
          const bRow = (batch * k + p) * n;
          if (float) {
            for (let j = 0; j < n; j++) result[row + j]! += x * right[bRow + j]!;
          } else {
            for (let j = 0; j < n; j++)
              result[row + j] = (result[row + j]! + Math.imul(x, right[bRow + j]!)) | 0;
          }
        }
      }
    }
    writeValues(out!, result);
  },
});

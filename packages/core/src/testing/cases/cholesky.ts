import { tensor } from '../../ops/creation';
import { add } from '../../ops/elementwise';
import { cholesky, choleskyInverse } from '../../ops/linalg';
import { matmul } from '../../ops/matmul';
import { transpose } from '../../ops/view';
import type { ConformanceCase } from '../conformance';
import { sample } from './core';

/** A well-conditioned symmetric positive definite f32 matrix: B Bᵀ + n I, B seeded normal. */
function spd(n: number, seed: number) {
  const b = sample([n, n], seed);
  const identity = new Float32Array(n * n);
  for (let i = 0; i < n; i++) identity[i * n + i] = n;
  return add(matmul(b, transpose(b)), tensor(identity, { shape: [n, n] }));
}

/** Cholesky factorisation and the inverse from a factor. */
export const choleskyCases: ConformanceCase[] = [
  {
    name: 'cholesky lower and upper, across block sizes',
    op: 'cholesky',
    build: () =>
      [1, 5, 70, 131].flatMap((n, i) => [
        cholesky(spd(n, 60 + i)),
        cholesky(spd(n, 60 + i), { upper: true }),
      ]),
  },
  {
    name: 'cholesky of a transposed view',
    op: 'cholesky',
    build: () => cholesky(transpose(spd(33, 65)), { upper: true }),
  },
  {
    name: 'choleskyInverse from lower and upper factors',
    op: 'choleskyInverse',
    // The inverse's entries are ~1/n: the absolute tolerance follows them.
    atol: 1e-7,
    build: () =>
      [1, 6, 70, 131].flatMap((n, i) => {
        const a = spd(n, 70 + i);
        return [
          choleskyInverse(cholesky(a)),
          choleskyInverse(cholesky(a, { upper: true }), { upper: true }),
        ];
      }),
  },
];

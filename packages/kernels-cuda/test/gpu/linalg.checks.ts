import assert from 'node:assert/strict';
import {
  add,
  cholesky,
  choleskyInverse,
  contiguous,
  matmul,
  mul,
  narrow,
  runKernel,
  SlimlmError,
  type Tensor,
  tensor,
  toBackend,
  transpose,
  withBackend,
} from '@slimlm/core';
import { sample } from '@slimlm/core/testing';
// Registers gptqQuantizeBlock's reference kernel, which the checks below compare with.
import { gptqQuantize, HessianAccumulator } from '@slimlm/gptq';
import { CUDA } from '../../src/index';
import { assertClose, type GpuCheck, normalizedError, scoped } from './check';

const onCuda = (t: Tensor) => toBackend(t, CUDA);

/** A well-conditioned symmetric positive definite f32 matrix B Bᵀ / n + I (reference backend). */
function spd(n: number, seed: number): Tensor {
  return withBackend('reference', () => {
    const b = sample([n, n], seed);
    const identity = new Float32Array(n * n);
    for (let i = 0; i < n; i++) identity[i * n + i] = 1;
    return add(matmul(b, transpose(b)), mul(tensor(identity, { shape: [n, n] }), n));
  });
}

/** Asserts every element of the factor's other triangle is exactly zero. */
function assertTriangular(factor: Tensor, upper: boolean, what: string): void {
  const n = factor.shape[0]!;
  const values = factor.dataSync();
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      if (upper ? j < i : j > i) assert.equal(values[i * n + j], 0, `${what}: (${i}, ${j})`);
}

/** The NUMERICAL error cholesky throws, with the pivot it names. */
function assertNotPositiveDefinite(a: Tensor, upper: boolean, pivot: number): void {
  assert.throws(
    () => cholesky(a, { upper }),
    (error: unknown) =>
      error instanceof SlimlmError &&
      error.code === 'NUMERICAL' &&
      error.message.includes(`pivot k = ${pivot},`),
    `pivot ${pivot}, upper ${upper}`,
  );
}

const ORDERS = [1, 7, 65, 129, 300, 1000];

/** Random inputs of gptqQuantizeBlock: w [N, B], hinv an upper Cholesky factor, P parameter rows. */
function blockInputs(n: number, b: number, p: number, seed: number) {
  return withBackend('reference', () => {
    const w = sample([n, b], seed);
    const inverse = choleskyInverse(cholesky(spd(b, seed + 1)));
    const hinv = cholesky(inverse, { upper: true });
    const scales = Float32Array.from({ length: p * n }, (_, i) => 0.05 + ((i * 7919) % 101) / 500);
    // Integer zero points, as GPTQ's quantizer makes them.
    const zeros = Float32Array.from({ length: p * n }, (_, i) => (i * 31) % 16);
    const params = Int32Array.from({ length: b }, (_, i) =>
      Math.min(p - 1, Math.floor((i * p) / b)),
    );
    return [
      w,
      hinv,
      tensor(scales, { shape: [p, n] }),
      tensor(zeros, { shape: [p, n] }),
      tensor(params, { shape: [b] }),
    ];
  });
}

function quantizeBlock(inputs: Tensor[], n: number, b: number, maxq: number): Tensor[] {
  const f32 = { shape: [n, b], dtype: 'f32' } as const;
  return runKernel('gptqQuantizeBlock', inputs, { maxq }, [
    f32,
    f32,
    f32,
    { shape: [n, b], dtype: 'u8' },
  ]);
}

/**
 * Calibration inputs with a Hessian like a real layer's: correlated features (a random mixing
 * of a few hundred latent directions with a decaying spectrum), some features ten times louder,
 * and a few never active (dead columns).
 */
function calibrationInputs(tokens: number, k: number, seed: number): Tensor {
  return withBackend('reference', () => {
    const latent = sample([tokens, 128], seed);
    const mixing = sample([128, k], seed + 1).dataSync();
    for (let r = 0; r < 128; r++)
      for (let c = 0; c < k; c++) mixing[r * k + c] = mixing[r * k + c]! / (1 + r / 8);
    const x = matmul(latent, tensor(mixing, { shape: [128, k] })).dataSync();
    const noise = sample([tokens, k], seed + 2).dataSync();
    for (let t = 0; t < tokens; t++) {
      for (let c = 0; c < k; c++) {
        const i = t * k + c;
        x[i] = c % 97 === 0 ? 0 : (x[i]! + 0.1 * noise[i]!) * (c % 13 === 0 ? 10 : 1);
      }
    }
    return tensor(x, { shape: [tokens, k] });
  });
}

export const linalgChecks: GpuCheck[] = [
  {
    name: 'cholesky (lower and upper) matches the reference on orders 1 to 1000, the other triangle exactly zero',
    run: scoped(() => {
      for (const [i, n] of ORDERS.entries()) {
        const a = spd(n, 100 + i);
        for (const upper of [false, true]) {
          const expected = withBackend('reference', () => cholesky(a, { upper }));
          const actual = cholesky(onCuda(a), { upper });
          assert.equal(actual.backend.name, CUDA);
          assertClose(actual, expected, 2e-5, `cholesky n=${n} upper=${upper}`);
          assertTriangular(actual, upper, `cholesky n=${n} upper=${upper}`);
        }
      }
    }),
  },
  {
    name: 'cholesky reads only its triangle, through the input strides (transposed view, NaN in the other triangle)',
    run: scoped(() => {
      const n = 130;
      const values = spd(n, 7).dataSync();
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) values[i * n + j] = Number.NaN;
      const lowerOnly = tensor(values, { shape: [n, n] });
      const expected = withBackend('reference', () => cholesky(lowerOnly));
      assertClose(cholesky(onCuda(lowerOnly)), expected, 2e-5, 'NaN above the diagonal');
      // The upper factor of the transpose reads the transpose's upper triangle: the same values.
      const upper = cholesky(transpose(onCuda(lowerOnly)), { upper: true });
      assertClose(
        upper,
        withBackend('reference', () => transpose(expected)),
        2e-5,
        'upper of the transpose',
      );
    }),
  },
  {
    name: 'cholesky of a matrix that is not positive definite throws NUMERICAL naming the first failing pivot',
    run: scoped(() => {
      for (const [n, pivot] of [
        [1, 0],
        [70, 69],
        [300, 130],
        [1000, 900],
      ] as const) {
        const values = spd(n, n).dataSync();
        // A negative diagonal at `pivot`: the leading minors before it are unchanged, so the
        // factorisation fails there first.
        values[pivot * n + pivot] = -1;
        const a = onCuda(tensor(values, { shape: [n, n] }));
        assertNotPositiveDefinite(a, false, pivot);
        assertNotPositiveDefinite(a, true, pivot);
      }
      const nan = new Float32Array(9).fill(1);
      nan[4] = Number.NaN;
      assertNotPositiveDefinite(onCuda(tensor(nan, { shape: [3, 3] })), false, 1);
      // The failure does not outlive its call.
      assertClose(
        cholesky(onCuda(spd(65, 3))),
        withBackend('reference', () => cholesky(spd(65, 3))),
        2e-5,
        'after a failure',
      );
    }),
  },
  {
    name: 'choleskyInverse (lower and upper factors) matches the reference on orders 1 to 1000',
    run: scoped(() => {
      for (const [i, n] of ORDERS.entries()) {
        const a = spd(n, 200 + i);
        for (const upper of [false, true]) {
          const factor = withBackend('reference', () => cholesky(a, { upper }));
          const expected = withBackend('reference', () => choleskyInverse(factor, { upper }));
          const actual = choleskyInverse(onCuda(factor), { upper });
          assertClose(actual, expected, 2e-5, `choleskyInverse n=${n} upper=${upper}`);
          // Symmetric bit for bit: the lower tiles are written to both halves.
          assert.deepEqual(actual.dataSync(), contiguous(transpose(actual)).dataSync());
        }
      }
    }),
  },
  {
    name: 'gptqQuantizeBlock matches the reference kernel: codes identical, q/err/losses within 1e-6 (B up to 128 and wider)',
    run: scoped(() => {
      for (const [n, b, p] of [
        [1, 1, 1],
        [7, 5, 2],
        [33, 31, 1],
        [100, 64, 3],
        [257, 97, 2],
        [64, 128, 2],
        [50, 200, 4],
      ] as const) {
        for (const maxq of [15, 7]) {
          const inputs = blockInputs(n, b, p, n + b);
          const expected = withBackend('reference', () => quantizeBlock(inputs, n, b, maxq));
          const actual = quantizeBlock(inputs.map(onCuda), n, b, maxq);
          const what = `N=${n} B=${b} P=${p} maxq=${maxq}`;
          assert.deepEqual(actual[3]!.dataSync(), expected[3]!.dataSync(), `${what}: codes`);
          for (const [index, name] of ['q', 'err', 'losses'].entries())
            assertClose(actual[index]!, expected[index]!, 1e-6, `${what}: ${name}`);
        }
      }
    }),
  },
  {
    name: 'gptqQuantize of a 256 x 512 layer runs on cuda (Hessian, Cholesky, column loop) and agrees with the reference',
    run: scoped(() => {
      const [n, k] = [256, 512];
      const x = calibrationInputs(1024, k, 11);
      const weight = withBackend('reference', () => sample([n, k], 12));
      const options = {
        bits: 4,
        sym: false,
        groupSize: 128,
        descAct: true,
        staticGroups: false,
        dampPercent: 0.01,
      } as const;
      const quantizeOn = (backend: string) =>
        withBackend(backend, () => {
          const accumulator = new HessianAccumulator(k);
          // Four calibration batches of 256 tokens, as the Linear would see them.
          for (let t = 0; t < 1024; t += 256)
            accumulator.add(narrow(toBackend(x, backend), 0, t, 256));
          const hessian = accumulator.hessian();
          accumulator.dispose();
          return { hessian, result: gptqQuantize(toBackend(weight, backend), hessian, options) };
        });
      const reference = quantizeOn('reference');
      const cuda = quantizeOn(CUDA);
      assert.equal(cuda.hessian.backend.name, CUDA);
      assert.ok(
        normalizedError(cuda.hessian, reference.hessian) <= 1e-5,
        'the Hessian accumulated on cuda',
      );
      let same = 0;
      for (let i = 0; i < n * k; i++)
        if (cuda.result.codes[i] === reference.result.codes[i]) same++;
      assert.ok(same / (n * k) >= 0.999, `codes agree on ${((100 * same) / (n * k)).toFixed(3)}%`);
      const lossRatio = cuda.result.loss / reference.result.loss;
      assert.ok(Math.abs(lossRatio - 1) < 1e-2, `loss ratio ${lossRatio}`);
    }),
  },
];

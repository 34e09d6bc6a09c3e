import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  cholesky,
  choleskyInverse,
  Generator,
  SlimlmError,
  scope,
  type Tensor,
  tensor,
  transpose,
  withBackend,
} from '@slimlm/core';
import { describe, expect, it } from 'vitest';
import { available, CPU, setIsa, setThreads } from '../src/index';
import { isas, restoreIsaAndThreadsAfterAll } from './isa-paths';

restoreIsaAndThreadsAfterAll();

/** A random SPD matrix B Bᵀ / n + I (condition ~ 10), row-major f64 values. */
function spdValues(n: number, seed: number): Float64Array {
  const g = new Generator(seed);
  const b = Float64Array.from({ length: n * n }, () => g.nextNormal());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += b[i * n + k]! * b[j * n + k]!;
      a[i * n + j] = s / n;
      a[j * n + i] = s / n;
    }
    a[i * n + i]! += 1;
  }
  return a;
}

/** max |actual - expected| / max |expected|. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return scale === 0 ? worst : worst / scale;
}

function transposed(values: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j * n + i] = values[i * n + j]!;
  return out;
}

/** The f64 reference results for one size, computed once and shared by every ISA and thread count. */
interface Expected {
  n: number;
  a: Float32Array;
  lower: Float64Array;
  /** The f32-rounded lower factor: what choleskyInverse gets. */
  factor: Float32Array;
  inverse: Float64Array;
}

const SIZES = [1, 2, 7, 64, 65, 129, 300, 1000];
const expected = new Map<number, Expected>();
function expectedFor(n: number): Expected {
  let e = expected.get(n);
  if (e) return e;
  const a = Float32Array.from(spdValues(n, n));
  const lower = withBackend('reference', () =>
    Float64Array.from(cholesky(tensor(Float64Array.from(a), { shape: [n, n] })).dataSync()),
  );
  const factor = Float32Array.from(lower);
  const inverse = withBackend('reference', () =>
    Float64Array.from(
      choleskyInverse(tensor(Float64Array.from(factor), { shape: [n, n] })).dataSync(),
    ),
  );
  e = { n, a, lower, factor, inverse };
  expected.set(n, e);
  return e;
}

function onCpu<T>(fn: () => T): T {
  return withBackend(CPU, () => scope(fn));
}

describe.runIf(available).each(isas)('cholesky and choleskyInverse on the %s path', (isa) => {
  for (const threads of [1, 2]) {
    it(`match the f64 reference on sizes ${SIZES.join(', ')} with ${threads} thread(s)`, () => {
      setIsa(isa);
      setThreads(threads);
      for (const n of SIZES) {
        const e = expectedFor(n);
        const [lower, upper, inverse, inverseUpper] = onCpu(() => {
          const a = tensor(e.a, { shape: [n, n] });
          const l = cholesky(a);
          expect(l.backend.name).toBe(CPU);
          const results = [
            l,
            cholesky(a, { upper: true }),
            choleskyInverse(tensor(e.factor, { shape: [n, n] })),
            choleskyInverse(tensor(Float32Array.from(transposed(e.factor, n)), { shape: [n, n] }), {
              upper: true,
            }),
          ];
          return results.map((t: Tensor) => Float64Array.from(t.dataSync()));
        }) as Float64Array[];
        expect(relativeError(lower!, e.lower), `lower n=${n}`).toBeLessThan(1e-6);
        expect(relativeError(upper!, transposed(e.lower, n)), `upper n=${n}`).toBeLessThan(1e-6);
        expect(relativeError(inverse!, e.inverse), `inverse n=${n}`).toBeLessThan(2e-6);
        expect(relativeError(inverseUpper!, e.inverse), `inverse upper n=${n}`).toBeLessThan(2e-6);
        // Exact zeros in the other triangle, and an exactly symmetric inverse.
        for (let i = 0; i < n; i++) {
          for (let j = i + 1; j < n; j++) {
            if (lower![i * n + j] !== 0 || upper![j * n + i] !== 0)
              throw new Error(`nonzero in the other triangle at ${i}, ${j} (n=${n})`);
            if (inverse![i * n + j] !== inverse![j * n + i])
              throw new Error(`asymmetric inverse at ${i}, ${j} (n=${n})`);
          }
        }
      }
    });
  }

  it('throws NUMERICAL at the same pivot as the reference, in any block', () => {
    setIsa(isa);
    for (const [n, bad] of [
      [3, 0],
      [200, 130],
      [300, 299],
    ] as const) {
      const values = Float32Array.from(spdValues(n, 5));
      values[bad * n + bad] = -1;
      const run = (backend: string) =>
        withBackend(backend, () => {
          try {
            scope(() => cholesky(tensor(values, { shape: [n, n] })));
          } catch (error) {
            return error as SlimlmError;
          }
          throw new Error('expected an error');
        });
      const native = run(CPU);
      const reference = run('reference');
      expect(native).toBeInstanceOf(SlimlmError);
      expect(native.code).toBe('NUMERICAL');
      expect(native.message).toMatch(
        new RegExp(`^cholesky: the matrix is not positive definite \\(pivot k = ${bad}, value -`),
      );
      expect(reference.message).toMatch(new RegExp(`\\(pivot k = ${bad}, value -`));
    }
    expect(() => onCpu(() => cholesky(tensor([Number.NaN, 0, 0, 1], { shape: [2, 2] })))).toThrow(
      /pivot k = 0, value NaN/,
    );
  });

  it('reads strided views and writes into strided outputs', () => {
    setIsa(isa);
    const n = 150;
    const e = expectedFor(n);
    const results = onCpu(() => {
      const a = tensor(e.a, { shape: [n, n] });
      return [
        cholesky(transpose(a), { upper: true }),
        choleskyInverse(transpose(tensor(e.factor, { shape: [n, n] })), { upper: true }),
      ].map((t) => Float64Array.from(t.dataSync()));
    });
    expect(relativeError(results[0]!, transposed(e.lower, n))).toBeLessThan(1e-6);
    expect(relativeError(results[1]!, e.inverse)).toBeLessThan(2e-6);
  });
});

describe.runIf(available)('cholesky on f64', () => {
  it('runs the reference kernel', () => {
    const values = spdValues(20, 3);
    const run = (backend: string) =>
      withBackend(backend, () =>
        scope(() => {
          const a = tensor(values, { shape: [20, 20] });
          const l = cholesky(a);
          expect(l.dtype).toBe('f64');
          return [...l.dataSync(), ...choleskyInverse(l).dataSync()];
        }),
      );
    expect(run(CPU)).toEqual(run('reference'));
  });
});

/** The tensors of a safetensors file: an 8-byte little-endian header length, JSON, then data. */
function readSafetensors(path: string): Map<string, { shape: number[]; data: Float32Array }> {
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__' || entry.dtype !== 'F32') continue;
    const [begin, end] = entry.data_offsets;
    const slice = bytes.subarray(8 + length + begin, 8 + length + end);
    const copy = new Uint8Array(slice);
    out.set(name, { shape: entry.shape, data: new Float32Array(copy.buffer) });
  }
  return out;
}

describe.runIf(available)('the GPTQ inverse Hessian of the golden layer', () => {
  it("matches GPTQ's torch f32 result: chol(cholesky_inverse(chol(H + damp I)), upper)", () => {
    const root = fileURLToPath(new URL('../../../fixtures/gptq/', import.meta.url));
    const tensors = readSafetensors(`${root}gptq-layer-golden.safetensors`);
    const { damp } = JSON.parse(readFileSync(`${root}gptq-layer-golden.json`, 'utf8')).configs
      .w4_g128_asym as { damp: number };
    const h = Float32Array.from(tensors.get('H')!.data);
    const golden = tensors.get('w4_g128_asym.hinv')!.data;
    const n = 768;
    for (let i = 0; i < n; i++) h[i * n + i]! += damp;
    const run = (backend: string, dtype: 'f32' | 'f64') =>
      withBackend(backend, () =>
        scope(() => {
          const a = tensor(dtype === 'f32' ? h : Float64Array.from(h), { shape: [n, n] });
          return Float64Array.from(
            cholesky(choleskyInverse(cholesky(a)), { upper: true }).dataSync(),
          );
        }),
      );
    const exact = run('reference', 'f64');
    for (const isa of isas) {
      setIsa(isa);
      const native = run(CPU, 'f32');
      // Against torch's f32 LAPACK result and against the f64 result: torch's own f32 result is
      // ~6e-6 (max, relative to the largest entry) from the f64 one.
      expect(relativeError(native, golden), isa).toBeLessThan(5e-6);
      expect(relativeError(native, exact), isa).toBeLessThan(5e-6);
    }
    expect(relativeError(golden, exact)).toBeLessThan(1e-5);
  });
});

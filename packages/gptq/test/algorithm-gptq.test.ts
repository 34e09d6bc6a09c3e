import {
  manualSeed,
  matmul,
  randn,
  type Tensor,
  tensor,
  transpose,
  withBackend,
} from '@slimlm/core';
import { available as cpuAvailable, cpuInfo, setIsa } from '@slimlm/kernels-cpu';
import { describe, expect, it } from 'vitest';
import {
  findParams,
  gptqQuantize,
  gptqQuantizeBlock,
  HessianAccumulator,
  rtnQuantize,
} from '../src/index';

const N = 8;
const K = 192;

/** A random layer and the Hessian of random correlated inputs. */
function layer(seed: number, k = K) {
  manualSeed(seed);
  const weight = randn([N, k]);
  const mix = randn([k, k], { std: 0.3 });
  const x = matmul(randn([64, k]), mix);
  const hessian = matmul(transpose(x), x);
  return { weight, hessian, w: weight.dataSync() as Float32Array };
}

function identity(k: number): Tensor {
  return tensor(
    Float32Array.from({ length: k * k }, (_, i) => (i % (k + 1) === 0 ? 1 : 0)),
    {
      shape: [k, k],
    },
  );
}

const base = {
  bits: 4 as const,
  sym: false,
  groupSize: 64,
  descAct: false,
  staticGroups: false,
  dampPercent: 0.01,
};

describe('gptqQuantize', () => {
  it('gives a lower Hessian-weighted error than RTN, and consistent outputs', () => {
    const { weight, hessian } = layer(1);
    const gptq = gptqQuantize(weight, hessian, base);
    const rtn = rtnQuantize(weight, base);
    // Σ over rows of (w - q) H (w - q)ᵀ, the error GPTQ minimises.
    const w = weight.dataSync();
    const h = hessian.dataSync();
    const err = (q: Tensor) => {
      const e = q.dataSync().map((v, i) => w[i]! - v);
      let total = 0;
      for (let r = 0; r < N; r++)
        for (let i = 0; i < K; i++)
          for (let j = 0; j < K; j++) total += e[r * K + i]! * h[i * K + j]! * e[r * K + j]!;
      return total;
    };
    expect(err(gptq.dequantized)).toBeLessThan(err(rtn.dequantized));
    const q = gptq.dequantized.dataSync();
    for (let r = 0; r < N; r++) {
      for (let k = 0; k < K; k++) {
        const g = gptq.gIdx[k]!;
        const s = gptq.scales[g * N + r]!;
        expect(q[r * K + k]).toBe(
          Math.fround(s * (gptq.codes[r * K + k]! - gptq.zeros[g * N + r]!)),
        );
      }
    }
    expect(gptq.loss).toBeGreaterThan(0);
    expect(gptq.damp).toBeGreaterThan(0);
  });

  it('equals RTN when H is diagonal (no error to spread)', () => {
    const { weight } = layer(2);
    const h = identity(K);
    const gptq = gptqQuantize(weight, h, base);
    const rtn = rtnQuantize(weight, base);
    expect(Array.from(gptq.codes)).toEqual(Array.from(rtn.codes));
    expect(Array.from(gptq.scales)).toEqual(Array.from(rtn.scales));
  });

  it('takes group parameters from the weights outside the block (groups smaller than a block)', () => {
    const { weight, hessian, w } = layer(3);
    for (const groupSize of [32, 64]) {
      const result = gptqQuantize(weight, hessian, { ...base, groupSize });
      // Inside the first block of 128 columns, the weights outside the block are the original
      // ones: every group starting there has the original weights' parameters.
      for (let start = 0; start < 128; start += groupSize) {
        const expected = findParams(w, N, groupSize, K, start, { ...base, groupSize });
        expect(
          Array.from(result.scales.subarray((start / groupSize) * N, (start / groupSize + 1) * N)),
        ).toEqual(Array.from(expected.scale));
      }
      // With blocks as small as the groups, later groups see the updates and differ.
      const small = gptqQuantize(weight, hessian, { ...base, groupSize, blockSize: groupSize });
      expect(Array.from(small.scales.subarray(N, 2 * N))).not.toEqual(
        Array.from(result.scales.subarray(N, 2 * N)),
      );
    }
  });

  it('uses one group of the weights before dead columns are zeroed for groupSize -1', () => {
    const { weight, hessian, w } = layer(4);
    const h = hessian.dataSync() as Float32Array;
    for (let i = 0; i < K; i++) {
      h[5 * K + i] = 0;
      h[i * K + 5] = 0;
    }
    const result = gptqQuantize(weight, tensor(h, { shape: [K, K] }), { ...base, groupSize: -1 });
    expect(Array.from(result.gIdx)).toEqual(new Array(K).fill(0));
    expect(Array.from(result.scales)).toEqual(Array.from(findParams(w, N, K, K, 0, base).scale));
    const q = result.dequantized.dataSync();
    for (let r = 0; r < N; r++) expect(q[r * K + 5]).toBe(0);
  });

  it('zeroes dead columns (H[k, k] = 0) and sets their H[k, k] to 1', () => {
    const { weight, hessian } = layer(5);
    const h = hessian.dataSync() as Float32Array;
    for (const dead of [0, 77]) {
      for (let i = 0; i < K; i++) {
        h[dead * K + i] = 0;
        h[i * K + dead] = 0;
      }
    }
    const result = gptqQuantize(weight, tensor(h, { shape: [K, K] }), base);
    const q = result.dequantized.dataSync();
    for (let r = 0; r < N; r++) {
      expect(q[r * K]).toBe(0);
      expect(q[r * K + 77]).toBe(0);
    }
    expect(Number.isFinite(result.loss)).toBe(true);
  });

  it('raises dampPercent by 0.01 while Cholesky fails, and logs each step', () => {
    // Eigenvalues 2.025 and -0.025: positive definite only once damping exceeds 0.025.
    const h = tensor([
      [1, 1.025],
      [1.025, 1],
    ]);
    const lines: string[] = [];
    const result = gptqQuantize(tensor([[0.3, -0.7]]), h, {
      ...base,
      groupSize: -1,
      onLog: (line) => lines.push(line),
    });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/Cholesky failed with dampPercent 0\.01000; raising it to 0\.02000/);
    expect(lines[1]).toMatch(/0\.02000; raising it to 0\.03000/);
    expect(result.damp).toBeCloseTo(0.03, 6);
  });

  it('orders columns by decreasing diag(H) with act-order; g_idx[perm[k]] = k / g', () => {
    const { weight, hessian } = layer(6);
    const result = gptqQuantize(weight, hessian, { ...base, descAct: true });
    const perm = result.perm!;
    const h = hessian.dataSync();
    for (let k = 1; k < K; k++)
      expect(h[perm[k - 1]! * (K + 1)]!).toBeGreaterThanOrEqual(h[perm[k]! * (K + 1)]!);
    for (let k = 0; k < K; k++) expect(result.gIdx[perm[k]!]).toBe(Math.floor(k / 64));
    // The codes come back in the original column order.
    const q = result.dequantized.dataSync();
    for (let r = 0; r < N; r++) {
      for (let c = 0; c < K; c++) {
        const g = result.gIdx[c]!;
        expect(q[r * K + c]).toBe(
          Math.fround(
            result.scales[g * N + r]! * (result.codes[r * K + c]! - result.zeros[g * N + r]!),
          ),
        );
      }
    }
  });

  it('computes static groups up front from the original weight: g_idx = k / g', () => {
    const { weight, hessian, w } = layer(7);
    for (const descAct of [false, true]) {
      const result = gptqQuantize(weight, hessian, { ...base, descAct, staticGroups: true });
      expect(Array.from(result.gIdx)).toEqual(
        Array.from({ length: K }, (_, k) => Math.floor(k / 64)),
      );
      for (let g = 0; g < 3; g++) {
        const expected = findParams(w, N, 64, K, g * 64, base);
        expect(Array.from(result.scales.subarray(g * N, (g + 1) * N))).toEqual(
          Array.from(expected.scale),
        );
        expect(Array.from(result.zeros.subarray(g * N, (g + 1) * N))).toEqual(
          Array.from(expected.zero),
        );
      }
    }
  });

  it('does not modify its inputs', () => {
    const { weight, hessian } = layer(8);
    const before = [Array.from(weight.dataSync()), Array.from(hessian.dataSync())];
    gptqQuantize(weight, hessian, { ...base, descAct: true });
    expect([Array.from(weight.dataSync()), Array.from(hessian.dataSync())]).toEqual(before);
  });
});

describe('HessianAccumulator', () => {
  it('keeps H = 2/n Σ XᵀX over sequences, counting a batch axis as sequences', () => {
    manualSeed(9);
    const k = 16;
    const acc = new HessianAccumulator(k);
    const xs = [randn([5, k]), randn([2, 3, k]), randn([7, k])];
    for (const x of xs) acc.add(x);
    expect(acc.samples).toBe(4);
    const expected = new Float64Array(k * k);
    for (const x of xs) {
      const v = x.dataSync();
      const rows = v.length / k;
      for (let t = 0; t < rows; t++)
        for (let i = 0; i < k; i++)
          for (let j = 0; j < k; j++)
            expected[i * k + j]! += (2 / 4) * v[t * k + i]! * v[t * k + j]!;
    }
    const h = acc.hessian().dataSync();
    for (let i = 0; i < k * k; i++) expect(h[i]).toBeCloseTo(expected[i]!, 4);
    acc.dispose();
    expect(() => acc.add(xs[0]!)).toThrow(/disposed/);
  });
});

describe.runIf(cpuAvailable)('gptqQuantizeBlock on the cpu backend', () => {
  it('gives the reference kernel bit for bit on every ISA path', () => {
    manualSeed(10);
    const run = (backend: string) =>
      withBackend(backend, () => {
        const n = 37;
        const b = 45;
        const w = randn([n, b]);
        const a = randn([b, b], { std: 0.1 });
        const hinv = tensor(
          a.dataSync().map((v, i) => (i % (b + 1) === 0 ? 1 + Math.abs(v) : v)),
          { shape: [b, b] },
        );
        const scales = tensor(
          Float32Array.from({ length: 2 * n }, (_, i) => 0.1 + (i % 7) * 0.05),
          { shape: [2, n] },
        );
        const zeros = tensor(
          Float32Array.from({ length: 2 * n }, (_, i) => i % 16),
          { shape: [2, n] },
        );
        const params = tensor(Int32Array.from({ length: b }, (_, i) => (i < 20 ? 0 : 1)));
        const out = gptqQuantizeBlock(w, hinv, scales, zeros, params, { maxq: 15 });
        return [out.q, out.err, out.losses, out.codes].map((t) => Array.from(t.dataSync()));
      });
    manualSeed(10);
    const reference = run('reference');
    const { isa, supportedIsas } = cpuInfo();
    try {
      for (const path of supportedIsas) {
        setIsa(path);
        manualSeed(10);
        expect(run('cpu'), path).toEqual(reference);
      }
    } finally {
      setIsa(isa);
    }
  });
});

import '@slimlm/kernels-cpu';
import { dequantize, type Tensor, tensor } from '@slimlm/core';
import { Module } from '@slimlm/models';
import { describe, expect, it } from 'vitest';
import {
  type Bits,
  convertQzeros,
  type GptqFormat,
  packRows,
  QuantLinear,
  setQuantActivations,
  unpackRows,
} from '../src/index';

function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

interface Layer {
  K: number;
  N: number;
  G: number;
  gs: number;
  codes: Uint8Array;
  scales: Float32Array;
  zeros: Float32Array;
  gIdx: Int32Array;
  bias: Float32Array;
}

/** Random quantization results; `actOrder` shuffles which input channels form each group. */
function randomLayer(
  K: number,
  N: number,
  bits: Bits,
  groupSize: number,
  actOrder: boolean,
  seed: number,
): Layer {
  const rand = lcg(seed);
  const gs = groupSize === -1 ? K : groupSize;
  const G = Math.ceil(K / gs);
  const max = (1 << bits) - 1;
  const codes = Uint8Array.from({ length: N * K }, () => Math.floor(rand() * (max + 1)));
  const scales = Float32Array.from({ length: G * N }, () => 0.01 + rand() * 0.05);
  const zeros = Float32Array.from({ length: G * N }, () => Math.floor(rand() * (max + 1)));
  // act-order: g_idx[perm[i]] = i / gs for a random permutation perm.
  const perm = Array.from({ length: K }, (_, k) => k);
  if (actOrder) {
    for (let i = K - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
  }
  const gIdx = new Int32Array(K);
  perm.forEach((k, i) => {
    gIdx[k] = Math.floor(i / gs);
  });
  const bias = Float32Array.from({ length: N }, () => rand() - 0.5);
  return { K, N, G, gs, codes, scales, zeros, gIdx, bias };
}

/** f16-rounded copy, as the layer stores scales and bias. */
function f16(values: Float32Array): Float32Array {
  return Float32Array.from(tensor(values, { dtype: 'f16' }).dataSync());
}

/** The float weight [N, K] the quantization means, from the codes (FORMATS.md formula). */
function referenceWeight(layer: Layer): Float64Array {
  const { K, N, codes, zeros, gIdx } = layer;
  const scales = f16(layer.scales);
  const w = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const g = gIdx[k]!;
      w[n * K + k] = scales[g * N + n]! * (codes[n * K + k]! - zeros[g * N + n]!);
    }
  }
  return w;
}

function referenceForward(layer: Layer, x: Float32Array, rows: number): Float64Array {
  const w = referenceWeight(layer);
  const bias = f16(layer.bias);
  const { K, N } = layer;
  const y = new Float64Array(rows * N);
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < N; n++) {
      let acc = bias[n]!;
      for (let k = 0; k < K; k++) acc += x[r * K + k]! * w[n * K + k]!;
      y[r * N + n] = acc;
    }
  }
  return y;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(1, Math.abs(expected[i]!));
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / scale);
  }
  expect(worst).toBeLessThan(tolerance);
}

describe('QuantLinear', () => {
  const cases: [Bits, number, number, number][] = [
    [4, 128, 64, 32],
    [4, 64, 96, -1],
    [3, 128, 64, 32],
    [2, 64, 32, 16],
    [8, 96, 32, 32],
  ];
  for (const [bits, K, N, groupSize] of cases) {
    for (const format of ['gptq', 'gptq_v2'] as GptqFormat[]) {
      for (const actOrder of [false, true]) {
        const name = `${bits}-bit K=${K} N=${N} g=${groupSize} ${format}${actOrder ? ' act-order' : ''}`;
        it(`computes x Wᵀ + b from packed codes (${name})`, () => {
          const layer = randomLayer(K, N, bits, groupSize, actOrder, bits * 1000 + K + N);
          const q = QuantLinear.fromQuantization({ ...layer, bits, groupSize, format });
          try {
            expect(q.qweight.shape).toEqual([(K * bits) / 32, N]);
            expect(q.qzeros.shape).toEqual([layer.G, (N * bits) / 32]);
            expect(q.scales.dtype).toBe('f16');
            expect(q.actOrder).toBe(actOrder && groupSize !== -1);
            const rows = 5;
            const rand = lcg(7);
            const x = Float32Array.from({ length: rows * K }, () => rand() * 2 - 1);
            const y = q.forward(tensor(x, { shape: [1, rows, K] }));
            expect(y.shape).toEqual([1, rows, N]);
            expectClose(y.dataSync(), referenceForward(layer, x, rows), 1e-5);
            y.dispose();
            // dequantize (core) and the layer's own dequantizedWeight agree with the codes.
            const w = q.dequantizedWeight();
            expectClose(w.dataSync(), referenceWeight(layer), 1e-6);
            w.dispose();
            // The checkpoint tensors stay in checkpoint order after the act-order reorder.
            const saved = q.toCheckpointTensors({ prefix: 'proj' });
            const transposed = new Uint8Array(K * N);
            for (let n = 0; n < N; n++)
              for (let k = 0; k < K; k++) transposed[k * N + n] = layer.codes[n * K + k]!;
            expect(saved['proj.qweight']!.dataSync()).toEqual(packRows(transposed, K, N, bits));
            expect([...saved['proj.g_idx']!.dataSync()]).toEqual([...layer.gIdx]);
            expect(Object.keys(saved).sort()).toEqual([
              'proj.bias',
              'proj.g_idx',
              'proj.qweight',
              'proj.qzeros',
              'proj.scales',
            ]);
          } finally {
            q.dispose();
          }
        });
      }
    }
  }

  it('reads layers loaded by name through setParameter, like loadStateDict', () => {
    const bits = 4;
    const layer = randomLayer(64, 32, bits, 16, true, 3);
    const built = QuantLinear.fromQuantization({ ...layer, bits, groupSize: 16, format: 'gptq' });
    const loaded = new QuantLinear(64, 32, { bits, groupSize: 16, format: 'gptq', bias: true });
    expect([...loaded.parameterShapes()]).toEqual([
      ['qweight', [8, 32]],
      ['qzeros', [4, 4]],
      ['scales', [4, 32]],
      ['g_idx', [64]],
      ['bias', [32]],
    ]);
    for (const [name, value] of Object.entries(built.toCheckpointTensors())) {
      loaded.setParameter(
        name,
        tensor(value.dataSync().slice(), { dtype: value.dtype, shape: [...value.shape] }),
      );
    }
    const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
    const first = loaded.forward(tensor(x, { shape: [1, 64] }));
    expectClose(first.dataSync(), referenceForward(layer, x, 1), 1e-5);
    // A reload with other weights rebuilds the act-order state.
    const other = randomLayer(64, 32, bits, 16, true, 4);
    const rebuilt = QuantLinear.fromQuantization({ ...other, bits, groupSize: 16, format: 'gptq' });
    for (const [name, value] of Object.entries(rebuilt.toCheckpointTensors())) {
      loaded.setParameter(
        name,
        tensor(value.dataSync().slice(), { dtype: value.dtype, shape: [...value.shape] }),
      );
    }
    const second = loaded.forward(tensor(x, { shape: [1, 64] }));
    expectClose(second.dataSync(), referenceForward(other, x, 1), 1e-5);
    for (const t of [first, second]) t.dispose();
    for (const m of [built, loaded, rebuilt]) m.dispose();
  });

  it('converts qzeros between formats when asked, keeping the meaning', () => {
    const bits = 3;
    const layer = randomLayer(64, 64, bits, 32, false, 11);
    const v1 = QuantLinear.fromQuantization({ ...layer, bits, groupSize: 32, format: 'gptq' });
    const v2 = QuantLinear.fromQuantization({ ...layer, bits, groupSize: 32, format: 'gptq_v2' });
    const asV2 = v1.toCheckpointTensors({ format: 'gptq_v2' }).qzeros!;
    expect(asV2.dataSync()).toEqual(v2.qzeros.dataSync());
    expect(asV2.dataSync()).toEqual(
      convertQzeros(Int32Array.from(v1.qzeros.dataSync()), 2, 64, bits, 'gptq', 'gptq_v2'),
    );
    const w1 = v1.dequantizedWeight();
    const w2 = v2.dequantizedWeight();
    expect(w1.dataSync()).toEqual(w2.dataSync());
    for (const t of [asV2, w1, w2]) t.dispose();
    v1.dispose();
    v2.dispose();
  });

  it('falls back to a dense weight when g_idx groups have unequal sizes', () => {
    const bits = 4;
    const layer = randomLayer(64, 32, bits, 32, false, 5);
    // 40 channels in group 0, 24 in group 1: no reordering makes them consecutive groups of 32.
    layer.gIdx = Int32Array.from({ length: 64 }, (_, k) => (k % 8 < 5 ? 0 : 1));
    const q = QuantLinear.fromQuantization({ ...layer, bits, groupSize: 32, format: 'gptq_v2' });
    const x = Float32Array.from({ length: 2 * 64 }, (_, i) => Math.cos(i));
    const y = q.forward(tensor(x, { shape: [2, 64] }));
    expectClose(y.dataSync(), referenceForward(layer, x, 2), 1e-5);
    y.dispose();
    q.dispose();
  });

  it('keeps f16 activations in f16 (computing in f32)', () => {
    const bits = 4;
    const layer = randomLayer(64, 32, bits, 32, true, 8);
    const q = QuantLinear.fromQuantization({ ...layer, bits, groupSize: 32 });
    const x = Float32Array.from({ length: 64 }, (_, i) => (i % 7) / 7 - 0.5);
    const y = q.forward(tensor(x, { shape: [1, 64], dtype: 'f16' }));
    expect(y.dtype).toBe('f16');
    expectClose(y.dataSync(), referenceForward(layer, f16(x), 1), 1e-2);
    y.dispose();
    q.dispose();
  });

  it('matches core dequantize with the act-order g_idx and unpack → float weight', () => {
    const bits = 4;
    const layer = randomLayer(128, 32, bits, 32, true, 21);
    const q = QuantLinear.fromQuantization({ ...layer, bits, groupSize: 32, format: 'gptq' });
    const viaCore: Tensor = dequantize(
      { qweight: q.qweight, qzeros: q.qzeros, scales: q.scales },
      { bits, groupSize: 32, zeroOffset: 1 },
      q.gIdx,
    );
    const codes = unpackRows(Int32Array.from(q.qweight.dataSync()), 128, 32, bits);
    const scales = q.scales.dataSync();
    const own = new Float64Array(32 * 128);
    for (let n = 0; n < 32; n++) {
      for (let k = 0; k < 128; k++) {
        const g = layer.gIdx[k]!;
        own[n * 128 + k] = scales[g * 32 + n]! * (codes[k * 32 + n]! - layer.zeros[g * 32 + n]!);
      }
    }
    expectClose(viaCore.dataSync(), own, 1e-6);
    viaCore.dispose();
    q.dispose();
  });

  it('refuses shapes that do not pack', () => {
    expect(() => new QuantLinear(60, 32, { bits: 4, groupSize: 32 })).toThrow(/inFeatures = 60/);
    expect(() => new QuantLinear(64, 48, { bits: 3, groupSize: 32 })).toThrow(/outFeatures = 48/);
    expect(() => new QuantLinear(64, 32, { bits: 4, groupSize: 0 })).toThrow(/groupSize/);
  });
});

describe('setQuantActivations', () => {
  it('switches the layers int8 can serve and keeps the rest in f32', () => {
    const build = (bits: Bits, K: number, groupSize: number, actOrder: boolean, seed: number) =>
      QuantLinear.fromQuantization({
        ...randomLayer(K, 64, bits, groupSize, actOrder, seed),
        bits,
        groupSize,
      });
    class Layers extends Module {
      constructor() {
        super();
        this.addModule('four', build(4, 256, 128, true, 1));
        this.addModule('eight', build(8, 128, -1, false, 2));
        this.addModule('three', build(3, 128, 32, false, 3));
        this.addModule('narrow', build(2, 64, 16, false, 4));
      }
    }
    const model = new Layers();
    try {
      const rand = lcg(11);
      const x = tensor(
        Float32Array.from({ length: 3 * 256 }, () => rand() * 2 - 1),
        { shape: [3, 256] },
      );
      const layer = model.getModule('four') as QuantLinear;
      const exact = layer.forward(x);
      expect(setQuantActivations(model, 'int8')).toEqual({
        switched: ['four', 'eight'],
        kept: ['three', 'narrow'],
      });
      expect(layer.quantAttrs.activations).toBe('int8');
      expect((model.getModule('three') as QuantLinear).activations).toBe('f32');
      // The act-order layer with int8 activations: close to f32, not identical.
      const quick = layer.forward(x);
      const a = quick.dataSync();
      const b = exact.dataSync();
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < a.length; i++) {
        worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
        scale = Math.max(scale, Math.abs(b[i]!));
      }
      expect(worst).toBeGreaterThan(0);
      expect(worst / scale).toBeLessThan(0.02);
      expect(setQuantActivations(model, 'f32').switched).toEqual([
        'four',
        'eight',
        'three',
        'narrow',
      ]);
      expect(layer.quantAttrs.activations).toBeUndefined();
      expect(() => setQuantActivations(model, 'int4' as 'int8')).toThrow(/'f32' or 'int8'/);
      for (const t of [x, exact, quick]) t.dispose();
    } finally {
      model.dispose();
    }
  });
});

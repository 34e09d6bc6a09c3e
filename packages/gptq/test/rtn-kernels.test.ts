import '@slimlm/kernels-cpu';
import { fileURLToPath } from 'node:url';
import { cast, scope, type Tensor, tensor, withBackend } from '@slimlm/core';
import { openCheckpoint } from '@slimlm/hub';
import { describe, expect, it } from 'vitest';
import { type Bits, gptqPackCodes, gptqRtnQuantize, packRows } from '../src/index';

// The native 'cpu' kernels of RTN and of packing against their reference kernels, on the trained
// wikillama's weights and on edge rows: codes, q, scales, zeros and words bit for bit.
const WIKILLAMA = fileURLToPath(new URL('../../models/assets/wikillama-7m', import.meta.url));

function onBoth<T>(run: (backend: string) => T): [T, T] {
  return [withBackend('reference', () => run('reference')), withBackend('cpu', () => run('cpu'))];
}

function values(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

/** Rows that exercise the quantizer's corners, 96 columns each (groups of 32 and of 40). */
function edgeRows(): Float32Array {
  const k = 96;
  const rows = [
    new Array(k).fill(0),
    new Array(k).fill(0.25),
    Array.from({ length: k }, (_, i) => -0.5 - i / 64),
    Array.from({ length: k }, (_, i) => (i % 7) * 1e-3 - 2e-3),
    // A range so small that the scale rounds to 0: codes of NaN (stored 0) as in the reference.
    Array.from({ length: k }, (_, i) => (i % 2) * 1e-45),
    Array.from({ length: k }, (_, i) => (i === 5 ? -0 : Math.sin(i) * 3)),
    // Ties: w / scale lands on x.5 for many of these.
    Array.from({ length: k }, (_, i) => (i - 48) / 8),
  ];
  return Float32Array.from(rows.flat());
}

describe("gptqRtnQuantize on 'cpu'", () => {
  const checkpoint = openCheckpoint(WIKILLAMA);
  const weights = ['model.layers.0.self_attn.q_proj.weight', 'model.layers.3.mlp.down_proj.weight'];

  for (const [bits, groupSize, sym] of [
    [4, 128, false],
    [4, 128, true],
    [3, 128, false],
    [2, 64, false],
    [8, 128, true],
    [4, 1 << 20, false],
    [3, 40, true],
  ] as [Bits, number, boolean][]) {
    it(`equals the reference kernel bit for bit: ${bits} bits, group ${groupSize}, ${sym ? 'sym' : 'asym'}`, () => {
      const inputs = [
        ...weights.map((name) => ({ data: checkpoint.read(name), name })),
        { data: tensor(edgeRows(), { shape: [7, 96] }), name: 'edge rows' },
      ];
      for (const { data } of inputs) {
        const [reference, native] = onBoth((backend) =>
          scope(() => {
            const w = cast(tensor(data.dataSync(), { shape: [...data.shape], backend }), 'f32');
            const g = Math.min(groupSize, w.shape[1]!);
            const r = gptqRtnQuantize(w, { bits, sym, groupSize: g });
            return {
              codes: values(r.codes),
              q: values(r.q).map((v) => (Number.isNaN(v) ? 'NaN' : v)),
              scales: values(r.scales),
              zeros: values(r.zeros),
              losses: values(r.losses),
            };
          }),
        );
        expect(native.codes).toEqual(reference.codes);
        expect(native.q).toEqual(reference.q);
        expect(native.scales).toEqual(reference.scales);
        expect(native.zeros).toEqual(reference.zeros);
        // Row losses are sums in f64 whose order differs between the kernels.
        native.losses.forEach((loss, r) => {
          const expected = reference.losses[r]!;
          if (Number.isNaN(expected)) expect(loss).toBeNaN();
          else expect(Math.abs(loss - expected)).toBeLessThanOrEqual(1e-12 * Math.abs(expected));
        });
        data.dispose();
      }
    });
  }

  it('runs the MSE range search through the reference kernel', () => {
    const [reference, native] = onBoth((backend) =>
      scope(() => {
        const w = tensor(edgeRows(), { shape: [7, 96], backend });
        const r = gptqRtnQuantize(w, {
          bits: 4,
          sym: false,
          groupSize: 32,
          mse: { grid: 20, maxShrink: 0.8, norm: 2.4 },
        });
        return [values(r.codes), values(r.scales)];
      }),
    );
    expect(native).toEqual(reference);
  });
});

describe("gptqPackCodes on 'cpu'", () => {
  for (const bits of [2, 3, 4, 8] as Bits[]) {
    it(`packs codes [N, K] as packRows packs their transpose: ${bits} bits`, () => {
      const n = 40;
      const k = 96;
      const codes = Uint8Array.from({ length: n * k }, (_, i) => (i * 2654435761) >>> (32 - bits));
      const transposed = new Uint8Array(k * n);
      for (let r = 0; r < n; r++)
        for (let c = 0; c < k; c++) transposed[c * n + r] = codes[r * k + c]!;
      const expected = Array.from(packRows(transposed, k, n, bits));
      const [reference, native] = onBoth((backend) =>
        scope(() =>
          values(gptqPackCodes(tensor(codes, { dtype: 'u8', shape: [n, k], backend }), { bits })),
        ),
      );
      expect(reference).toEqual(expected);
      expect(native).toEqual(expected);
    });
  }

  it('takes K not a multiple of 32 (reference kernel) and rejects codes that do not fit', () => {
    withBackend('cpu', () =>
      scope(() => {
        const codes = Uint8Array.from({ length: 3 * 8 }, (_, i) => i % 16);
        const words = gptqPackCodes(tensor(codes, { dtype: 'u8', shape: [3, 8] }), { bits: 4 });
        expect(words.shape).toEqual([1, 3]);
        const bad = Uint8Array.from({ length: 2 * 32 }, (_, i) => (i === 37 ? 16 : 3));
        expect(() =>
          gptqPackCodes(tensor(bad, { dtype: 'u8', shape: [2, 32] }), { bits: 4 }),
        ).toThrow(/code 16 at \[5, 1\] does not fit in 4 bits/);
      }),
    );
  });
});

import { describe, expect, it } from 'vitest';
import { dropout, Generator, manualSeed, ones, scope, sum, tensor, transpose } from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectNoLeak, normals } from './helpers';

describe('dropout', () => {
  it('draws the same mask from the same seed, another from another', () => {
    scope(() => {
      const x = ones([64], { dtype: 'f64' });
      const a = Array.from(dropout(x, 0.5, { generator: new Generator(3) }).dataSync());
      const b = Array.from(dropout(x, 0.5, { generator: new Generator(3) }).dataSync());
      const c = Array.from(dropout(x, 0.5, { generator: new Generator(4) }).dataSync());
      expect(a).toEqual(b);
      expect(a).not.toEqual(c);
      manualSeed(9);
      const d = Array.from(dropout(x, 0.5).dataSync());
      manualSeed(9);
      expect(Array.from(dropout(x, 0.5).dataSync())).toEqual(d);
    });
  });

  it('keeps each element with probability 1 - p, scaled by 1 / (1 - p)', () => {
    scope(() => {
      const n = 20000;
      const p = 0.3;
      const y = Array.from(
        dropout(ones([n], { dtype: 'f64' }), p, { generator: new Generator(5) }).dataSync(),
      );
      const kept = y.filter((v) => v !== 0);
      expect(kept.every((v) => v === 1 / (1 - p))).toBe(true);
      // Binomial standard deviation of the dropped fraction is sqrt(p (1 - p) / n) ~ 0.0032.
      expect(Math.abs(1 - kept.length / n - p)).toBeLessThan(0.015);
      expect(Math.abs(y.reduce((a, b) => a + b, 0) / n - 1)).toBeLessThan(0.03);
    });
  });

  it('multiplies x by its mask, strided x included', () => {
    scope(() => {
      const x = transpose(normals([5, 7], 1));
      const mask = dropout(ones([7, 5], { dtype: 'f64' }), 0.4, {
        generator: new Generator(2),
      }).dataSync();
      const y = dropout(x, 0.4, { generator: new Generator(2) }).dataSync();
      const xs = x.dataSync();
      expect(Array.from(y)).toEqual(Array.from(xs, (v, i) => v * mask[i]!));
    });
  });

  it('is the identity with p = 0 or outside training, and zeros with p = 1', () => {
    scope(() => {
      const x = normals([3, 4], 3);
      const values = Array.from(x.dataSync());
      expect(Array.from(dropout(x, 0).dataSync())).toEqual(values);
      expect(Array.from(dropout(x, 0.9, { training: false }).dataSync())).toEqual(values);
      expect(Array.from(dropout(x, 1).dataSync()).every((v) => v === 0)).toBe(true);
      expect(dropout(normals([0, 3], 4), 0.5).shape).toEqual([0, 3]);
    });
  });

  it('passes gradients through the identity cases', () => {
    scope(() => {
      for (const [p, training, expected] of [
        [0, true, 1],
        [0.5, false, 1],
        [1, true, 0],
      ] as const) {
        const x = normals([2, 3], 5);
        x.requiresGrad = true;
        sum(dropout(x, p, { training })).backward();
        expect(Array.from(x.grad!.dataSync())).toEqual(new Array(6).fill(expected));
      }
    });
  });

  it('works on f16', () => {
    scope(() => {
      const x = tensor([1, 2, 3, 4, 5, 6, 7, 8], { dtype: 'f16' });
      const y = dropout(x, 0.5, { generator: new Generator(6) });
      expect(y.dtype).toBe('f16');
      const reference = dropout(tensor([1, 2, 3, 4, 5, 6, 7, 8]), 0.5, {
        generator: new Generator(6),
      });
      expect(Array.from(y.dataSync())).toEqual(Array.from(reference.dataSync()));
    });
  });

  it('refuses p outside [0, 1] and integer tensors', () => {
    scope(() => {
      expect(() => dropout(ones([2]), 1.5)).toThrow(/dropout: p must be in \[0, 1\], got 1.5/);
      expect(() => dropout(ones([2]), Number.NaN)).toThrow(/dropout: p/);
      expect(() => dropout(tensor(new Int32Array(2)), 0.5)).toThrow(/dropout.*i32/);
    });
  });

  it('gradchecks with a fixed mask', () => {
    scope(() => {
      const result = gradcheck(
        (x) => dropout(x!, 0.5, { generator: new Generator(7) }),
        [normals([3, 5], 8)],
      );
      expect(result.ok).toBe(true);
    });
  });

  it('leaks nothing forward and backward', () => {
    expectNoLeak(() =>
      scope(() => {
        const x = normals([4, 4], 9);
        x.requiresGrad = true;
        sum(dropout(x, 0.25, { generator: new Generator(1) })).backward();
        sum(dropout(x, 0)).backward();
      }),
    );
  });
});

import { describe, expect, it } from 'vitest';
import { crossEntropy, scope, slice, sum, type Tensor, tensor, transpose } from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectClose, expectNoLeak, normals, normalValues } from './helpers';

function targets(values: number[], shape?: number[]): Tensor {
  return tensor(Int32Array.from(values), { shape: shape ?? [values.length] });
}

/** Per-row -log softmax(row)[target], 0 for ignored rows, from plain loops. */
function naiveLosses(
  logits: ArrayLike<number>,
  labels: number[],
  classes: number,
  ignoreIndex = -100,
): number[] {
  return labels.map((label, row) => {
    if (label === ignoreIndex) return 0;
    const values = Array.from({ length: classes }, (_, c) => logits[row * classes + c]!);
    const top = Math.max(...values);
    const logTotal = Math.log(values.reduce((acc, v) => acc + Math.exp(v - top), 0)) + top;
    return logTotal - values[label]!;
  });
}

describe('crossEntropy', () => {
  it('matches a hand-written loss for every reduction, ignoring -100', () => {
    scope(() => {
      const logits = normals([2, 3, 5], 1);
      const labels = [4, -100, 0, 2, 2, -100];
      const t = targets(labels, [2, 3]);
      const losses = naiveLosses(logits.dataSync(), labels, 5);
      const total = losses.reduce((a, b) => a + b, 0);
      expectClose(crossEntropy(logits, t, { reduction: 'none' }).dataSync(), losses, {
        rtol: 1e-14,
        atol: 1e-14,
      });
      expect(crossEntropy(logits, t, { reduction: 'none' }).shape).toEqual([2, 3]);
      expectClose([crossEntropy(logits, t, { reduction: 'sum' }).item()], [total], {
        rtol: 1e-14,
        atol: 1e-14,
      });
      const mean = crossEntropy(logits, t);
      expect(mean.shape).toEqual([]);
      expectClose([mean.item()], [total / 4], { rtol: 1e-14, atol: 1e-14 });
    });
  });

  it('takes another ignoreIndex, inside the class range', () => {
    scope(() => {
      const logits = normals([4, 3], 2);
      const labels = [0, 1, 2, 0];
      const losses = naiveLosses(logits.dataSync(), labels, 3, 0);
      expectClose(
        [crossEntropy(logits, targets(labels), { ignoreIndex: 0 }).item()],
        [(losses[1]! + losses[2]!) / 2],
        { rtol: 1e-14, atol: 1e-14 },
      );
    });
  });

  it('gives NaN for a mean over nothing, as PyTorch does, and 0 for a sum', () => {
    scope(() => {
      const logits = normals([2, 3], 3);
      const ignored = targets([-100, -100]);
      expect(crossEntropy(logits, ignored).item()).toBeNaN();
      expect(crossEntropy(logits, ignored, { reduction: 'sum' }).item()).toBe(0);
      expect(Array.from(crossEntropy(logits, ignored, { reduction: 'none' }).dataSync())).toEqual([
        0, 0,
      ]);
      expect(crossEntropy(normals([0, 4], 4), targets([])).item()).toBeNaN();
    });
  });

  it('stays finite for huge logits', () => {
    scope(() => {
      const logits = tensor(
        [
          [1000, -1000, 999],
          [-5000, 5000, 5000],
        ],
        { dtype: 'f32' },
      );
      const losses = crossEntropy(logits, targets([0, 1]), { reduction: 'none' }).dataSync();
      expectClose(losses, [Math.log(1 + Math.exp(-1)), Math.log(2)], { rtol: 1e-6, atol: 1e-6 });
    });
  });

  it('reads strided logits and a single row', () => {
    scope(() => {
      const base = normals([6, 4], 5);
      const logits = transpose(base);
      const labels = [5, 0, 3, 1];
      const dense = Float64Array.from(logits.dataSync());
      expectClose(
        crossEntropy(logits, targets(labels), { reduction: 'none' }).dataSync(),
        naiveLosses(dense, labels, 6),
        { rtol: 1e-14, atol: 1e-14 },
      );
      const row = slice(base, [2], [3]);
      const one = crossEntropy(tensor(Float64Array.from(row.dataSync())), targets([1], []));
      expectClose([one.item()], naiveLosses(row.dataSync(), [1], 4), { rtol: 1e-14, atol: 1e-14 });
    });
  });

  it('gives f16 results within f16 rounding of f32', () => {
    scope(() => {
      const values = normalValues(3 * 4 * 11, 6, 3);
      const labels = targets([0, 10, 5, -100, 3, 3, 7, 1, 2, 9, 4, 6], [3, 4]);
      const l32 = crossEntropy(tensor(values, { shape: [3, 4, 11] }), labels, {
        reduction: 'none',
      });
      const l16 = crossEntropy(tensor(values, { shape: [3, 4, 11], dtype: 'f16' }), labels, {
        reduction: 'none',
      });
      expect(l16.dtype).toBe('f16');
      expectClose(l16.dataSync(), l32.dataSync(), { rtol: 5e-3, atol: 5e-3 });
    });
  });

  it('names the bad target, the class count and the shapes in its errors', () => {
    scope(() => {
      const logits = normals([3, 5], 7);
      expect(() => crossEntropy(logits, targets([0, 5, 1]))).toThrow(
        /crossEntropy: target 5 at position 1 is out of range for 5 classes/,
      );
      expect(() => crossEntropy(logits, targets([0, -1, 1]))).toThrow(
        /crossEntropy: target -1 .*5 classes/,
      );
      expect(() => crossEntropy(logits, targets([0, 1]))).toThrow(
        /crossEntropy: targets \[2\] .*logits \[3, 5\]/,
      );
      expect(() => crossEntropy(logits, tensor([0, 1, 2]))).toThrow(
        /crossEntropy: targets must be i32.*f32/,
      );
      expect(() =>
        crossEntropy(tensor(new Int32Array(15), { shape: [3, 5] }), targets([0, 1, 2])),
      ).toThrow(/crossEntropy.*float.*i32/);
      expect(() => crossEntropy(logits, targets([0, 1, 2]), { reduction: 'max' as 'sum' })).toThrow(
        /crossEntropy: reduction/,
      );
    });
  });

  it('gradchecks the logits for every reduction with ignored positions', () => {
    scope(() => {
      const t = targets([2, -100, 0, 3, -100, 1], [2, 3]);
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        const result = gradcheck(
          (logits) => crossEntropy(logits!, t, { reduction }),
          [normals([2, 3, 4], 8)],
        );
        expect(result.ok).toBe(true);
        expect(result.checked).toBe(24);
      }
      const strided = gradcheck(
        (x) => crossEntropy(transpose(x!), targets([0, 2, 1])),
        [normals([3, 3], 9)],
      );
      expect(strided.ok).toBe(true);
    });
  });

  it('leaks nothing forward and backward', () => {
    expectNoLeak(() =>
      scope(() => {
        const logits = normals([4, 6], 10);
        logits.requiresGrad = true;
        crossEntropy(logits, targets([1, -100, 5, 0])).backward();
        const g = logits.grad!.dataSync();
        // Each counted row's gradient sums to zero; the ignored row's is zero.
        expect(Math.abs(Array.from(g.slice(0, 6)).reduce((a, b) => a + b, 0))).toBeLessThan(1e-15);
        expect(Array.from(g.slice(6, 12))).toEqual([0, 0, 0, 0, 0, 0]);
        expect(sum(logits.grad!).item()).toBeCloseTo(0, 14);
      }),
    );
  });
});

import '@slimlm/kernels-cpu';
import { SlimlmError, type Tensor, tensor } from '@slimlm/core';
import { describe, expect, test } from 'vitest';
import { AdamW } from '../src/index';

const vector = (values: number[], dtype: 'f32' | 'f64', backend: string) =>
  tensor(values, { dtype, backend });

function run(
  dtype: 'f32' | 'f64',
  backend: string,
  options: ConstructorParameters<typeof AdamW>[1],
  gradients: number[][],
) {
  const p = vector([1, -2], dtype, backend);
  const optimizer = new AdamW(new Map([['p', p]]), options);
  const trajectory: number[][] = [];
  for (const g of gradients) {
    using grad = vector(g, dtype, backend);
    optimizer.step(new Map([['p', grad]]));
    trajectory.push([...p.dataSync()]);
  }
  const { expAvg, expAvgSq } = optimizer.state();
  const moments = [[...expAvg.get('p')!.dataSync()], [...expAvgSq.get('p')!.dataSync()]];
  optimizer.dispose();
  p.dispose();
  return { trajectory, moments };
}

// lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01; p0 = [1, -2]. By hand, step 1:
//   m = 0.1·g, v = 0.001·g², m̂ = g, v̂ = g², so p1 = p0·(1 - 0.1·0.01) - 0.1·g/(|g| + 1e-8):
//   p1[0] = 0.999 - 0.1·0.5/0.50000001 = 0.899000002.
// Step 2, p[0]: m = 0.9·0.05 + 0.1·(-0.3) = 0.015, v = 0.999·0.00025 + 0.001·0.09 = 0.00033975,
//   m̂ = 0.015/0.19, v̂ = 0.00033975/0.001999; p2 = 0.899000002·0.999 - 0.1·m̂/(√v̂ + 1e-8).
// (Values as torch.optim.AdamW's formulas give them, evaluated in float64.)
const OPTIONS = { lr: 0.1, betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 0.01 };
const GRADIENTS = [
  [0.5, 0.1],
  [-0.3, 0.1],
  [0.2, 0.1],
];
const EXPECTED = [
  [0.899000002, -2.09799999],
  [0.8789511989397751, -2.195901980010001],
  [0.8433294795899422, -2.2937060680299917],
];

describe('AdamW', () => {
  test('three steps match the hand-computed values (reference backend, f64)', () => {
    const { trajectory, moments } = run('f64', 'reference', OPTIONS, GRADIENTS);
    trajectory.forEach((p, t) => {
      p.forEach((value, i) => {
        expect(value).toBeCloseTo(EXPECTED[t]![i]!, 13);
      });
    });
    expect(moments[0]![0]).toBeCloseTo(0.0335, 15);
    expect(moments[1]![1]).toBeCloseTo(2.997001e-5, 15);
  });

  test('the same on the cpu backend in f32', () => {
    const { trajectory } = run('f32', 'cpu', OPTIONS, GRADIENTS);
    trajectory.forEach((p, t) => {
      p.forEach((value, i) => {
        expect(Math.abs(value - EXPECTED[t]![i]!)).toBeLessThan(2e-6);
      });
    });
  });

  test('a constant gradient follows the closed form of bias-corrected Adam', () => {
    // With g constant, m̂ = g and v̂ = g² at every step, so p_t = a·p_{t-1} - c with
    // a = 1 - lr·λ and c = lr·g/(|g| + eps): p_T = a^T·p0 - c·(1 - a^T)/(1 - a).
    const steps = 40;
    const g = 0.1;
    const { trajectory } = run(
      'f64',
      'reference',
      OPTIONS,
      Array.from({ length: steps }, () => [g, g]),
    );
    const a = 1 - OPTIONS.lr * OPTIONS.weightDecay;
    const c = (OPTIONS.lr * g) / (g + OPTIONS.eps);
    const expected = (p0: number) => a ** steps * p0 - (c * (1 - a ** steps)) / (1 - a);
    expect(trajectory[steps - 1]![0]).toBeCloseTo(expected(1), 12);
    expect(trajectory[steps - 1]![1]).toBeCloseTo(expected(-2), 12);
  });

  test('weight decay is decoupled and skips parameters that do not decay', () => {
    // A zero gradient leaves Adam's term at 0 (m = 0), so only decay moves the weight.
    const decaying = vector([2], 'f64', 'reference');
    const fixed = vector([2], 'f64', 'reference');
    const optimizer = new AdamW(
      new Map<string, Tensor>([
        ['decaying', decaying],
        ['fixed', fixed],
      ]),
      { lr: 0.5, weightDecay: 0.1, decays: (name) => name === 'decaying' },
    );
    using zero = vector([0], 'f64', 'reference');
    optimizer.step(
      new Map([
        ['decaying', zero],
        ['fixed', zero],
      ]),
    );
    optimizer.step(
      new Map([
        ['decaying', zero],
        ['fixed', zero],
      ]),
      0.25,
    );
    expect(decaying.item()).toBeCloseTo(2 * (1 - 0.05) * (1 - 0.025), 15);
    expect(fixed.item()).toBe(2);
    expect(optimizer.steps).toBe(2);
    optimizer.dispose();
    decaying.dispose();
    fixed.dispose();
  });

  test('state round-trips and bad settings are named', () => {
    const p = vector([1, -2], 'f64', 'reference');
    const q = vector([1, -2], 'f64', 'reference');
    const first = new AdamW(new Map([['p', p]]), OPTIONS);
    const second = new AdamW(new Map([['p', q]]), OPTIONS);
    using g1 = vector(GRADIENTS[0]!, 'f64', 'reference');
    using g2 = vector(GRADIENTS[1]!, 'f64', 'reference');
    first.step(new Map([['p', g1]]));
    // q takes the same first step by loading first's state and value, then both take step 2.
    second.step(new Map([['p', g1]]));
    second.loadState(first.state());
    first.step(new Map([['p', g2]]));
    second.step(new Map([['p', g2]]));
    expect([...q.dataSync()]).toEqual([...p.dataSync()]);
    expect(() => new AdamW(new Map([['p', p]]), { betas: [1, 0.999] })).toThrow(
      /beta1 must be in \[0, 1\)/,
    );
    expect(() => first.step(new Map())).toThrow(SlimlmError);
    expect(() => first.step(new Map())).toThrow(/no gradient for parameter 'p'/);
    for (const t of [first, second, p, q]) t.dispose();
  });
});

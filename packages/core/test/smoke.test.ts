import { describe, expect, it } from 'vitest';
import { add, mul, scope, sum, tensor, transpose } from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectNoLeak } from './helpers';

describe('smoke', () => {
  it('adds with broadcasting and backpropagates', () => {
    expectNoLeak(() =>
      scope(() => {
        const a = tensor([
          [1, 2, 3],
          [4, 5, 6],
        ]);
        const b = tensor([10, 20, 30]);
        const c = add(a, b);
        expect(c.toArray()).toEqual([
          [11, 22, 33],
          [14, 25, 36],
        ]);
        a.requiresGrad = true;
        b.requiresGrad = true;
        const loss = sum(
          mul(
            add(a, b),
            transpose(
              tensor([
                [1, 2],
                [3, 4],
                [5, 6],
              ]),
            ),
          ),
        );
        loss.backward();
        expect(a.grad!.toArray()).toEqual([
          [1, 3, 5],
          [2, 4, 6],
        ]);
        expect(b.grad!.toArray()).toEqual([3, 7, 11]);
      }),
    );
  });

  it('gradchecks mul with broadcasting', () => {
    const x = tensor(new Float64Array([0.3, -1.2, 2.5, 0.7, 1.1, -0.4]), { shape: [2, 3] });
    const y = tensor(new Float64Array([0.5, 2, -3]), { shape: [3] });
    const r = gradcheck((a, b) => mul(a!, b!), [x, y]);
    expect(r.ok).toBe(true);
    expect(r.checked).toBe(9);
  });
});

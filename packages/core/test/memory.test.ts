import { describe, expect, it } from 'vitest';
import {
  add,
  keep,
  memory,
  mul,
  resetPeakBytes,
  reshape,
  scope,
  slice,
  sum,
  type Tensor,
  tensor,
  transpose,
  zeros,
} from '../src/index';
import { errorOf } from './helpers';

const live = () => memory('reference');

describe('memory counters', () => {
  it('counts live tensors and bytes per backend', () => {
    const before = live();
    const a = zeros([2, 3]);
    const b = zeros([5], { dtype: 'f64' });
    const c = zeros([4], { dtype: 'f16' });
    expect(live().tensors).toBe(before.tensors + 3);
    expect(live().bytes).toBe(before.bytes + 24 + 40 + 8);
    expect(memory().tensors).toBeGreaterThanOrEqual(live().tensors);
    for (const t of [a, b, c]) t.dispose();
    expect(live().tensors).toBe(before.tensors);
    expect(live().bytes).toBe(before.bytes);
  });

  it('tracks the peak until it is reset', () => {
    resetPeakBytes('reference');
    const start = live();
    expect(start.peakBytes).toBe(start.bytes);
    const big = zeros([1000], { dtype: 'f64' });
    big.dispose();
    expect(live().bytes).toBe(start.bytes);
    expect(live().peakBytes).toBe(start.bytes + 8000);
    resetPeakBytes();
    expect(live().peakBytes).toBe(start.bytes);
  });

  it('makes dispose idempotent', () => {
    const before = live();
    const t = zeros([3]);
    t.dispose();
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(String(t)).toMatch(/disposed/);
    expect(live().tensors).toBe(before.tensors);
    expect(live().bytes).toBe(before.bytes);
  });

  it('frees a tensor bound with `using` at the end of its block', () => {
    const before = live().tensors;
    let escaped: Tensor | undefined;
    {
      using t = zeros([4]);
      escaped = t;
      expect(live().tensors).toBe(before + 1);
    }
    expect(escaped.isDisposed).toBe(true);
    expect(live().tensors).toBe(before);
  });

  it('keeps shared storage alive until its last view is disposed', () => {
    const before = live();
    const x = zeros([100]);
    const view = slice(x, [10], [20]);
    const square = reshape(x, [10, 10]);
    const transposed = transpose(square);
    square.dispose();
    expect(live().bytes).toBe(before.bytes + 400);
    x.dispose();
    expect(live().tensors).toBe(before.tensors + 2);
    expect(live().bytes).toBe(before.bytes + 400);
    expect(Array.from(view.dataSync())).toEqual(new Array(10).fill(0));
    view.dispose();
    expect(live().bytes).toBe(before.bytes + 400);
    transposed.dispose();
    expect(live().bytes).toBe(before.bytes);
    expect(live().tensors).toBe(before.tensors);
  });
});

describe('scope', () => {
  it('frees intermediates and keeps a returned tensor', () => {
    const before = live().tensors;
    let a: Tensor | undefined;
    const result = scope(() => {
      a = tensor([1, 2]);
      return add(mul(a, 2), 1);
    });
    expect(a!.isDisposed).toBe(true);
    expect(result.isDisposed).toBe(false);
    expect(Array.from(result.dataSync())).toEqual([3, 5]);
    expect(live().tensors).toBe(before + 1);
    result.dispose();
    expect(live().tensors).toBe(before);
  });

  it('keeps tensors returned in arrays, plain objects and Maps', () => {
    const before = live().tensors;
    const result = scope(() => {
      zeros([1]);
      return {
        list: [zeros([1]), [zeros([2])]],
        nested: { deep: { t: zeros([3]) }, label: 'x' },
        map: new Map([['m', zeros([4])]]),
      };
    });
    const kept = [
      result.list[0] as Tensor,
      (result.list[1] as Tensor[])[0]!,
      result.nested.deep.t,
      result.map.get('m')!,
    ];
    expect(kept.every((t) => !t.isDisposed)).toBe(true);
    expect(live().tensors).toBe(before + 4);
    for (const t of kept) t.dispose();
    expect(live().tensors).toBe(before);
  });

  it('moves tensors returned by an inner scope to the outer one', () => {
    const before = live().tensors;
    let inner: Tensor | undefined;
    const outer = scope(() => {
      inner = scope(() => add(zeros([2]), 1));
      expect(inner.isDisposed).toBe(false);
      const fromInner = scope(() => mul(inner!, 3));
      return fromInner;
    });
    // The inner result was not returned by the outer scope, so the outer scope freed it.
    expect(inner!.isDisposed).toBe(true);
    expect(Array.from(outer.dataSync())).toEqual([3, 3]);
    outer.dispose();
    expect(live().tensors).toBe(before);
  });

  it('leaves tensors created outside alone', () => {
    const outside = zeros([2]);
    scope(() => add(outside, 1));
    expect(outside.isDisposed).toBe(false);
    outside.dispose();
  });

  it('lets keep() take a tensor out of every enclosing scope', () => {
    const before = live().tensors;
    let kept: Tensor | undefined;
    scope(() => {
      scope(() => {
        kept = keep(add(zeros([2]), 5));
      });
    });
    expect(kept!.isDisposed).toBe(false);
    expect(Array.from(kept!.dataSync())).toEqual([5, 5]);
    kept!.dispose();
    expect(live().tensors).toBe(before);
  });

  it('frees everything when the function throws', () => {
    const before = live();
    let made: Tensor | undefined;
    expect(() =>
      scope(() => {
        made = zeros([10]);
        add(made, 1);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(made!.isDisposed).toBe(true);
    expect(live().tensors).toBe(before.tensors);
    expect(live().bytes).toBe(before.bytes);
  });

  it('refuses an async function and frees what it made', () => {
    const before = live().tensors;
    let made: Tensor | undefined;
    expect(() =>
      scope(async () => {
        made = zeros([2]);
        return made;
      }),
    ).toThrow(/synchronous/);
    expect(made!.isDisposed).toBe(true);
    expect(live().tensors).toBe(before);
  });
});

describe('disposed tensors', () => {
  it('throw DISPOSED, saying so, when an op or a read uses them', () => {
    const t = tensor([1, 2, 3]);
    const other = tensor([1, 1, 1]);
    t.dispose();
    const inOp = errorOf(() => add(t, other));
    expect(inOp.code).toBe('DISPOSED');
    expect(inOp.message).toMatch(/add.*\[3\] f32 was disposed/);
    const inRead = errorOf(() => t.dataSync());
    expect(inRead.code).toBe('DISPOSED');
    expect(inRead.message).toMatch(/was disposed/);
    expect(errorOf(() => add(other, t)).code).toBe('DISPOSED');
    expect(errorOf(() => reshape(t, [3])).message).toMatch(/reshape.*disposed/);
    expect(errorOf(() => t.toArray()).code).toBe('DISPOSED');
    expect(errorOf(() => t.storage).code).toBe('DISPOSED');
    other.dispose();
  });
});

describe('autograd memory', () => {
  it('returns to the baseline after forward and backward in a scope', () => {
    const before = live();
    scope(() => {
      const x = tensor(Float64Array.from([0.5, -1, 2, 3, 0.25, -0.75]), { shape: [2, 3] });
      const w = tensor(Float64Array.from([1, 2, 3]), { shape: [3] });
      x.requiresGrad = true;
      w.requiresGrad = true;
      const hidden = mul(add(transpose(x), 1), reshape(slice(w, [0], [2]), [1, 2]));
      const loss = sum(mul(hidden, hidden));
      loss.backward();
      expect(x.grad!.shape).toEqual([2, 3]);
      expect(w.grad!.shape).toEqual([3]);
    });
    expect(live().tensors).toBe(before.tensors);
    expect(live().bytes).toBe(before.bytes);
  });

  it('frees the graph once its outputs are disposed without backward', () => {
    const x = tensor(Float64Array.from([1, 2, 3]));
    x.requiresGrad = true;
    const before = live();
    const y = mul(x, x);
    const z = sum(y);
    expect(live().tensors).toBeGreaterThan(before.tensors + 2);
    y.dispose();
    // z's node still holds y's saved alias, so backward through it keeps working.
    expect(live().tensors).toBeGreaterThan(before.tensors + 1);
    z.dispose();
    expect(live().tensors).toBe(before.tensors);
    expect(live().bytes).toBe(before.bytes);
    x.dispose();
  });

  it('keeps the graph alive through a disposed intermediate until backward', () => {
    const x = tensor(Float64Array.from([1, 2, 3]));
    x.requiresGrad = true;
    const before = live();
    const y = mul(x, x);
    const z = sum(y);
    y.dispose();
    z.backward();
    expect(Array.from(x.grad!.dataSync())).toEqual([2, 4, 6]);
    z.dispose();
    x.grad!.dispose();
    x.grad = null;
    expect(live().tensors).toBe(before.tensors);
    expect(live().bytes).toBe(before.bytes);
    x.dispose();
  });
});

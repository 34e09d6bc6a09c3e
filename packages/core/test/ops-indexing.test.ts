import { describe, expect, it } from 'vitest';
import {
  broadcastTo,
  cast,
  concat,
  embedding,
  gather,
  mul,
  scatterAdd,
  scope,
  slice,
  stack,
  sum,
  type Tensor,
  tensor,
  transpose,
} from '../src/index';
import { gradcheck } from '../src/testing/index';
import { expectNoLeak, normals } from './helpers';

function ids(values: number[], shape: number[] = [values.length]): Tensor {
  return tensor(new Int32Array(values), { shape });
}

/** numpy's take along `axis` on row-major values, in plain loops. */
function naiveTake(
  values: ArrayLike<number>,
  shape: number[],
  picks: number[],
  axis: number,
): number[] {
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const dim = shape[axis]!;
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const p of picks) {
      for (let j = 0; j < inner; j++) out.push(values[(o * dim + p) * inner + j]!);
    }
  }
  return out;
}

describe('concat and stack', () => {
  it('joins along each axis like plain loops', () => {
    scope(() => {
      const parts = [normals([2, 3, 4], 1), normals([2, 3, 4], 2)];
      const [a, b] = parts.map((t) => t.toArray() as number[][][]);
      expect(concat(parts, 0).toArray()).toEqual([...a!, ...b!]);
      expect(concat(parts, 1).toArray()).toEqual(a!.map((row, i) => [...row, ...b![i]!]));
      expect(concat(parts, -1).toArray()).toEqual(
        a!.map((m, i) => m.map((row, j) => [...row, ...b![i]![j]!])),
      );
    });
  });

  it('joins different lengths, empty parts and non-contiguous views', () => {
    scope(() => {
      const a = transpose(normals([4, 3], 3));
      const b = tensor(new Float64Array(0), { shape: [3, 0] });
      const c = slice(normals([3, 9], 4), [0, 2], [3, 7]);
      const y = concat([a, b, c], 1);
      expect(y.shape).toEqual([3, 9]);
      const rows = [a, c].map((t) => t.toArray() as number[][]);
      expect(y.toArray()).toEqual(rows[0]!.map((row, i) => [...row, ...rows[1]![i]!]));
      expect(concat([normals([2, 2], 5)]).toArray()).toEqual(normals([2, 2], 5).toArray());
    });
  });

  it('copies halves and integers exactly', () => {
    scope(() => {
      const halves = cast(normals([2, 3], 6), 'f16');
      expect(Array.from(concat([halves, halves], 0).rawSync())).toEqual([
        ...halves.rawSync(),
        ...halves.rawSync(),
      ]);
      expect(concat([ids([1, 2]), ids([3])]).toArray()).toEqual([1, 2, 3]);
    });
  });

  it('stacks along a new axis', () => {
    scope(() => {
      const a = normals([2, 3], 7);
      const b = normals([2, 3], 8);
      const [av, bv] = [a.toArray() as number[][], b.toArray() as number[][]];
      expect(stack([a, b]).toArray()).toEqual([av, bv]);
      expect(stack([a, b], 1).toArray()).toEqual(av.map((row, i) => [row, bv[i]!]));
      expect(stack([a, b], -1).toArray()).toEqual(
        av.map((row, i) => row.map((v, j) => [v, bv[i]![j]!])),
      );
    });
  });

  it('names shapes and dtypes in its errors', () => {
    scope(() => {
      expect(() => concat([normals([2, 3], 1), normals([3, 3], 2)], 1)).toThrow(
        /concat: shapes \[2, 3\] and \[3, 3\] differ outside axis 1/,
      );
      expect(() => concat([normals([2, 3], 1), normals([2, 3, 1], 2)])).toThrow(
        /concat: shapes \[2, 3\] and \[2, 3, 1\]/,
      );
      expect(() => concat([normals([2], 1), tensor([1])])).toThrow(
        /concat: dtypes f64 and f32 differ/,
      );
      expect(() => concat([])).toThrow(/concat: needs at least one tensor/);
      expect(() => concat([normals([2], 1)], 1)).toThrow(/concat: axis 1 is out of range/);
      expect(() => stack([normals([2], 1), tensor([1, 2])])).toThrow(
        /stack: dtypes f64 and f32 differ/,
      );
      expect(() => stack([normals([2, 3], 1), normals([3, 2], 2)])).toThrow(
        /stack: shapes \[2, 3\] and \[3, 2\] differ/,
      );
    });
  });
});

describe('gather and embedding', () => {
  it('takes along axis 0 and inner axes with any indices shape', () => {
    scope(() => {
      const x = normals([5, 4, 3], 10);
      const rows = gather(x, ids([4, 0, 4]));
      expect(rows.shape).toEqual([3, 4, 3]);
      expect(Array.from(rows.dataSync())).toEqual(naiveTake(x.dataSync(), [5, 4, 3], [4, 0, 4], 0));
      const picks = ids([3, 1, 0, 3, 2, 2], [2, 3]);
      const middle = gather(x, picks, 1);
      expect(middle.shape).toEqual([5, 2, 3, 3]);
      expect(Array.from(middle.dataSync())).toEqual(
        naiveTake(x.dataSync(), [5, 4, 3], [3, 1, 0, 3, 2, 2], 1),
      );
      const last = gather(x, ids([2], []), -1);
      expect(last.shape).toEqual([5, 4]);
      expect(Array.from(last.dataSync())).toEqual(naiveTake(x.dataSync(), [5, 4, 3], [2], 2));
    });
  });

  it('reads non-contiguous values and indices, and empty indices', () => {
    scope(() => {
      const view = transpose(normals([4, 6], 11));
      const dense = tensor(Float64Array.from(view.dataSync()), { shape: view.shape });
      const strided = transpose(ids([3, 1, 0, 2, 2, 3], [2, 3]));
      const picks = broadcastTo(ids([2, 0]), [3, 2]);
      expect(gather(view, picks).dataSync()).toEqual(
        gather(dense, ids([2, 0, 2, 0, 2, 0], [3, 2])).dataSync(),
      );
      expect(gather(view, strided, 1).dataSync()).toEqual(
        gather(dense, ids([3, 2, 1, 2, 0, 3], [3, 2]), 1).dataSync(),
      );
      expect(gather(dense, ids([]), 1).shape).toEqual([6, 0]);
    });
  });

  it('looks up embedding rows, for halves exactly', () => {
    scope(() => {
      const table = normals([10, 4], 12);
      const tokens = ids([7, 0, 7, 9], [2, 2]);
      const rows = embedding(table, tokens);
      expect(rows.shape).toEqual([2, 2, 4]);
      expect(Array.from(rows.dataSync())).toEqual(
        naiveTake(table.dataSync(), [10, 4], [7, 0, 7, 9], 0),
      );
      const halves = cast(table, 'f16');
      expect(embedding(halves, tokens).dataSync()).toEqual(cast(rows, 'f16').dataSync());
    });
  });

  it('refuses bad indices, naming the index and the dim', () => {
    scope(() => {
      const x = normals([3, 4], 13);
      expect(() => gather(x, ids([0, -1]))).toThrow(/gather: index -1 .*negative/);
      expect(() => gather(x, ids([1, 4]), 1)).toThrow(/gather: index 4 .*axis 1 of size 4/);
      expect(() => gather(x, tensor([0, 1]))).toThrow(/gather: indices must be i32, got f32/);
      expect(() => embedding(normals([3], 1), ids([0]))).toThrow(
        /embedding: weight must be \[vocab, dim\], got \[3\]/,
      );
    });
  });
});

describe('scatterAdd', () => {
  it('adds updates at indices, accumulating repeats', () => {
    scope(() => {
      const target = tensor(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        { dtype: 'f64' },
      );
      const updates = tensor(
        [
          [10, 20, 30, 40],
          [50, 60, 70, 80],
        ],
        { dtype: 'f64' },
      );
      const y = scatterAdd(target, ids([2, 0, 2, 2]), updates, 1);
      expect(y.toArray()).toEqual([
        [21, 2, 83],
        [64, 5, 206],
      ]);
      expect(target.toArray()).toEqual([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      const rows = scatterAdd(
        tensor(
          [
            [0, 0],
            [0, 0],
          ],
          { dtype: 'i32' },
        ),
        ids([1, 1]),
        tensor(
          [
            [1, 2],
            [3, 4],
          ],
          { dtype: 'i32' },
        ),
      );
      expect(rows.toArray()).toEqual([
        [0, 0],
        [4, 6],
      ]);
    });
  });

  it('names shapes and bad indices in its errors', () => {
    scope(() => {
      const target = normals([2, 3], 14);
      expect(() => scatterAdd(target, ids([0, 1]), normals([2, 3], 1), 1)).toThrow(
        /scatterAdd: updates \[2, 3\] .*\[2, 3\].*\[2\].*expected \[2, 2\]/,
      );
      expect(() => scatterAdd(target, ids([3]), normals([2, 1], 1), 1)).toThrow(
        /scatterAdd: index 3 .*size 3/,
      );
      expect(() => scatterAdd(target, ids([0]), tensor([[1, 2, 3]]))).toThrow(
        /scatterAdd: dtypes f64 and f32 differ/,
      );
    });
  });
});

describe('f16 inputs', () => {
  it('stay within f16 tolerance of f32', () => {
    scope(() => {
      const x32 = cast(normals([4, 5], 15), 'f32');
      const u32 = cast(normals([3, 5], 16), 'f32');
      const picks = ids([1, 1, 3]);
      const half = scatterAdd(cast(x32, 'f16'), picks, cast(u32, 'f16'));
      expect(half.dtype).toBe('f16');
      const reference = scatterAdd(x32, picks, u32).dataSync();
      const actual = half.dataSync();
      for (let i = 0; i < reference.length; i++) {
        expect(Math.abs(actual[i]! - reference[i]!)).toBeLessThan(
          1e-2 * (1 + Math.abs(reference[i]!)),
        );
      }
      expect(gather(cast(x32, 'f16'), picks).dataSync()).toEqual(
        cast(gather(x32, picks), 'f16').dataSync(),
      );
    });
  });
});

describe('indexing gradients', () => {
  it('gradchecks concat and stack, views included', () => {
    const a = normals([2, 3], 20);
    const b = normals([2, 1], 21);
    const c = normals([3, 2], 22);
    expect(gradcheck((x, y, z) => concat([x!, y!, transpose(z!)], 1), [a, b, c]).ok).toBe(true);
    expect(gradcheck((x, y) => stack([x!, y!], 1), [a, normals([2, 3], 23)]).ok).toBe(true);
    expect(gradcheck((x) => concat([x!, x!], 0), [a]).ok).toBe(true);
  });

  it('gradchecks gather and embedding with repeated indices', () => {
    const picks = ids([2, 0, 2, 2], [2, 2]);
    expect(gradcheck((x, i) => gather(x!, i!, 1), [normals([2, 3, 2], 24), picks]).ok).toBe(true);
    expect(gradcheck((w, i) => embedding(w!, i!), [normals([4, 3], 25), picks]).ok).toBe(true);
  });

  it('gradchecks scatterAdd for target and updates', () => {
    const picks = ids([1, 0, 1]);
    expect(
      gradcheck(
        (t, i, u) => scatterAdd(t!, i!, u!, 1),
        [normals([2, 3], 26), picks, normals([2, 3], 27)],
      ).ok,
    ).toBe(true);
  });

  it('leaks nothing forward and backward', () => {
    expectNoLeak(() =>
      scope(() => {
        const table = normals([6, 3], 28);
        const extra = normals([2, 3], 29);
        table.requiresGrad = true;
        extra.requiresGrad = true;
        const rows = concat([embedding(table, ids([5, 1, 5])), extra]);
        const joined = stack([rows, rows], 1);
        sum(mul(scatterAdd(table, ids([0, 2]), slice(rows, [0], [2])), 2)).backward();
        expect(table.grad!.shape).toEqual([6, 3]);
        expect(joined.shape).toEqual([5, 2, 3]);
      }),
    );
  });
});

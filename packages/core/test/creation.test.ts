import { describe, expect, it } from 'vitest';
import {
  arange,
  full,
  fullLike,
  ones,
  onesLike,
  scope,
  tensor,
  toBackend,
  toF16Bits,
  zeros,
  zerosLike,
} from '../src/index';
import { errorOf, trackLeaks } from './helpers';

trackLeaks({ bytes: true });

describe('tensor()', () => {
  it('infers the shape of nested arrays, and a number is a 0-d tensor', () => {
    scope(() => {
      const t = tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      expect(t.shape).toEqual([2, 3]);
      expect(t.dtype).toBe('f32');
      expect(t.toArray()).toEqual([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      const scalar = tensor(7.5);
      expect(scalar.shape).toEqual([]);
      expect(scalar.item()).toBe(7.5);
      expect(tensor([]).shape).toEqual([0]);
      expect(tensor([[], []]).shape).toEqual([2, 0]);
    });
  });

  it('refuses ragged nested arrays', () => {
    const error = errorOf(() => tensor([[1, 2], [3]]));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/tensor: .*ragged/);
  });

  it('takes the dtype of a typed array, and a shape that must fit its length', () => {
    scope(() => {
      expect(tensor(new Float64Array([1, 2])).dtype).toBe('f64');
      expect(tensor(new Int32Array([1, 2])).dtype).toBe('i32');
      expect(tensor(new Int8Array([-1])).dtype).toBe('i8');
      expect(tensor(new Uint8Array([255])).dtype).toBe('u8');
      const m = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), { shape: [3, 2] });
      expect(m.toArray()).toEqual([
        [1, 2],
        [3, 4],
        [5, 6],
      ]);
    });
    const misfit = errorOf(() => tensor(new Float32Array(5), { shape: [2, 3] }));
    expect(misfit.code).toBe('SHAPE_MISMATCH');
    expect(misfit.message).toMatch(/5 values .*\[2, 3\].*6 elements/);
    const badShape = errorOf(() => tensor(new Float32Array(2), { shape: [-1, -2] }));
    expect(badShape.message).toMatch(/tensor: shape \[-1, -2\] must hold non-negative integers/);
  });

  it('reads a Uint16Array as raw half bits, and needs a dtype to do so', () => {
    scope(() => {
      const bits = new Uint16Array([toF16Bits(1.5), 0x7c00]);
      const half = tensor(bits, { dtype: 'f16' });
      expect(Array.from(half.dataSync())).toEqual([1.5, Number.POSITIVE_INFINITY]);
      expect(Array.from(half.rawSync())).toEqual([0x3e00, 0x7c00]);
    });
    expect(errorOf(() => tensor(new Uint16Array(2))).message).toMatch(
      /Uint16Array needs an explicit dtype/,
    );
  });

  it('converts values to the asked dtype: halves round to nearest even, integers truncate', () => {
    scope(() => {
      expect(Array.from(tensor([1 + 2 ** -11, 65520], { dtype: 'f16' }).dataSync())).toEqual([
        1,
        Number.POSITIVE_INFINITY,
      ]);
      expect(Array.from(tensor([2.9, -2.9, 2 ** 31], { dtype: 'i32' }).dataSync())).toEqual([
        2,
        -2,
        -(2 ** 31),
      ]);
      expect(Array.from(tensor(new Float32Array([1.7, 300]), { dtype: 'u8' }).dataSync())).toEqual([
        1, 44,
      ]);
    });
  });
});

describe('full, zeros, ones and the *Like family', () => {
  it('fills any shape and dtype, empty ones too', () => {
    scope(() => {
      expect(full([2, 2], 3.25).toArray()).toEqual([
        [3.25, 3.25],
        [3.25, 3.25],
      ]);
      expect(Array.from(zeros([3], { dtype: 'i32' }).dataSync())).toEqual([0, 0, 0]);
      expect(Array.from(ones([2], { dtype: 'bf16' }).rawSync())).toEqual([0x3f80, 0x3f80]);
      expect(full([2, 0, 3], 1).size).toBe(0);
      expect(full([], -1, { dtype: 'i8' }).item()).toBe(-1);
    });
    expect(errorOf(() => zeros([2, 1.5])).message).toMatch(/full: shape \[2, 1.5\]/);
  });

  it('copies shape, dtype and backend from the model tensor unless told otherwise', () => {
    scope(() => {
      const model = tensor([[1, 2, 3]], { dtype: 'f16' });
      const z = zerosLike(model);
      expect([z.shape, z.dtype, z.backend.name]).toEqual([[1, 3], 'f16', 'reference']);
      expect(Array.from(onesLike(model, { dtype: 'i32' }).dataSync())).toEqual([1, 1, 1]);
      expect(Array.from(fullLike(model, 0.5).dataSync())).toEqual([0.5, 0.5, 0.5]);
    });
  });
});

describe('arange', () => {
  it('counts up from 0, between bounds, by steps and backwards', () => {
    scope(() => {
      expect(Array.from(arange(4).dataSync())).toEqual([0, 1, 2, 3]);
      expect(Array.from(arange(2, 5).dataSync())).toEqual([2, 3, 4]);
      expect(Array.from(arange(0, 1, 0.25).dataSync())).toEqual([0, 0.25, 0.5, 0.75]);
      expect(Array.from(arange(3, 0, -1, { dtype: 'i32' }).dataSync())).toEqual([3, 2, 1]);
      expect(arange(5, 5).shape).toEqual([0]);
      expect(arange(5, 1).shape).toEqual([0]);
    });
  });

  it('refuses a zero or non-finite step', () => {
    expect(errorOf(() => arange(0, 3, 0)).message).toMatch(
      /arange: step must be a non-zero number, got 0/,
    );
    expect(errorOf(() => arange(0, 3, Number.NaN)).code).toBe('INVALID_ARGUMENT');
  });
});

describe('toBackend', () => {
  it('copies the values of a view into a new contiguous leaf', () => {
    scope(() => {
      const x = tensor([
        [1, 2],
        [3, 4],
      ]);
      x.requiresGrad = true;
      const moved = toBackend(x, 'reference');
      expect(moved).not.toBe(x);
      expect(moved.requiresGrad).toBe(false);
      expect(moved.toArray()).toEqual(x.toArray());
    });
  });
});

import { describe, expect, it } from 'vitest';
import {
  defaultGenerator,
  Generator,
  manualSeed,
  rand,
  randn,
  SlimlmError,
  scope,
  toBf16Bits,
} from '../src/index';

/** Sets the four xoshiro128** state words, which the public API derives from a seed. */
function withState(state: [number, number, number, number]): Generator {
  const g = new Generator();
  Object.assign(g, { s0: state[0], s1: state[1], s2: state[2], s3: state[3] });
  return g;
}

function draw(count: number, next: () => number): number[] {
  return Array.from({ length: count }, next);
}

function meanAndVariance(values: readonly number[]): { mean: number; variance: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  return { mean, variance };
}

describe('Generator', () => {
  it('is xoshiro128**: matches the reference implementation on known states', () => {
    // First output of state [1, 2, 3, 4]: rotl(2 * 5, 7) * 9 = 1280 * 9.
    expect(withState([1, 2, 3, 4]).nextUint32()).toBe(11520);
    const g = withState([0x964d4a0c, 0xd40ab895, 0xad7fdecb, 0x3006f0f0]);
    expect(draw(4, () => g.nextUint32())).toEqual([0xf1391922, 0x6fe53806, 0xa5be2840, 0xf510ee70]);
  });

  it('repeats its sequence for the same seed and differs across seeds', () => {
    const a = new Generator(1234);
    const b = new Generator(1234);
    const c = new Generator(1235);
    const fromA = draw(1000, () => a.nextUint32());
    expect(draw(1000, () => b.nextUint32())).toEqual(fromA);
    const fromC = draw(1000, () => c.nextUint32());
    expect(fromC.filter((v, i) => v === fromA[i]).length).toBeLessThan(3);
    a.seed(1234);
    expect(draw(1000, () => a.nextUint32())).toEqual(fromA);
  });

  it('forgets a spare normal when reseeded', () => {
    const g = new Generator(7);
    const first = draw(3, () => g.nextNormal());
    g.seed(7);
    expect(draw(3, () => g.nextNormal())).toEqual(first);
  });

  it('draws uniform floats in [0, 1) with mean 1/2 and variance 1/12', () => {
    const g = new Generator(99);
    const values = draw(100_000, () => g.nextFloat());
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    const { mean, variance } = meanAndVariance(values);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.002);
    const buckets = new Array(10).fill(0);
    for (const v of values) buckets[Math.floor(v * 10)]++;
    expect(buckets.every((n) => Math.abs(n - 10_000) < 500)).toBe(true);
  });

  it('draws standard normals with mean 0 and variance 1', () => {
    const g = new Generator(2024);
    const values = draw(100_000, () => g.nextNormal());
    const { mean, variance } = meanAndVariance(values);
    // Standard errors are 0.003 for the mean and 0.0045 for the variance.
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(Math.abs(variance - 1)).toBeLessThan(0.025);
    const withinOne = values.filter((v) => Math.abs(v) < 1).length / values.length;
    expect(Math.abs(withinOne - 0.6827)).toBeLessThan(0.01);
  });
});

describe('random tensors', () => {
  it('draw the same values from generators with the same seed', () => {
    scope(() => {
      const a = randn([3, 4], { generator: new Generator(5), dtype: 'f64' });
      const b = randn([3, 4], { generator: new Generator(5), dtype: 'f64' });
      const c = randn([3, 4], { generator: new Generator(6), dtype: 'f64' });
      expect(a.shape).toEqual([3, 4]);
      expect(a.dtype).toBe('f64');
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      expect(Array.from(c.dataSync())).not.toEqual(Array.from(a.dataSync()));
      const reference = new Generator(5);
      expect(Array.from(a.dataSync())).toEqual(draw(12, () => reference.nextNormal()));
    });
  });

  it('honour mean, std, low and high, and round to the dtype', () => {
    scope(() => {
      const normal = Array.from(
        randn([20_000], { generator: new Generator(1), mean: 3, std: 0.5 }).dataSync(),
      );
      const stats = meanAndVariance(normal);
      expect(Math.abs(stats.mean - 3)).toBeLessThan(0.02);
      expect(Math.abs(stats.variance - 0.25)).toBeLessThan(0.02);
      const uniform = Array.from(
        rand([20_000], { generator: new Generator(2), low: -2, high: 6 }).dataSync(),
      );
      expect(uniform.every((v) => v >= -2 && v <= 6)).toBe(true);
      expect(Math.abs(meanAndVariance(uniform).mean - 2)).toBeLessThan(0.1);
      const reference = new Generator(3);
      const f32 = rand([8], { generator: new Generator(3) });
      expect(f32.dtype).toBe('f32');
      expect(Array.from(f32.dataSync())).toEqual(draw(8, () => Math.fround(reference.nextFloat())));
      const halves = randn([64], { generator: new Generator(4), dtype: 'bf16' });
      expect(halves.dtype).toBe('bf16');
      const halfReference = new Generator(4);
      expect(Array.from(halves.rawSync())).toEqual(
        draw(64, () => toBf16Bits(halfReference.nextNormal())),
      );
    });
  });

  it('use the default generator, which manualSeed resets', () => {
    scope(() => {
      manualSeed(42);
      const first = Array.from(rand([5]).dataSync());
      const second = Array.from(rand([5]).dataSync());
      expect(second).not.toEqual(first);
      manualSeed(42);
      expect(Array.from(rand([5]).dataSync())).toEqual(first);
      defaultGenerator.seed(42);
      expect(Array.from(rand([5]).dataSync())).toEqual(first);
    });
  });

  it('refuse integer dtypes and handle empty shapes', () => {
    scope(() => {
      expect(() => randn([2], { dtype: 'i32' })).toThrow(SlimlmError);
      expect(() => rand([2], { dtype: 'u8' })).toThrow(/rand.*float dtype.*u8/);
      expect(randn([0, 3]).shape).toEqual([0, 3]);
    });
  });
});

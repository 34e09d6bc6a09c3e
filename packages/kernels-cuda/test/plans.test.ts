import { describe, expect, it } from 'vitest';
import { native } from '../src/addon';

// Launch plans (native/common/plans.h) as the kernels would choose them: each must cover its
// problem exactly and fit the hardware of every target (sm_80: 163 KiB of shared memory a block).
const SHARED_MEMORY_SM80 = 163 * 1024;
const SMS = [108, 132]; // A100, H100

describe.runIf(native !== undefined)('launch plans', () => {
  const addon = native!;

  it('quantMatmul streams the weight for up to 8 rows, 4 columns a thread, splitting K without empty splits', () => {
    for (const multiprocessors of SMS) {
      for (const [n, k] of [
        [4096, 4096],
        [11008, 4096],
        [4096, 11008],
        [64, 32],
        [100, 40],
        [32000, 4096],
        [48, 8],
        [4, 32],
      ] as const) {
        for (const m of [1, 2, 8]) {
          const p = addon.plan('quantMatmul', { m, n, k, multiprocessors });
          expect(p.kernel).toBe('gemv');
          expect(p.columnsPerThread).toBe(4);
          const strip = 32 * p.columnsPerThread;
          expect(p.columnBlocks * strip).toBeGreaterThanOrEqual(n);
          expect((p.columnBlocks - 1) * strip).toBeLessThan(n);
          const kBlocks = Math.ceil(k / 32);
          expect(p.kSplit * p.kBlocksPerSplit).toBeGreaterThanOrEqual(kBlocks);
          expect((p.kSplit - 1) * p.kBlocksPerSplit).toBeLessThan(Math.max(1, kBlocks));
          // Every warp of a block has at least one packed block when K allows it.
          if (kBlocks >= p.warps) expect(p.kBlocksPerSplit).toBeGreaterThanOrEqual(p.warps);
          expect(p.workspaceFloats).toBe(p.kSplit > 1 ? p.kSplit * m * n : 0);
        }
      }
    }
  });

  it('quantMatmul splits K of a decode-sized layer enough to fill the GPU', () => {
    const p = addon.plan('quantMatmul', { m: 1, n: 4096, k: 4096, multiprocessors: 132 });
    expect(p.columnBlocks * p.kSplit).toBeGreaterThanOrEqual(2 * 132);
  });

  it('quantMatmul tiles larger batches with 64 x 64 tiles', () => {
    const p = addon.plan('quantMatmul', { m: 9, n: 4096, k: 4096, multiprocessors: 132 });
    expect(p).toMatchObject({ kernel: 'gemm', tilesM: 1, tilesN: 64, workspaceFloats: 0 });
  });

  it('matmul picks GEMV, tensor cores or SIMT, with tiles that cover the output', () => {
    const cases = [
      [{ m: 1, half: true, layout: true }, 'gemv'],
      [{ m: 8, half: false, layout: false }, 'gemv'],
      [{ m: 9, half: true, layout: true }, 'tensorCore'],
      [{ m: 300, half: true, layout: false }, 'simt'],
      [{ m: 300, half: false, layout: true }, 'simt'],
    ] as const;
    for (const [c, kernel] of cases) {
      const p = addon.plan('matmul', {
        batch: 2,
        m: c.m,
        n: 1000,
        k: 77,
        halfOperands: c.half,
        tensorCoreLayout: c.layout,
      });
      expect(p.kernel).toBe(kernel);
      if (kernel === 'gemv') continue;
      expect(p.tilesM * p.tileM).toBeGreaterThanOrEqual(c.m);
      expect((p.tilesM - 1) * p.tileM).toBeLessThan(c.m);
      expect(p.tilesN * p.tileN).toBeGreaterThanOrEqual(1000);
    }
  });

  it('the tensor-core GEMM asks for shared memory every target has (3 stages of 128 x 32 tiles, padded)', () => {
    const p = addon.plan('matmul', {
      batch: 1,
      m: 4096,
      n: 4096,
      k: 4096,
      halfOperands: true,
      tensorCoreLayout: true,
    });
    expect(p.sharedBytes).toBe(3 * 2 * 128 * 40 * 2);
    expect(p.sharedBytes).toBeLessThanOrEqual(SHARED_MEMORY_SM80);
  });

  it('attention decodes up to 4 queries a block each, and prefills 8 queries a block', () => {
    expect(
      addon.plan('attention', { batch: 2, heads: 32, queries: 1, depth: 128, valueDepth: 128 }),
    ).toMatchObject({
      kernel: 'decode',
      blocks: 64,
    });
    const prefill = addon.plan('attention', {
      batch: 2,
      heads: 32,
      queries: 100,
      depth: 128,
      valueDepth: 128,
    });
    expect(prefill).toMatchObject({ kernel: 'prefill', blocks: 2 * 32 * 13, queriesPerBlock: 8 });
    expect(prefill.sharedBytes).toBe((32 * (129 + 128) + 8 * 128) * 4);
    const widest = addon.plan('attention', {
      batch: 1,
      heads: 1,
      queries: 5,
      depth: 256,
      valueDepth: 256,
    });
    expect(widest.maxDepth).toBe(256);
    expect(widest.sharedBytes).toBeLessThanOrEqual(SHARED_MEMORY_SM80);
  });

  it('refuses an unknown kind', () => {
    expect(() => addon.plan('conv' as 'attention', {} as never)).toThrow(
      "plan: unknown kind 'conv'",
    );
  });
});

import { backendsWithKernel, capabilities } from '@slimlm/core';
import { describe, expect, it } from 'vitest';
import { native } from '../src/addon';
import { LACKS, registerKernels } from '../src/kernels/index';

// The linalg and GPTQ kernels' plans (native/kernels/linalg.h) and their registration, checked on
// any machine: every plan covers its problem, stays within the grid's limits and within AMD's
// 64 KiB of shared memory a block (the portability rule), and the kernels register for every core
// op but LACKS.
const SHARED_MEMORY_LIMIT = 64 * 1024;
const GRID_Y_LIMIT = 65535;
const SMS = [108, 132];

describe.runIf(native !== undefined)('linalg launch plans', () => {
  const addon = native!;

  it('cholesky and choleskyInverse cover orders 1 to 28672 with 64 x 64 tiles within the limits', () => {
    for (const n of [1, 7, 63, 64, 65, 129, 300, 1000, 4096, 11008, 28672]) {
      const p = addon.plan('cholesky', { n });
      expect(p.tile).toBe(64);
      expect(p.tiles * p.tile).toBeGreaterThanOrEqual(n);
      expect((p.tiles - 1) * p.tile).toBeLessThan(n);
      // One diagonal-tile launch per tile column; the final product has a block per lower tile
      // (a 2-D grid of tiles x tiles whose upper half returns at once).
      expect(p.tileColumns).toBe(p.tiles);
      expect(p.productBlocks).toBe((p.tiles * (p.tiles + 1)) / 2);
      expect(p.tiles).toBeLessThanOrEqual(GRID_Y_LIMIT);
      expect(p.scratchFloats).toBe(64 * 64);
    }
  });

  it('the diagonal tile (f64) and the tiled products fit 64 KiB of shared memory', () => {
    const p = addon.plan('cholesky', { n: 28672 });
    expect(p.diagonalSharedBytes).toBeGreaterThanOrEqual(64 * 65 * 8);
    expect(p.diagonalSharedBytes).toBeLessThanOrEqual(SHARED_MEMORY_LIMIT);
    // Staging of 16 channels of both operands, plus two f32 tiles for the inverse's tiles below
    // the diagonal.
    expect(p.productSharedBytes).toBe(2 * 16 * 68 * 4 + 2 * 64 * 65 * 4);
    expect(p.productSharedBytes).toBeLessThanOrEqual(SHARED_MEMORY_LIMIT);
  });

  it('gptqQuantizeBlock keeps rows of up to 128 columns in registers, hinv packed in shared memory', () => {
    for (const cols of [1, 5, 31, 32, 33, 64, 97, 127, 128]) {
      const p = addon.plan('gptqQuantizeBlock', { rows: 4096, cols, multiprocessors: 132 });
      expect(p.kernel).toBe('registers');
      expect(p.slots).toBe(Math.ceil(cols / 32));
      expect(p.sharedBytes).toBe(((cols * (cols + 1)) / 2) * 4);
      expect(p.sharedBytes).toBeLessThanOrEqual(SHARED_MEMORY_LIMIT);
    }
    for (const cols of [129, 256, 1000]) {
      const p = addon.plan('gptqQuantizeBlock', { rows: 4096, cols, multiprocessors: 132 });
      expect(p).toMatchObject({ kernel: 'wide', sharedBytes: 0 });
    }
  });

  it('gptqQuantizeBlock gives every block at least one row and caps the grid at 4 blocks a multiprocessor', () => {
    for (const multiprocessors of SMS) {
      for (const rows of [1, 7, 8, 9, 100, 4096, 11008, 28672]) {
        const p = addon.plan('gptqQuantizeBlock', { rows, cols: 128, multiprocessors });
        expect(p.warps).toBe(8);
        expect(p.blocks).toBeGreaterThanOrEqual(1);
        expect((p.blocks - 1) * p.warps).toBeLessThan(rows);
        expect(p.blocks).toBeLessThanOrEqual(4 * multiprocessors);
        // Warps loop over rows: the grid reaches every row.
        if (p.blocks < 4 * multiprocessors) expect(p.blocks * p.warps).toBeGreaterThanOrEqual(rows);
      }
    }
  });

  it('the addon exports the three kernels', () => {
    for (const name of ['cholesky', 'choleskyInverse', 'gptqQuantizeBlock'] as const)
      expect(typeof addon[name]).toBe('function');
  });
});

describe.runIf(native !== undefined)('kernel registration', () => {
  it('registers a kernel for every core op but LACKS, and gptqQuantizeBlock, without a GPU', () => {
    // Registration reads what the build is and never touches the device (where a GPU is present,
    // this registers the same kernels again).
    const addon = native!;
    registerKernels(addon);
    const { backend } = addon.capabilities();
    const missing = capabilities('reference').kernels.filter(
      (op) => !backendsWithKernel(op).includes(backend),
    );
    expect(missing).toEqual([...LACKS].sort());
    expect(backendsWithKernel('gptqQuantizeBlock')).toContain(backend);
  });
});

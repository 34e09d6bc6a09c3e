import { describe, expect, it } from 'vitest';
import { native } from '../src/addon';

// The caching allocator's own logic, over simulated memory (native/bindings/host.cc): the same
// C++ class the device uses, with fake addresses and a capacity, so it runs without a GPU.
const MiB = 1 << 20;

describe.runIf(native !== undefined)('the caching allocator', () => {
  // Looked up inside each test: without the addon this block is collected but skipped.
  const SimulatedAllocator = () => native!.SimulatedAllocator;

  it('rounds requests to 512 bytes up to 1 MiB and to 2 MiB above', () => {
    expect(
      [1, 512, 513, 1000, MiB, MiB + 1, 5 * MiB].map((b) => SimulatedAllocator().roundedSize(b)),
    ).toEqual([512, 512, 1024, 1024, MiB, 2 * MiB, 6 * MiB]);
  });

  it('hands a freed block to the next request of its size, without a new allocation', () => {
    const allocator = new (SimulatedAllocator())(64 * MiB);
    const first = allocator.allocate(3000)!;
    allocator.free(first);
    expect(allocator.allocate(2600)).toBe(first);
    expect(allocator.stats()).toMatchObject({
      allocatedBytes: 3072,
      reservedBytes: 3072,
      activeBlocks: 1,
      cachedBlocks: 0,
      cacheHits: 1,
      rawAllocations: 1,
    });
  });

  it('tracks current and peak bytes, and restarts the peak on request', () => {
    const allocator = new (SimulatedAllocator())(64 * MiB);
    const a = allocator.allocate(4 * MiB)!;
    const b = allocator.allocate(2 * MiB)!;
    allocator.free(a);
    expect(allocator.stats()).toMatchObject({
      allocatedBytes: 2 * MiB,
      peakAllocatedBytes: 6 * MiB,
      reservedBytes: 6 * MiB,
      cachedBlocks: 1,
    });
    allocator.resetPeaks();
    expect(allocator.stats().peakAllocatedBytes).toBe(2 * MiB);
    allocator.free(b);
    allocator.emptyCache();
    expect(allocator.stats()).toMatchObject({
      allocatedBytes: 0,
      reservedBytes: 0,
      cachedBlocks: 0,
    });
    expect(allocator.rawBytesInUse()).toBe(0);
  });

  it('does not serve a small request from a much larger cached block', () => {
    const allocator = new (SimulatedAllocator())(64 * MiB);
    allocator.free(allocator.allocate(40 * MiB)!);
    allocator.allocate(4 * MiB);
    // 40 MiB would waste 90% of itself: a new block is taken, the big one stays cached.
    expect(allocator.stats()).toMatchObject({ cacheHits: 0, rawAllocations: 2, cachedBlocks: 1 });
    allocator.allocate(36 * MiB);
    expect(allocator.stats()).toMatchObject({ cacheHits: 1, cachedBlocks: 0 });
  });

  it('empties its cache and retries when memory runs out, and returns null when even that fails', () => {
    const allocator = new (SimulatedAllocator())(16 * MiB);
    allocator.free(allocator.allocate(10 * MiB)!);
    const big = allocator.allocate(12 * MiB);
    expect(big).not.toBeNull();
    expect(allocator.stats()).toMatchObject({
      evictions: 1,
      reservedBytes: 12 * MiB,
      cachedBlocks: 0,
    });
    expect(allocator.allocate(8 * MiB)).toBeNull();
    expect(allocator.stats()).toMatchObject({ allocatedBytes: 12 * MiB, activeBlocks: 1 });
  });

  it('gives null for zero bytes and refuses to free what it did not hand out', () => {
    const allocator = new (SimulatedAllocator())(MiB);
    expect(allocator.allocate(0)).toBeNull();
    expect(() => allocator.free(12345)).toThrow('free: not a block of this allocator');
  });
});

import assert from 'node:assert/strict';
import {
  backward,
  type DType,
  matmul,
  memory,
  scope,
  sum,
  tensor,
  withBackend,
  zeros,
} from '@slimlm/core';
import { sample } from '@slimlm/core/testing';
import {
  CUDA,
  CudaError,
  deviceInfo,
  emptyCache,
  memoryStats,
  resetPeakMemoryStats,
} from '../../src/index';
import type { GpuCheck } from './check';

const DTYPES: DType[] = ['f32', 'f16', 'bf16', 'i32', 'u8'];

export const runtimeChecks: GpuCheck[] = [
  {
    name: 'opens a GPU of compute capability 8.0 or newer and names it',
    run: () => {
      const info = deviceInfo();
      assert.ok(info.name.length > 0);
      assert.ok(info.computeCapability[0] >= 8, `compute capability ${info.computeCapability}`);
      assert.ok(info.multiprocessors > 0 && info.totalMemory > 0);
    },
  },
  {
    name: 'copies every stored dtype to the device and back bit for bit, synchronously and not',
    run: async () => {
      for (const dtype of DTYPES) {
        const values = Array.from({ length: 1000 }, (_, i) =>
          dtype === 'u8' ? i % 256 : ((i * 37) % 1001) - 500,
        );
        const t = withBackend(CUDA, () => tensor(values, { dtype }));
        assert.equal(t.backend.name, CUDA);
        const expected = tensor(values, { dtype, backend: 'reference' }).rawSync();
        assert.deepEqual(t.rawSync(), expected, `${dtype} (read)`);
        assert.deepEqual(await t.raw(), expected, `${dtype} (readAsync)`);
        t.dispose();
      }
    },
  },
  {
    name: 'counts current and peak bytes, and serves a freed block again from the cache',
    run: () => {
      emptyCache();
      resetPeakMemoryStats();
      const before = memoryStats();
      const t = withBackend(CUDA, () => zeros([1024, 1024]));
      const during = memoryStats();
      assert.equal(during.allocatedBytes - before.allocatedBytes, 4 << 20);
      t.dispose();
      const after = memoryStats();
      assert.equal(after.allocatedBytes, before.allocatedBytes);
      assert.equal(after.peakAllocatedBytes, during.allocatedBytes);
      assert.equal(after.cachedBlocks, before.cachedBlocks + 1);
      const again = withBackend(CUDA, () => zeros([1024, 1024]));
      assert.equal(memoryStats().cacheHits, after.cacheHits + 1);
      assert.equal(again.dataSync()[12345], 0, 'a reused block is zero-filled');
      again.dispose();
    },
  },
  {
    name: "reports running out of memory with CUDA's words and the sizes involved",
    run: () => {
      try {
        withBackend(CUDA, () => zeros([2 ** 40]));
        assert.fail('4 TiB should not fit');
      } catch (error) {
        assert.ok(error instanceof CudaError, String(error));
        assert.equal(error.cudaError, 'cudaErrorMemoryAllocation');
        assert.match(
          error.message,
          /allocating 4398046511104 bytes on .+ free of .+: out of memory \(cudaErrorMemoryAllocation\)/,
        );
      }
      // The device stays usable.
      const t = withBackend(CUDA, () => sum(tensor([1, 2, 3])));
      assert.equal(t.item(), 6);
      t.dispose();
    },
  },
  {
    name: 'frees everything after a forward and backward pass',
    run: () => {
      const before = memory(CUDA);
      withBackend(CUDA, () =>
        scope(() => {
          const x = sample([16, 32], 1);
          const w = sample([32, 8], 2);
          w.requiresGrad = true;
          backward(sum(matmul(x, w)));
          assert.deepEqual(w.grad!.shape, [32, 8]);
          w.grad!.dispose();
        }),
      );
      assert.equal(memory(CUDA).tensors, before.tensors);
      assert.equal(memory(CUDA).bytes, before.bytes);
    },
  },
];

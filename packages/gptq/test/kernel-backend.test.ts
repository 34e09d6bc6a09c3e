import '@slimlm/kernels-cpu';
import {
  getKernel,
  type KernelFn,
  registerKernel,
  type Tensor,
  tensor,
  unregisterKernel,
  withBackend,
} from '@slimlm/core';
import { describe, expect, it } from 'vitest';
import { QuantLinear, rtnQuantize } from '../src/index';
import { backendRunning } from '../src/kernel-backend';

// gptq's host-side ops (RTN, code packing) run where a kernel exists and hand their results back
// to the caller's backend: what lets a GPU backend, which has no kernel for them, quantize.

/** Runs `fn` with the 'cpu' kernels of `ops` taken away (as a GPU backend lacks them). */
function withoutCpuKernels<T>(ops: string[], fn: () => T): T {
  const saved = ops.map((op) => [op, getKernel(op, 'cpu')] as [string, KernelFn]);
  for (const [op] of saved) unregisterKernel(op, 'cpu');
  try {
    return fn();
  } finally {
    for (const [op, kernel] of saved) registerKernel({ op, backend: 'cpu', fn: kernel });
  }
}

function weight(): Tensor {
  const n = 16;
  const k = 64;
  return tensor(
    Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 5))),
    { shape: [n, k] },
  );
}

describe('backendRunning', () => {
  it("keeps the tensors' backend where it has the kernel, else takes the highest-priority one", () => {
    expect(backendRunning('gptqPackCodes', 'cpu')).toBe('cpu');
    expect(backendRunning('gptqPackCodes', 'cuda')).toBe('cpu');
    withoutCpuKernels(['gptqPackCodes'], () =>
      expect(backendRunning('gptqPackCodes', 'cpu')).toBe('reference'),
    );
  });

  it('quantizes and packs on a backend without those kernels, results on that backend', () => {
    const settings = { bits: 4 as const, groupSize: 32, sym: false };
    withBackend('cpu', () => {
      const w = weight();
      const native = rtnQuantize(w, settings);
      const moved = withoutCpuKernels(['gptqRtnQuantize', 'gptqPackCodes'], () => {
        const result = rtnQuantize(w, settings);
        const layer = QuantLinear.fromQuantization({ ...result, bits: 4, groupSize: 32 });
        return { result, layer };
      });
      expect(moved.result.dequantized.backend.name).toBe('cpu');
      expect(moved.result.codes).toEqual(native.codes);
      expect(Array.from(moved.result.dequantized.dataSync())).toEqual(
        Array.from(native.dequantized.dataSync()),
      );
      const packed = QuantLinear.fromQuantization({ ...native, bits: 4, groupSize: 32 });
      expect(moved.layer.qweight.backend.name).toBe('cpu');
      expect(Array.from(moved.layer.qweight.dataSync())).toEqual(
        Array.from(packed.qweight.dataSync()),
      );
    });
  });
});

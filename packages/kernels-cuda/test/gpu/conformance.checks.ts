import assert from 'node:assert/strict';
import { capabilities } from '@slimlm/core';
import { runConformance } from '@slimlm/core/testing';
import { CUDA, LACKS } from '../../src/index';
import type { GpuCheck } from './check';

/** Ops of other packages that cuda has kernels for, checked in their own files (linalg.checks.ts). */
const OTHER_PACKAGES_OPS = ['gptqQuantizeBlock'];

export const conformanceChecks: GpuCheck[] = [
  {
    name: "passes core's conformance suite, every op but the ones it lacks checked at least once",
    run: () => {
      const results = runConformance(CUDA, { lacks: LACKS });
      const failures = results.filter((r) => r.status === 'fail');
      assert.deepEqual(failures, []);
      const passed = new Set(results.filter((r) => r.status === 'pass').map((r) => r.op));
      const unchecked = capabilities(CUDA).kernels.filter(
        (op) => !passed.has(op) && !OTHER_PACKAGES_OPS.includes(op),
      );
      assert.deepEqual(unchecked, []);
    },
  },
  {
    name: 'has a kernel for every core op except those it lists as lacking',
    run: () => {
      const reference = capabilities('reference').kernels;
      const cuda = capabilities(CUDA).kernels;
      assert.deepEqual(
        reference.filter((op) => !cuda.includes(op)),
        [...LACKS].sort(),
      );
    },
  },
];

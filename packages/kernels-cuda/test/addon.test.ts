import { capabilities, listBackends } from '@slimlm/core';
import { describe, expect, it } from 'vitest';
import { findToolkit } from '../scripts/cuda-toolkit.mjs';
import { importInFreshProcess } from '../scripts/gpu-testing.mjs';
import { loadError, native } from '../src/addon';
import { available, CUDA, LACKS, PRIORITY, unavailableReason } from '../src/index';

const packageDir = new URL('..', import.meta.url).pathname;

/** Imports the built package in a fresh process and reports what it registered and printed. */
const importPackage = (env: Record<string, string> = {}) =>
  importInFreshProcess('@slimlm/kernels-cuda', packageDir, env);

describe('the addon', () => {
  it.runIf(findToolkit() !== undefined)(
    'loads wherever nvcc built it, with or without a GPU',
    () => {
      expect(loadError).toBeUndefined();
      expect(native).toBeDefined();
      const probe = native!.probe();
      // A count (GPU machines) or CUDA's own words for why there is none.
      if ('error' in probe)
        expect(probe.error).toMatch(/^cudaGetDeviceCount: .+ \(cudaError\w+\)$/);
      else expect(probe.count).toBeGreaterThanOrEqual(0);
    },
  );

  it.runIf(native !== undefined)('refuses device calls before the device is open, in words', () => {
    expect(() => native!.allocate(16)).toThrow('@slimlm/kernels-cuda: the device is not open');
  });
});

describe('importing the package', () => {
  it('registers "cuda" above every other backend exactly when a GPU is usable', () => {
    const cuda = listBackends().find((b) => b.name === CUDA);
    if (available) {
      expect(cuda?.priority).toBe(PRIORITY);
      for (const op of LACKS) expect(capabilities(CUDA).kernels).not.toContain(op);
    } else {
      expect(cuda).toBeUndefined();
      expect(unavailableReason).toBeTruthy();
    }
  });

  it('says in one line why there is no "cuda" backend, and registers nothing', () => {
    const run = importPackage();
    if (run.result.available) {
      expect(run.result.backends).toContain(CUDA);
      return;
    }
    expect(run.result.backends).not.toContain(CUDA);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^@slimlm\/kernels-cuda: no usable CUDA device or driver \(cudaGetDeviceCount: .+\); backend "cuda" not registered$/,
    );
  });

  it('says so in one line where the addon was never built (no nvcc)', () => {
    const run = importPackage({ SLIMLM_CUDA_ADDON: `${packageDir}build/Release/missing.node` });
    expect(run.result).toEqual({ available: false, backends: expect.not.arrayContaining([CUDA]) });
    expect(run.stderr.trim()).toMatch(
      /^@slimlm\/kernels-cuda: native addon unavailable \(Cannot find module '.*missing\.node'.*\); backend "cuda" not registered$/,
    );
  });
});

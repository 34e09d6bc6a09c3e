import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { listBackends } from '@slimlm/core';
import {
  loadAddon,
  type NativeAddon,
  registeredOps,
  registerKernels,
} from '@slimlm/kernels-cuda/gpu';
import { importInFreshProcess } from '@slimlm/kernels-cuda/scripts/gpu-testing.mjs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TARGETS, findToolkit } from '../scripts/rocm-toolkit.mjs';
import { available, buildCapabilities, loadError, PRIORITY, ROCM } from '../src/index';

const packageDir = new URL('..', import.meta.url).pathname;
const rocmAddonPath = join(packageDir, 'build/Release/slimlm_rocm.node');
const cudaDir = dirname(
  createRequire(import.meta.url).resolve('@slimlm/kernels-cuda/package.json'),
);

function load(path: string): NativeAddon | undefined {
  const loaded = loadAddon(import.meta.url, path);
  return 'addon' in loaded ? loaded.addon : undefined;
}

const rocm = load(rocmAddonPath);
const cuda = load(join(cudaDir, 'build/Release/slimlm_cuda.node'));

/** Imports the built package in a fresh process and reports what it registered and printed. */
const importPackage = (env: Record<string, string> = {}) =>
  importInFreshProcess('@slimlm/kernels-rocm', packageDir, env);

describe('the ROCm addon', () => {
  // CI installs hipcc, so there the build must have happened and these run.
  it.runIf(findToolkit() !== undefined)(
    'was built wherever hipcc is, and loads without a GPU',
    () => {
      expect(loadError).toBeUndefined();
      expect(rocm).toBeDefined();
      const probe = rocm!.probe();
      if ('error' in probe) expect(probe.cudaError).toMatch(/^hipError\w+$/);
      else expect(probe.count).toBeGreaterThanOrEqual(0);
    },
  );

  it.runIf(rocm !== undefined)('carries a code object for every target', () => {
    const binary = readFileSync(rocmAddonPath).toString('latin1');
    for (const target of DEFAULT_TARGETS) expect(binary).toContain(`amdgcn-amd-amdhsa--${target}`);
  });

  it.runIf(rocm !== undefined)('reports what the AMD build is, without a device', () => {
    expect(buildCapabilities).toEqual(rocm!.capabilities());
    expect(rocm!.capabilities()).toEqual({
      backend: 'rocm',
      warpLanes: 32,
      maxSharedBytesPerBlock: 64 * 1024,
      attentionMaxHeadDim: 224,
      halfMatmul: 'tiled SIMT GEMM (f32 FMAs; no MFMA/WMMA path yet)',
      notPorted: {},
    });
  });

  it.runIf(rocm !== undefined)(
    "plans within AMD's limits: no tensor-core GEMM, 64 KiB tiles",
    () => {
      const half = {
        batch: 1,
        m: 512,
        n: 4096,
        k: 4096,
        halfOperands: true,
        tensorCoreLayout: true,
      };
      expect(rocm!.plan('matmul', half).kernel).toBe('simt');
      const depth = rocm!.capabilities().attentionMaxHeadDim;
      const prefill = rocm!.plan('attention', {
        batch: 1,
        heads: 32,
        queries: 512,
        depth,
        valueDepth: depth,
      });
      expect(prefill.kernel).toBe('prefill');
      expect(prefill.sharedBytes).toBeLessThanOrEqual(64 * 1024);
      expect(prefill.maxDepth).toBe(depth);
    },
  );
});

describe('the same kernels as the CUDA build', () => {
  const both = rocm !== undefined && cuda !== undefined;

  it.runIf(both)('exports every native function of the CUDA build, or says why not', () => {
    const notPorted = rocm!.capabilities().notPorted;
    for (const name of Object.keys(cuda!)) {
      if (name in notPorted) expect(notPorted[name]).toMatch(/\w{3}/);
      else expect(typeof (rocm as unknown as Record<string, unknown>)[name], name).toBe('function');
    }
  });

  it.runIf(both)('registers a kernel for every op the CUDA backend registers', () => {
    // Registering kernels needs no device; it is what importing either package does on a GPU.
    registerKernels(cuda!);
    registerKernels(rocm!);
    const cudaOps = registeredOps('cuda');
    expect(cudaOps.length).toBeGreaterThan(40);
    expect(registeredOps(ROCM)).toEqual(cudaOps);
  });

  it.runIf(both)('differs from it only where the header says it must', () => {
    const [c, r] = [cuda!.capabilities(), rocm!.capabilities()];
    expect(c.backend).toBe('cuda');
    expect(c.halfMatmul).toMatch(/^tensor cores: mma\.sync/);
    expect(c.attentionMaxHeadDim).toBe(256);
    expect(r.warpLanes).toBe(c.warpLanes);
    const plan = { batch: 1, m: 64, n: 64, k: 64, halfOperands: false, tensorCoreLayout: false };
    expect(rocm!.plan('matmul', plan)).toEqual(cuda!.plan('matmul', plan));
    const quant = { m: 1, n: 4096, k: 4096, multiprocessors: 104 };
    expect(rocm!.plan('quantMatmul', quant)).toEqual(cuda!.plan('quantMatmul', quant));
  });
});

describe('importing the package', () => {
  it('registers "rocm" (priority 20) exactly when an AMD GPU is usable', () => {
    const backend = listBackends().find((b) => b.name === ROCM);
    if (available) expect(backend?.priority).toBe(PRIORITY);
    else expect(backend).toBeUndefined();
  });

  it.runIf(existsSync(rocmAddonPath))(
    'says in one line why there is no "rocm" backend, and registers nothing',
    () => {
      const run = importPackage();
      if (run.result.available) return;
      expect(run.result.backends).not.toContain(ROCM);
      expect(run.stderr.trim()).toMatch(
        /^@slimlm\/kernels-rocm: no usable ROCm device or driver \(cudaGetDeviceCount: hipError\w+ \(hipError\w+\)\); backend "rocm" not registered$/,
      );
    },
  );

  it('says so in one line where the addon was never built (no hipcc)', () => {
    const run = importPackage({ SLIMLM_ROCM_ADDON: `${packageDir}build/Release/missing.node` });
    expect(run.result).toEqual({ available: false, backends: expect.not.arrayContaining([ROCM]) });
    expect(run.stderr.trim()).toMatch(
      /^@slimlm\/kernels-rocm: native addon unavailable \(Cannot find module '.*missing\.node'.*\); backend "rocm" not registered$/,
    );
  });
});

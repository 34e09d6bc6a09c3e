import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildPlan,
  cudaArchs,
  DEFAULT_ARCHS,
  findToolkit,
  gencodeFlags,
  nvccCandidates,
} from '../scripts/cuda-toolkit.mjs';
import { fakeFileSystem } from '../scripts/gpu-testing.mjs';

const packageDir = new URL('..', import.meta.url).pathname;

const toolkit = (root: string) => [`${root}/bin/nvcc`, `${root}/include/cuda_runtime.h`];

describe('finding nvcc', () => {
  it('skips with one reason where there is no nvcc anywhere it looks', () => {
    const { exists, listDir } = fakeFileSystem([]);
    const plan = buildPlan({ PATH: '/usr/bin:/bin' }, 'linux-x64', exists, listDir);
    expect(plan).toEqual({
      skip: 'nvcc not found (looked in PATH, CUDA_HOME, CUDA_PATH, /usr/local/cuda*)',
    });
  });

  it('skips on platforms other than Linux x64', () => {
    expect(buildPlan({}, 'darwin-arm64')).toEqual({
      skip: 'no CUDA build for darwin-arm64 (Linux x64 only)',
    });
  });

  it('looks in PATH, then CUDA_HOME and CUDA_PATH, then /usr/local/cuda, then versioned installs newest first', () => {
    const { listDir } = fakeFileSystem([
      ...toolkit('/usr/local/cuda-12.8'),
      ...toolkit('/usr/local/cuda-13.0'),
      ...toolkit('/usr/local/cuda-9.2'),
    ]);
    const order = nvccCandidates({ PATH: '/a:/b', CUDA_HOME: '/h', CUDA_PATH: '/p' }, listDir).map(
      ([, p]) => p,
    );
    expect(order).toEqual([
      '/a/nvcc',
      '/b/nvcc',
      '/h/bin/nvcc',
      '/p/bin/nvcc',
      '/usr/local/cuda/bin/nvcc',
      '/usr/local/cuda-13.0/bin/nvcc',
      '/usr/local/cuda-12.8/bin/nvcc',
      '/usr/local/cuda-9.2/bin/nvcc',
    ]);
  });

  it('takes CUDA_HOME when nvcc is not on PATH', () => {
    const { exists, listDir } = fakeFileSystem(toolkit('/opt/cuda'));
    expect(findToolkit({ PATH: '/usr/bin', CUDA_HOME: '/opt/cuda' }, exists, listDir)).toEqual({
      nvcc: '/opt/cuda/bin/nvcc',
      home: '/opt/cuda',
      source: 'CUDA_HOME',
    });
  });

  it('resolves a wrapper on PATH (no include/ beside it) to a toolkit root that has one', () => {
    const { exists, listDir } = fakeFileSystem([
      '/usr/local/bin/nvcc',
      ...toolkit('/usr/local/cuda-13.0'),
    ]);
    expect(findToolkit({ PATH: '/usr/local/bin' }, exists, listDir)).toEqual({
      nvcc: '/usr/local/cuda-13.0/bin/nvcc',
      home: '/usr/local/cuda-13.0',
      source: 'PATH',
    });
  });
});

describe('GPU targets', () => {
  it('default to sm_90a and sm_80 machine code plus compute_80 PTX', () => {
    expect(cudaArchs({})).toEqual(DEFAULT_ARCHS);
    expect(gencodeFlags(DEFAULT_ARCHS)).toEqual([
      '-gencode=arch=compute_90a,code=sm_90a',
      '-gencode=arch=compute_80,code=sm_80',
      '-gencode=arch=compute_80,code=compute_80',
    ]);
  });

  it('take SLIMLM_CUDA_ARCHS, and refuse malformed or pre-Ampere targets with the reason', () => {
    expect(cudaArchs({ SLIMLM_CUDA_ARCHS: ' sm_90a , sm_120 ' })).toEqual(['sm_90a', 'sm_120']);
    expect(() => cudaArchs({ SLIMLM_CUDA_ARCHS: 'hopper' })).toThrow(
      "SLIMLM_CUDA_ARCHS: 'hopper' is not a target like sm_90a, sm_80 or compute_80",
    );
    expect(() => cudaArchs({ SLIMLM_CUDA_ARCHS: 'sm_75' })).toThrow(/older than sm_80/);
  });

  it('a bad target makes the build script skip in one line and exit 0', () => {
    const run = spawnSync(process.execPath, ['scripts/build-native.mjs'], {
      cwd: packageDir,
      env: { ...process.env, SLIMLM_CUDA_ARCHS: 'sm_70' },
      encoding: 'utf8',
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toEqual([
      '@slimlm/kernels-cuda: SLIMLM_CUDA_ARCHS: \'sm_70\' is older than sm_80; the kernels need bf16 mma.sync (sm_80+); skipping the CUDA build (backend "cuda" unavailable)',
    ]);
  });
});

describe('the build on this machine', () => {
  const found = findToolkit();
  it.runIf(found !== undefined)(
    'built the addon for the targets it records, since nvcc is here',
    () => {
      const stamp = JSON.parse(readFileSync(`${packageDir}build/slimlm-cuda.json`, 'utf8'));
      expect(stamp.home).toBe(found!.home);
      expect(stamp.archs.length).toBeGreaterThan(0);
      expect(existsSync(`${packageDir}build/Release/slimlm_cuda.node`)).toBe(true);
    },
  );
});

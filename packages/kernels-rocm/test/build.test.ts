import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fakeFileSystem } from '@slimlm/kernels-cuda/scripts/gpu-testing.mjs';
import { describe, expect, it } from 'vitest';
import {
  buildPlan,
  DEFAULT_TARGETS,
  findToolkit,
  hipccCandidates,
  nativeSources,
  offloadFlags,
  rocmTargets,
  sourceFiles,
} from '../scripts/rocm-toolkit.mjs';

const packageDir = new URL('..', import.meta.url).pathname;

/** An install: hipcc, HIP's headers and its runtime library in `lib`. */
const rocm = (root: string, lib = 'lib') => [
  `${root}/bin/hipcc`,
  `${root}/include/hip/hip_runtime.h`,
  `${root}/${lib}/libamdhip64.so`,
];

describe('finding hipcc', () => {
  it('skips with one reason where there is no hipcc anywhere it looks', () => {
    const { exists, listDir } = fakeFileSystem([]);
    expect(buildPlan({ PATH: '/usr/bin:/bin' }, 'linux-x64', exists, listDir)).toEqual({
      skip: 'hipcc not found (looked in PATH, ROCM_PATH, HIP_PATH, /opt/rocm*; Debian/Ubuntu: apt install hipcc)',
    });
  });

  it('skips on platforms other than Linux x64', () => {
    expect(buildPlan({}, 'darwin-arm64')).toEqual({
      skip: 'no ROCm build for darwin-arm64 (Linux x64 only)',
    });
  });

  it('looks in PATH, then ROCM_PATH and HIP_PATH, then /opt/rocm, then versioned installs newest first', () => {
    const { listDir } = fakeFileSystem([...rocm('/opt/rocm-5.7.1'), ...rocm('/opt/rocm-6.2.0')]);
    const order = hipccCandidates({ PATH: '/a:/b', ROCM_PATH: '/r', HIP_PATH: '/h' }, listDir).map(
      ([, p]) => p,
    );
    expect(order).toEqual([
      '/a/hipcc',
      '/b/hipcc',
      '/r/bin/hipcc',
      '/h/bin/hipcc',
      '/opt/rocm/bin/hipcc',
      '/opt/rocm-6.2.0/bin/hipcc',
      '/opt/rocm-5.7.1/bin/hipcc',
    ]);
  });

  it("finds Debian's layout (/usr/bin/hipcc, the runtime in the multiarch folder)", () => {
    const { exists, listDir } = fakeFileSystem(rocm('/usr', 'lib/x86_64-linux-gnu'));
    expect(findToolkit({ PATH: '/usr/bin' }, exists, listDir)).toEqual({
      hipcc: '/usr/bin/hipcc',
      home: '/usr',
      lib: '/usr/lib/x86_64-linux-gnu',
      source: 'PATH',
    });
  });

  it('passes over a hipcc without HIP headers or runtime beside it', () => {
    const { exists, listDir } = fakeFileSystem([
      '/stale/bin/hipcc',
      '/headers-only/bin/hipcc',
      '/headers-only/include/hip/hip_runtime.h',
      ...rocm('/opt/rocm'),
    ]);
    const found = findToolkit({ PATH: '/stale/bin:/headers-only/bin' }, exists, listDir);
    expect(found).toMatchObject({ hipcc: '/opt/rocm/bin/hipcc', lib: '/opt/rocm/lib' });
  });
});

describe('targets', () => {
  it('builds CDNA 1-3 and RDNA 2 by default, one flag each', () => {
    expect(DEFAULT_TARGETS).toEqual(['gfx908', 'gfx90a', 'gfx940', 'gfx1030']);
    expect(offloadFlags(rocmTargets({}))).toEqual([
      '--offload-arch=gfx908',
      '--offload-arch=gfx90a',
      '--offload-arch=gfx940',
      '--offload-arch=gfx1030',
    ]);
  });

  it('takes SLIMLM_ROCM_TARGETS, and refuses what is not a gfx target', () => {
    expect(rocmTargets({ SLIMLM_ROCM_TARGETS: 'gfx942, gfx1100' })).toEqual(['gfx942', 'gfx1100']);
    expect(() => rocmTargets({ SLIMLM_ROCM_TARGETS: 'gfx90a,sm_90a' })).toThrow(
      "SLIMLM_ROCM_TARGETS: 'sm_90a' is not an AMD GPU target like gfx90a or gfx1030",
    );
    const { exists, listDir } = fakeFileSystem(rocm('/opt/rocm'));
    expect(buildPlan({ SLIMLM_ROCM_TARGETS: 'mi300' }, 'linux-x64', exists, listDir)).toMatchObject(
      { skip: expect.stringContaining("'mi300'") },
    );
  });
});

describe('the sources', () => {
  it("are kernels-cuda's, every host file and every kernel, no copies here", () => {
    const native = nativeSources();
    const files = sourceFiles(native, packageDir);
    for (const [dir, extension] of [
      ['runtime', '.cc'],
      ['bindings', '.cc'],
      ['kernels', '.cu'],
    ] as const) {
      const expected = readdirSync(`${native}/${dir}`).filter((f) => f.endsWith(extension));
      expect(expected.length).toBeGreaterThan(0);
      for (const name of expected) expect(files).toContain(`../kernels-cuda/native/${dir}/${name}`);
    }
    expect(readdirSync(packageDir).filter((f) => /\.(cu|cuh|cc|h)$/.test(f))).toEqual([]);
  });

  it('says in one line, and exits 0, when the build is skipped', () => {
    const run = spawnSync(process.execPath, ['scripts/build-native.mjs'], {
      cwd: packageDir,
      env: { ...process.env, SLIMLM_ROCM_TARGETS: 'sm_90a' },
      encoding: 'utf8',
    });
    expect(run.status).toBe(0);
    expect(run.stderr.trim()).toBe(
      '@slimlm/kernels-rocm: SLIMLM_ROCM_TARGETS: \'sm_90a\' is not an AMD GPU target like gfx90a or gfx1030; skipping the ROCm build (backend "rocm" unavailable)',
    );
  });
});

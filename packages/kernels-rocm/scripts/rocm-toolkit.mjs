// Finds hipcc and says how to compile kernels-cuda's sources for AMD GPUs: the one place that
// knows where ROCm lives, which targets the addon carries and where the shared sources are.
// build-native.mjs imports it to decide whether to build; binding.gyp runs it as a command
// (`node scripts/rocm-toolkit.mjs <what>`) for its flags.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  answerCommandLine,
  compareVersions,
  safeList,
  safeRealpath,
} from '@slimlm/kernels-cuda/scripts/gpu-build.mjs';

/**
 * The GPU targets compiled by default: CDNA 1-3 (MI100 gfx908, MI200 gfx90a, MI300 gfx940) and
 * RDNA 2 (gfx1030), what Debian's ROCm 5.2 compiler supports. On a newer ROCm, gfx942 (MI300X)
 * and gfx1100 (RDNA 3) are one entry each here; SLIMLM_ROCM_TARGETS (comma-separated) replaces
 * the list for one build.
 */
export const DEFAULT_TARGETS = ['gfx908', 'gfx90a', 'gfx940', 'gfx1030'];

/** Where hipcc is looked for, in order, as [how it was found, path to hipcc]. */
export function hipccCandidates(env = process.env, listDir = safeList) {
  const candidates = [];
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean))
    candidates.push(['PATH', join(dir, 'hipcc')]);
  for (const name of ['ROCM_PATH', 'HIP_PATH']) {
    if (env[name]) candidates.push([name, join(env[name], 'bin', 'hipcc')]);
  }
  candidates.push(['/opt/rocm', '/opt/rocm/bin/hipcc']);
  const versioned = listDir('/opt')
    .filter((name) => /^rocm-\d+(\.\d+)*$/.test(name))
    .sort((a, b) => compareVersions(b.slice(5), a.slice(5)));
  for (const name of versioned) candidates.push([`/opt/${name}`, `/opt/${name}/bin/hipcc`]);
  return candidates;
}

/**
 * The ROCm install to build with, or undefined when there is no hipcc with HIP's headers and
 * runtime library beside it. `home` holds include/hip/hip_runtime.h; `lib` holds libamdhip64.so
 * (lib/ under /opt/rocm, the multiarch folder on Debian).
 */
export function findToolkit(env = process.env, exists = existsSync, listDir = safeList) {
  for (const [source, hipcc] of hipccCandidates(env, listDir)) {
    if (!exists(hipcc)) continue;
    const home = dirname(dirname(safeRealpath(hipcc)));
    if (!exists(join(home, 'include', 'hip', 'hip_runtime.h'))) continue;
    const lib = ['lib', 'lib64', 'lib/x86_64-linux-gnu']
      .map((dir) => join(home, dir))
      .find((dir) => exists(join(dir, 'libamdhip64.so')));
    if (lib) return { hipcc, home, lib, source };
  }
  return undefined;
}

/** The targets to compile, from SLIMLM_ROCM_TARGETS or the default. Throws on a malformed entry. */
export function rocmTargets(env = process.env) {
  const requested = env.SLIMLM_ROCM_TARGETS?.trim();
  const targets = requested ? requested.split(',').map((t) => t.trim()) : DEFAULT_TARGETS;
  for (const target of targets) {
    if (!/^gfx[0-9a-f]{3,4}$/.test(target))
      throw new Error(
        `SLIMLM_ROCM_TARGETS: '${target}' is not an AMD GPU target like gfx90a or gfx1030`,
      );
  }
  return targets;
}

/** hipcc's flags for the targets: one code object per target in the fat binary. */
export function offloadFlags(targets) {
  return targets.map((target) => `--offload-arch=${target}`);
}

/** kernels-cuda's native/ folder: the kernel sources both builds compile. */
export function nativeSources(resolve = createRequire(import.meta.url).resolve) {
  return join(dirname(resolve('@slimlm/kernels-cuda/package.json')), 'native');
}

/** The files of the addon, relative to `from` (binding.gyp's folder): host code and kernels. */
export function sourceFiles(native = nativeSources(), from = packageDir(), listDir = safeList) {
  const files = [];
  for (const [dir, extension] of [
    ['runtime', '.cc'],
    ['bindings', '.cc'],
    ['kernels', '.cu'],
  ]) {
    for (const name of listDir(join(native, dir)).sort())
      if (name.endsWith(extension)) files.push(relative(from, join(native, dir, name)));
  }
  return files;
}

/**
 * What build-native.mjs should do on this machine: { skip: reason } (one line for the user), or
 * the toolkit and targets to build with.
 */
export function buildPlan(
  env = process.env,
  platform = `${process.platform}-${process.arch}`,
  exists = existsSync,
  listDir = safeList,
) {
  if (platform !== 'linux-x64') return { skip: `no ROCm build for ${platform} (Linux x64 only)` };
  const toolkit = findToolkit(env, exists, listDir);
  if (!toolkit)
    return {
      skip: 'hipcc not found (looked in PATH, ROCM_PATH, HIP_PATH, /opt/rocm*; Debian/Ubuntu: apt install hipcc)',
    };
  try {
    return { toolkit, targets: rocmTargets(env) };
  } catch (error) {
    return { skip: error.message };
  }
}

function packageDir() {
  return dirname(dirname(fileURLToPath(import.meta.url)));
}

// As a command, for binding.gyp: prints one value (lists space-separated, for gyp's <!@(...)).
answerCommandLine(import.meta.url, '@slimlm/kernels-rocm:', () => {
  const toolkit = findToolkit();
  if (!toolkit) throw new Error('hipcc not found');
  const targets = rocmTargets();
  return {
    hipcc: () => toolkit.hipcc,
    home: () => toolkit.home,
    lib: () => toolkit.lib,
    offload: () => offloadFlags(targets).join(' '),
    targets: () => targets.join(','),
    native: () => relative(packageDir(), nativeSources()),
    sources: () => sourceFiles().join(' '),
  };
});

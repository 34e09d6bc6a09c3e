// Finds the CUDA toolkit and says how to compile for it: the one place that knows where nvcc
// lives and which GPU targets the addon carries. build-native.mjs imports it to decide whether to
// build; binding.gyp runs it as a command (`node scripts/cuda-toolkit.mjs <what>`) for its flags.
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { answerCommandLine, compareVersions, safeList, safeRealpath } from './gpu-build.mjs';

/**
 * The GPU targets compiled by default: machine code for Hopper (sm_90a, which wgmma and setmaxnreg
 * need) and Ampere (sm_80), plus compute_80 PTX that the driver compiles for any later GPU.
 * SLIMLM_CUDA_ARCHS (comma-separated, e.g. "sm_90a" or "sm_80,compute_80") replaces the list.
 */
export const DEFAULT_ARCHS = ['sm_90a', 'sm_80', 'compute_80'];

/** Where nvcc is looked for, in order, as [how it was found, path to nvcc]. */
export function nvccCandidates(env = process.env, listDir = safeList) {
  const candidates = [];
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean))
    candidates.push(['PATH', join(dir, 'nvcc')]);
  for (const name of ['CUDA_HOME', 'CUDA_PATH']) {
    if (env[name]) candidates.push([name, join(env[name], 'bin', 'nvcc')]);
  }
  candidates.push(['/usr/local/cuda', '/usr/local/cuda/bin/nvcc']);
  // Versioned installs, newest first (cuda-13.0 before cuda-12.8).
  const versioned = listDir('/usr/local')
    .filter((name) => /^cuda-\d+(\.\d+)*$/.test(name))
    .sort((a, b) => compareVersions(b.slice(5), a.slice(5)));
  for (const name of versioned)
    candidates.push([`/usr/local/${name}`, `/usr/local/${name}/bin/nvcc`]);
  return candidates;
}

/**
 * The toolkit to build with, or undefined when there is no nvcc anywhere we look. `home` is the
 * toolkit's root (nvcc's real location, through wrappers and symlinks, two levels up), where
 * include/ and lib64/libcudart_static.a are.
 */
export function findToolkit(env = process.env, exists = existsSync, listDir = safeList) {
  for (const [source, nvcc] of nvccCandidates(env, listDir)) {
    if (!exists(nvcc)) continue;
    const home = toolkitHome(nvcc, env, exists);
    if (home) return { nvcc: join(home, 'bin', 'nvcc'), home, source };
  }
  return undefined;
}

/**
 * The root of the toolkit an nvcc belongs to. A wrapper script on PATH (such as /usr/local/bin/nvcc
 * exec-ing the real one) has no include/ beside it, so the other candidates are consulted for a
 * root with both bin/nvcc and include/cuda_runtime.h.
 */
function toolkitHome(nvcc, env, exists) {
  const real = safeRealpath(nvcc);
  const roots = [dirname(dirname(real))];
  for (const [, other] of nvccCandidates(env)) roots.push(dirname(dirname(safeRealpath(other))));
  return roots.find(
    (root) => exists(join(root, 'bin', 'nvcc')) && exists(join(root, 'include', 'cuda_runtime.h')),
  );
}

/** The targets to compile, from SLIMLM_CUDA_ARCHS or the default. Throws on a malformed entry. */
export function cudaArchs(env = process.env) {
  const requested = env.SLIMLM_CUDA_ARCHS?.trim();
  const archs = requested ? requested.split(',').map((a) => a.trim()) : DEFAULT_ARCHS;
  for (const arch of archs) {
    if (!/^(sm|compute)_\d+a?$/.test(arch))
      throw new Error(
        `SLIMLM_CUDA_ARCHS: '${arch}' is not a target like sm_90a, sm_80 or compute_80`,
      );
    if (Number.parseInt(arch.replace(/^\D+/, ''), 10) < 80)
      throw new Error(
        `SLIMLM_CUDA_ARCHS: '${arch}' is older than sm_80; the kernels need bf16 mma.sync (sm_80+)`,
      );
  }
  return archs;
}

/**
 * nvcc's -gencode flags for the targets: sm_XX gives machine code (from compute_XX), compute_XX
 * embeds PTX.
 */
export function gencodeFlags(archs) {
  return archs.map((arch) => {
    const number = arch.replace(/^\D+/, '');
    const code = arch.startsWith('sm_') ? `sm_${number}` : `compute_${number}`;
    return `-gencode=arch=compute_${number},code=${code}`;
  });
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
  if (platform !== 'linux-x64') return { skip: `no CUDA build for ${platform} (Linux x64 only)` };
  const toolkit = findToolkit(env, exists, listDir);
  if (!toolkit)
    return { skip: 'nvcc not found (looked in PATH, CUDA_HOME, CUDA_PATH, /usr/local/cuda*)' };
  try {
    return { toolkit, archs: cudaArchs(env) };
  } catch (error) {
    return { skip: error.message };
  }
}

// As a command, for binding.gyp: prints one value (lists space-separated, for gyp's <!@(...)).
answerCommandLine(import.meta.url, '@slimlm/kernels-cuda:', () => {
  const toolkit = findToolkit();
  if (!toolkit) throw new Error('nvcc not found');
  const archs = cudaArchs();
  return {
    nvcc: () => toolkit.nvcc,
    home: () => toolkit.home,
    gencode: () => gencodeFlags(archs).join(' '),
    archs: () => archs.join(','),
  };
});

// Builds the ROCm addon with node-gyp and hipcc from kernels-cuda's sources, one compiler process
// at a time (SLIMLM_ROCM_BUILD_JOBS raises that). Where there is no hipcc, or the platform is not
// Linux x64, it says so in one line and exits 0, so that installing never fails for a user
// without ROCm; a failed build does the same, and importing the package then reports the addon
// unavailable.
import { buildWithNodeGyp } from '@slimlm/kernels-cuda/scripts/gpu-build.mjs';
import { buildPlan } from './rocm-toolkit.mjs';

const PREFIX = '@slimlm/kernels-rocm:';
const plan = buildPlan();
if (plan.skip) {
  console.warn(`${PREFIX} ${plan.skip}; skipping the ROCm build (backend "rocm" unavailable)`);
  process.exit(0);
}
const { toolkit, targets } = plan;
buildWithNodeGyp({
  prefix: PREFIX,
  label: 'ROCm',
  backend: 'rocm',
  detail: `${toolkit.hipcc} for ${targets.join(', ')}`,
  addonPath: 'build/Release/slimlm_rocm.node',
  stampPath: 'build/slimlm-rocm.json',
  config: { hipcc: toolkit.hipcc, targets, node: process.version },
  jobs: process.env.SLIMLM_ROCM_BUILD_JOBS ?? '1',
  // Debian's hipcc targets NVIDIA when nvcc is on PATH unless told otherwise.
  env: { HIP_PLATFORM: 'amd' },
});

// Builds the CUDA addon with node-gyp and nvcc, one compiler process at a time (CUDA compiles are
// heavy; SLIMLM_CUDA_BUILD_JOBS raises that). Where there is no nvcc, or the platform is not Linux
// x64, it says so in one line and exits 0, so that installing never fails for a CPU-only user; a
// failed build does the same, and importing the package then reports the addon unavailable.
import { buildPlan } from './cuda-toolkit.mjs';
import { buildWithNodeGyp } from './gpu-build.mjs';

const PREFIX = '@slimlm/kernels-cuda:';
const plan = buildPlan();
if (plan.skip) {
  console.warn(`${PREFIX} ${plan.skip}; skipping the CUDA build (backend "cuda" unavailable)`);
  process.exit(0);
}
const { toolkit, archs } = plan;
buildWithNodeGyp({
  prefix: PREFIX,
  label: 'CUDA',
  backend: 'cuda',
  detail: `${toolkit.nvcc} for ${archs.join(', ')}`,
  addonPath: 'build/Release/slimlm_cuda.node',
  stampPath: 'build/slimlm-cuda.json',
  config: { home: toolkit.home, archs, node: process.version },
  jobs: process.env.SLIMLM_CUDA_BUILD_JOBS ?? '1',
});

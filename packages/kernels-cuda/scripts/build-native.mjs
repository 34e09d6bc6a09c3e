// Builds the CUDA addon with node-gyp and nvcc, one compiler process at a time (CUDA compiles are
// heavy; SLIMLM_CUDA_BUILD_JOBS raises that). Where there is no nvcc, or the platform is not Linux
// x64, it says so in one line and exits 0, so that installing never fails for a CPU-only user; a
// failed build does the same, and importing the package then reports the addon unavailable.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { buildPlan } from './cuda-toolkit.mjs';

const PREFIX = '@slimlm/kernels-cuda:';
const plan = buildPlan();
if (plan.skip) {
  console.warn(`${PREFIX} ${plan.skip}; skipping the CUDA build (backend "cuda" unavailable)`);
  process.exit(0);
}
const { toolkit, archs } = plan;

// A first build, or one for another toolkit or other targets, starts clean (make does not know the
// objects depend on the targets); otherwise make rebuilds only what changed.
const STAMP = 'build/slimlm-cuda.json';
const config = JSON.stringify({ home: toolkit.home, archs, node: process.version });
const configured =
  existsSync('build/Makefile') && existsSync(STAMP) && readFileSync(STAMP, 'utf8') === config;

const jobs = process.env.SLIMLM_CUDA_BUILD_JOBS ?? '1';
// npm runs scripts with its own node-gyp in npm_config_node_gyp; outside npm, node-gyp on PATH.
const nodeGyp = (args) => {
  const bundled = process.env.npm_config_node_gyp;
  return bundled
    ? spawnSync(process.execPath, [bundled, ...args, '--loglevel=warn'], { stdio: 'inherit' })
    : spawnSync('node-gyp', [...args, '--loglevel=warn'], { stdio: 'inherit' });
};

const started = process.hrtime.bigint();
const result = nodeGyp([configured ? 'build' : 'rebuild', `--jobs=${jobs}`]);
if (result.status !== 0) {
  // No stale addon may load; the objects (and the stamp of a configuration that built before)
  // stay, so that the next build only redoes what failed.
  rmSync('build/Release/slimlm_cuda.node', { force: true });
  const why = result.error ? result.error.message : `node-gyp exited with ${result.status}`;
  console.warn(`${PREFIX} the CUDA build failed (${why}); backend "cuda" unavailable`);
  process.exit(0);
}
writeFileSync(STAMP, config);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(
  `${PREFIX} built with ${toolkit.nvcc} for ${archs.join(', ')} in ${seconds.toFixed(0)} s`,
);

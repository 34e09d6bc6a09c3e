// Runs node-gyp for a GPU addon the way both GPU packages build theirs (kernels-cuda with nvcc,
// kernels-rocm with hipcc from the same sources): incremental when the toolchain and targets are
// those of the last build, clean otherwise; one line when it fails, never a failed install.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Builds in the current folder (`label`: 'CUDA' or 'ROCm'; `detail`: the compiler and targets,
 * for the closing line). `config` is what the objects depend on beyond their sources
 * (compiler, targets, Node): a build with another config starts clean, since make does not know
 * it. Returns true when the addon was built; otherwise it has said why (prefixed by `prefix`)
 * and removed any stale addon.
 */
export function buildWithNodeGyp({
  prefix,
  label,
  backend,
  detail,
  addonPath,
  stampPath,
  config,
  jobs,
  env,
}) {
  const stamp = JSON.stringify(config);
  const configured =
    existsSync('build/Makefile') &&
    existsSync(stampPath) &&
    readFileSync(stampPath, 'utf8') === stamp;
  // npm runs scripts with its own node-gyp in npm_config_node_gyp; outside npm, node-gyp on PATH.
  const bundled = process.env.npm_config_node_gyp;
  const args = [configured ? 'build' : 'rebuild', `--jobs=${jobs}`, '--loglevel=warn'];
  const options = { stdio: 'inherit', env: { ...process.env, ...env } };
  const started = process.hrtime.bigint();
  const result = bundled
    ? spawnSync(process.execPath, [bundled, ...args], options)
    : spawnSync('node-gyp', args, options);
  if (result.status !== 0) {
    // No stale addon may load; the objects (and the stamp of a configuration that built before)
    // stay, so that the next build only redoes what failed.
    rmSync(addonPath, { force: true });
    const why = result.error ? result.error.message : `node-gyp exited with ${result.status}`;
    console.warn(`${prefix} the ${label} build failed (${why}); backend "${backend}" unavailable`);
    return false;
  }
  writeFileSync(stampPath, stamp);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`${prefix} built with ${detail} in ${seconds.toFixed(0)} s`);
  return true;
}

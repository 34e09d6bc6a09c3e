// What both GPU packages' build scripts share (kernels-cuda with nvcc, kernels-rocm with hipcc
// from the same sources): running node-gyp, and the small file-system and command-line helpers
// of their toolkit finders.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Runs node-gyp in the current folder: incremental when the toolchain and targets are those of the
 * last build, clean otherwise; one line when it fails, never a failed install. Builds (`label`: 'CUDA' or 'ROCm'; `detail`: the compiler and targets,
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

/** Compares dotted versions numerically ("13.0" > "12.8" > "9.2"). */
export function compareVersions(a, b) {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** A folder's entries, or none where it cannot be read. */
export function safeList(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Where a path really is (through symlinks), or the path itself where it does not resolve. */
export function safeRealpath(path) {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * When the module at `moduleUrl` is run as a command (binding.gyp's `<!(node script <what>)`):
 * prints the value named by its first argument, from `values()` (called only then), and exits 2
 * with the names where the argument is none of them. A `values` that throws (no toolkit) prints
 * its message and exits 1.
 */
export function answerCommandLine(moduleUrl, prefix, values) {
  if (!(process.argv[1] && safeRealpath(process.argv[1]) === fileURLToPath(moduleUrl))) return;
  let table;
  try {
    table = values();
  } catch (error) {
    console.error(`${prefix} ${error.message}`);
    process.exit(1);
  }
  const what = process.argv[2];
  if (!(what in table)) {
    console.error(`usage: ${process.argv[1]} ${Object.keys(table).join('|')}`);
    process.exit(2);
  }
  console.log(table[what]());
}

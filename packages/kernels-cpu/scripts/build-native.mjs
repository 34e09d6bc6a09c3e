// Builds the native addon with node-gyp. A failed build must not fail the install: the package
// then reports in one line, on import, that it is unavailable, and the reference backend is used.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

const unsupported = process.platform !== 'linux' || process.arch !== 'x64';
if (unsupported) {
  console.warn(
    `@slimlm/kernels-cpu: no native build for ${process.platform}-${process.arch} (Linux x64 only)`,
  );
  process.exit(0);
}

// npm runs scripts with its own node-gyp in npm_config_node_gyp; outside npm, node-gyp on PATH.
const args = ['rebuild', '--loglevel=warn', `--jobs=${process.env.SLIMLM_BUILD_JOBS ?? 'max'}`];
const bundled = process.env.npm_config_node_gyp;
const result = bundled
  ? spawnSync(process.execPath, [bundled, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit' });
if (result.status !== 0) {
  rmSync('build', { recursive: true, force: true });
  const why = result.error ? result.error.message : `node-gyp exited with ${result.status}`;
  console.warn(
    `@slimlm/kernels-cpu: the native build failed (${why}); the "cpu" backend will be unavailable`,
  );
}

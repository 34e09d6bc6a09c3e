// Test helpers shared by the GPU packages' tests (kernels-cuda, kernels-rocm): a file system made
// of a list of paths, for the toolkit searches, and importing a package in a fresh process.
import { spawnSync } from 'node:child_process';

/** `exists` and `listDir` over the given paths (files and the folders that hold them). */
export function fakeFileSystem(paths) {
  const exists = (p) => paths.includes(p);
  const listDir = (dir) => [
    ...new Set(
      paths
        .filter((p) => p.startsWith(`${dir}/`))
        .map((p) => p.slice(dir.length + 1).split('/')[0]),
    ),
  ];
  return { exists, listDir };
}

/**
 * Imports `packageName` in a fresh Node process run in `cwd` with `env` added, and reports what it
 * registered: the process's status and output, and `result` = { available, backends }.
 */
export function importInFreshProcess(packageName, cwd, env = {}) {
  const script = `import('${packageName}').then(async (m) => {
    const core = await import('@slimlm/core');
    console.log(JSON.stringify({ available: m.available, backends: core.listBackends().map((b) => b.name) }));
  })`;
  const run = spawnSync(process.execPath, ['-e', script], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { ...run, result: JSON.parse(run.stdout) };
}

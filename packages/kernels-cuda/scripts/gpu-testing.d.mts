// Types of gpu-testing.mjs, for the tests.
import type { SpawnSyncReturns } from 'node:child_process';

export function fakeFileSystem(paths: string[]): {
  exists: (path: string) => boolean;
  listDir: (dir: string) => string[];
};
export function importInFreshProcess(
  packageName: string,
  cwd: string,
  env?: Record<string, string>,
): SpawnSyncReturns<string> & { result: { available: boolean; backends: string[] } };

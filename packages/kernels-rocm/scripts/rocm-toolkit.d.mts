// Types of rocm-toolkit.mjs, for the tests.
export interface Toolkit {
  hipcc: string;
  home: string;
  lib: string;
  source: string;
}
type Env = Record<string, string | undefined>;
type Exists = (path: string) => boolean;
type ListDir = (dir: string) => string[];

export const DEFAULT_TARGETS: string[];
export function hipccCandidates(env?: Env, listDir?: ListDir): [string, string][];
export function findToolkit(env?: Env, exists?: Exists, listDir?: ListDir): Toolkit | undefined;
export function rocmTargets(env?: Env): string[];
export function offloadFlags(targets: readonly string[]): string[];
export function nativeSources(resolve?: (id: string) => string): string;
export function sourceFiles(native?: string, from?: string, listDir?: ListDir): string[];
export function buildPlan(
  env?: Env,
  platform?: string,
  exists?: Exists,
  listDir?: ListDir,
): { skip: string } | { toolkit: Toolkit; targets: string[] };

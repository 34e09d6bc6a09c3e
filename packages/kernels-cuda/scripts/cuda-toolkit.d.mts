// Types of cuda-toolkit.mjs, for the tests.
export interface Toolkit {
  nvcc: string;
  home: string;
  source: string;
}
type Env = Record<string, string | undefined>;
type Exists = (path: string) => boolean;
type ListDir = (dir: string) => string[];

export const DEFAULT_ARCHS: string[];
export function nvccCandidates(env?: Env, listDir?: ListDir): [string, string][];
export function findToolkit(env?: Env, exists?: Exists, listDir?: ListDir): Toolkit | undefined;
export function cudaArchs(env?: Env): string[];
export function gencodeFlags(archs: readonly string[]): string[];
export function buildPlan(
  env?: Env,
  platform?: string,
  exists?: Exists,
  listDir?: ListDir,
): { skip: string } | { toolkit: Toolkit; archs: string[] };

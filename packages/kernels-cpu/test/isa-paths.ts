import { afterAll } from 'vitest';
import { available, cpuInfo, setIsa, setThreads } from '../src/index';

/** Every ISA this CPU runs, best first (none without the addon). */
export const isas = available ? cpuInfo().supportedIsas : [];

/** The thread count the pool starts with. */
export const defaultThreads = available ? cpuInfo().threads : 1;

/**
 * For a test file that switches ISA and thread count: puts back the best ISA and the default
 * threads when the file is done, so the next file runs as a user's process would.
 */
export function restoreIsaAndThreadsAfterAll(): void {
  afterAll(() => {
    if (!available) return;
    setIsa(isas[0]!);
    setThreads(defaultThreads);
  });
}

import { attentionChecks } from './attention.checks';
import type { GpuCheck } from './check';
import { conformanceChecks } from './conformance.checks';
import { linalgChecks } from './linalg.checks';
import { matmulChecks } from './matmul.checks';
import { opsChecks } from './ops.checks';
import { quantizedChecks } from './quantized.checks';
import { runtimeChecks } from './runtime.checks';

export type { GpuCheck } from './check';

/** Every check that needs a GPU, by family. */
export const gpuChecks: Record<string, GpuCheck[]> = {
  runtime: runtimeChecks,
  conformance: conformanceChecks,
  ops: opsChecks,
  quantized: quantizedChecks,
  matmul: matmulChecks,
  attention: attentionChecks,
  linalg: linalgChecks,
};

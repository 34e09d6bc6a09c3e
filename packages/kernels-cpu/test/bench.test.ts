import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { available } from '../src/index';

const packageRoot = new URL('..', import.meta.url);
// The bench imports the built package (dist/), as a user of it would.
const built = existsSync(new URL('dist/index.js', packageRoot));

interface BenchRecord {
  kernel: string;
  dtype: string | null;
  m: number | null;
  n: number | null;
  k: number | null;
  threads: number;
  ms: number;
  gflops: number | null;
  gbps: number | null;
  min_ms: number;
  max_ms: number;
  reps: number;
}

describe.runIf(available && built)('bench/run.mjs --smoke --json', () => {
  it('prints one JSON array of well-formed records covering every kernel', () => {
    const run = spawnSync(process.execPath, ['bench/run.mjs', '--smoke', '--json'], {
      cwd: packageRoot,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const records = JSON.parse(run.stdout) as BenchRecord[];
    expect(Array.isArray(records)).toBe(true);
    const isCount = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;
    const isRate = (v: unknown) => v === null || (typeof v === 'number' && v >= 0);
    for (const r of records) {
      expect(typeof r.kernel).toBe('string');
      expect([null, 'f32', 'f16', 'bf16']).toContain(r.dtype);
      for (const dim of [r.m, r.n, r.k]) expect(dim === null || isCount(dim)).toBe(true);
      expect(isCount(r.threads)).toBe(true);
      expect(r.ms).toBeGreaterThan(0);
      expect(r.min_ms).toBeLessThanOrEqual(r.ms);
      expect(r.max_ms).toBeGreaterThanOrEqual(r.ms);
      expect(isCount(r.reps)).toBe(true);
      expect(isRate(r.gflops) && isRate(r.gbps)).toBe(true);
    }
    const kernels = new Set(records.map((r) => r.kernel));
    for (const kernel of ['gemm', 'gemv', 'attention']) expect(kernels).toContain(kernel);
    for (const dtype of ['f32', 'f16', 'bf16'])
      expect(records.some((r) => r.kernel === 'gemv' && r.dtype === dtype && r.m === 1)).toBe(true);
    // f32 activations by weights as stored.
    for (const dtype of ['f16', 'bf16'])
      expect(records.some((r) => r.kernel === 'gemv_mixed' && r.dtype === dtype)).toBe(true);
    // GPTQ kernels with f32 and int8 activations, and onnxruntime's MatMulNBits beside them
    // (onnxruntime-node is a devDependency: present wherever the tests run).
    for (const kernel of ['qgemv', 'qgemm'])
      for (const activations of ['f32', 'int8'])
        expect(
          records.some(
            (r) =>
              r.kernel === kernel &&
              (r as unknown as { activations?: string }).activations === activations,
          ),
        ).toBe(true);
    expect(records.some((r) => r.kernel === 'ort_matmulnbits' && r.m === 1)).toBe(true);
    // The peers appear exactly when OpenBLAS could be compiled against; then all of them do.
    const peers = ['openblas_sgemm', 'openblas_sgemv', 'read_bandwidth'];
    const present = peers.filter((kernel) => kernels.has(kernel));
    expect(present.length === 0 || present.length === peers.length).toBe(true);
    if (present.length > 0) {
      const coretypes = new Set(
        records
          .filter((r) => r.kernel === 'openblas_sgemm')
          .map((r) => (r as unknown as { coretype: string }).coretype),
      );
      expect([...coretypes].sort()).toEqual(['SkylakeX', 'default']);
    }
  });
});

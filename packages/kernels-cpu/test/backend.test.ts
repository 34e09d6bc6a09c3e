import { spawnSync } from 'node:child_process';
import {
  broadcastTo,
  capabilities,
  listBackends,
  matmul,
  memory,
  scope,
  type Tensor,
  tensor,
  transpose,
  withBackend,
} from '@slimlm/core';
import { runConformance, sample } from '@slimlm/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { available, CPU, cpuInfo, FALLBACK_OPS, setIsa } from '../src/index';

const onLinuxX64 = process.platform === 'linux' && process.arch === 'x64';
const isas = available ? cpuInfo().supportedIsas : [];
const best = isas[0];

afterAll(() => {
  if (best) setIsa(best);
});

/** Max |actual - expected| / (1 + |expected|) over two tensors' values. */
function relativeError(actual: Tensor, expected: Tensor): number {
  const a = actual.dataSync();
  const e = expected.dataSync();
  expect(a.length).toBe(e.length);
  let worst = 0;
  for (let i = 0; i < e.length; i++)
    worst = Math.max(worst, Math.abs(a[i]! - e[i]!) / (1 + Math.abs(e[i]!)));
  return worst;
}

describe('the cpu backend', () => {
  it('loads its addon on Linux x64 and registers above the reference backend', () => {
    expect(available).toBe(onLinuxX64);
    if (!available) return;
    const backends = listBackends();
    const cpu = backends.find((b) => b.name === CPU)!;
    const reference = backends.find((b) => b.name === 'reference')!;
    expect(cpu.priority).toBeGreaterThan(reference.priority);
    expect(cpuInfo().threads).toBeGreaterThanOrEqual(1);
  });

  it.runIf(available)(
    'has a kernel for every op the reference backend has: native or listed as fallback',
    () => {
      const reference = capabilities('reference').kernels;
      const cpu = capabilities(CPU).kernels;
      expect(reference.filter((op) => !cpu.includes(op))).toEqual([]);
      // Ops another package defines, with their reference kernels there: @slimlm/gptq's fused
      // column loop, RTN and packing. Their native kernels are tested against those references
      // in packages/gptq.
      expect(cpu.filter((op) => !reference.includes(op)).sort()).toEqual([
        'gptqPackCodes',
        'gptqQuantizeBlock',
        'gptqRtnQuantize',
      ]);
      const native = cpu.filter((op) => !FALLBACK_OPS.includes(op));
      expect(native).toContain('matmul');
    },
  );

  it.runIf(available)('takes SLIMLM_CPU_ISA to force a path, and refuses an unknown one', () => {
    const script =
      "import('@slimlm/kernels-cpu').then((m) => console.log(m.available ? m.cpuInfo().isa : 'none'))";
    const run = (isa: string) =>
      spawnSync(process.execPath, ['-e', script], {
        env: { ...process.env, SLIMLM_CPU_ISA: isa },
        encoding: 'utf8',
      });
    for (const isa of isas) expect(run(isa).stdout.trim()).toBe(isa);
    const unknown = run('sse9');
    expect(unknown.stdout.trim()).toBe('none');
    expect(unknown.stderr.trim()).toMatch(
      /^@slimlm\/kernels-cpu: native addon unavailable \(unknown ISA 'sse9'.*\); using the reference backend$/,
    );
  });
});

/** Builds the operands (views included) on each backend and multiplies them there. */
function onBoth(build: () => [Tensor, Tensor]): { actual: Tensor; expected: Tensor } {
  const expected = withBackend('reference', () => matmul(...build()));
  const actual = withBackend(CPU, () => matmul(...build()));
  expect(actual.backend.name).toBe(CPU);
  expect(actual.shape).toEqual(expected.shape);
  return { actual, expected };
}

describe.runIf(available).each(isas)('matmul on the %s path', (isa) => {
  it('matches the reference on odd shapes, views and broadcast batches', () => {
    setIsa(isa);
    scope(() => {
      const cases: (() => [Tensor, Tensor])[] = [
        () => [sample([1, 1], 1), sample([1, 1], 2)],
        () => [sample([7, 13], 3), sample([13, 5], 4)],
        () => [sample([3, 33, 65], 5), sample([3, 65, 17], 6)],
        () => [transpose(sample([40, 9], 7)), sample([40, 31], 8)],
        () => [sample([2, 1, 6, 10], 9), transpose(sample([4, 3, 10], 10))],
        () => [sample([5, 0], 11), sample([0, 3], 12)],
        () => [sample([1, 128], 13), transpose(sample([300, 128], 14))],
        () => [broadcastTo(sample([8, 16], 15), [3, 8, 16]), sample([3, 16, 24], 16)],
      ];
      for (const build of cases) {
        const { actual, expected } = onBoth(build);
        expect(relativeError(actual, expected)).toBeLessThanOrEqual(1e-5);
      }
    });
  });

  it('reads f16 and bf16 operands and rounds the result like the reference', () => {
    setIsa(isa);
    scope(() => {
      for (const dtype of ['f16', 'bf16'] as const) {
        const half = (shape: number[], seed: number) =>
          tensor(sample(shape, seed).dataSync(), { shape, dtype });
        const { actual, expected } = onBoth(() => [
          half([9, 37], 20),
          transpose(half([11, 37], 21)),
        ]);
        expect(actual.dtype).toBe(dtype);
        // f32 accumulation against the reference's f64 can land one half-ulp step apart.
        expect(relativeError(actual, expected)).toBeLessThanOrEqual(
          dtype === 'f16' ? 2e-3 : 1.6e-2,
        );
      }
    });
  });

  it('passes the conformance suite', () => {
    setIsa(isa);
    const failures = runConformance(CPU).filter((r) => r.status === 'fail');
    expect(failures).toEqual([]);
  });
});

describe.runIf(available)('memory', () => {
  it('leaks nothing', () => {
    const before = memory(CPU);
    withBackend(CPU, () =>
      scope(() => {
        matmul(sample([16, 16], 1), sample([16, 16], 2));
      }),
    );
    expect(memory(CPU).tensors).toBe(before.tensors);
    expect(memory(CPU).bytes).toBe(before.bytes);
  });
});

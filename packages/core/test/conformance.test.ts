import { afterEach, describe, expect, it } from 'vitest';
import {
  add,
  type Backend,
  capabilities,
  type DType,
  getKernel,
  memory,
  registerBackend,
  registerKernel,
  removeBackend,
  type StorageArray,
  setBackend,
  type Tensor,
  unregisterKernel,
} from '../src/index';
import {
  type ConformanceCase,
  conformanceCases,
  runConformance,
  sample,
} from '../src/testing/index';

describe('conformance suite on the reference backend', () => {
  it('passes every case', () => {
    const before = memory('reference').tensors;
    const results = runConformance('reference');
    expect(results.length).toBe(conformanceCases().length);
    expect(results.filter((r) => r.status !== 'pass')).toEqual([]);
    expect(memory('reference').tensors).toBe(before);
  });

  it('has unique case names', () => {
    const names = conformanceCases().map((c) => c.name);
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  });

  it('covers every kernel registered on the reference backend', () => {
    const covered = new Set(conformanceCases().map((c) => c.op));
    const uncovered = capabilities('reference').kernels.filter((op) => !covered.has(op));
    expect(uncovered).toEqual([]);
  });

  it('names only ops that have a reference kernel', () => {
    const kernels = new Set(capabilities('reference').kernels);
    expect(
      conformanceCases()
        .filter((c) => !kernels.has(c.op))
        .map((c) => `${c.name}: ${c.op}`),
    ).toEqual([]);
  });
});

/** A backend whose storage is plain typed arrays and whose `add` is slightly wrong, to catch. */
class SloppyBackend implements Backend {
  readonly name = 'sloppy';
  readonly dtypes: readonly DType[] = ['f32'];
  readonly stridedInputs = true;
  allocate = (_dtype: DType, length: number) => new Float32Array(length);
  free(): void {}
  write(handle: unknown, _dtype: DType, data: StorageArray, offset: number): void {
    (handle as Float32Array).set(data, offset);
  }
  read(handle: unknown, _dtype: DType, offset: number, length: number): StorageArray {
    return (handle as Float32Array).slice(offset, offset + length);
  }
}

describe('runConformance', () => {
  const cases: ConformanceCase[] = [
    {
      name: 'add within tolerance',
      op: 'add',
      build: () => add(sample([3, 4], 1), sample([4], 2)),
      atol: 1e-2,
      rtol: 0,
    },
    {
      name: 'add exactly',
      op: 'add',
      build: () => add(sample([3, 4], 1), sample([4], 2)),
      atol: 1e-6,
      rtol: 0,
    },
    {
      name: 'a build that throws',
      op: 'add',
      build: (): Tensor => {
        throw new Error('broken build');
      },
    },
  ];

  afterEach(async () => {
    removeBackend('sloppy');
    for (const op of ['fill', 'copy', 'add']) unregisterKernel(op, 'sloppy');
    await setBackend('reference');
  });

  it('compares a backend against the reference and reports failures and skips', () => {
    registerBackend('sloppy', () => new SloppyBackend());
    for (const op of ['fill', 'copy'] as const)
      registerKernel({ op, backend: 'sloppy', fn: getKernel(op, 'reference')! });
    const exactAdd = getKernel('add', 'reference')!;
    registerKernel({
      op: 'add',
      backend: 'sloppy',
      fn: (args) => {
        exactAdd(args);
        const out = args.outputs[0]!.storage.handle as Float32Array;
        for (let i = 0; i < out.length; i++) out[i]! += 1e-3;
      },
    });
    const [loose, exact, broken] = runConformance('sloppy', { cases });
    expect(loose).toMatchObject({ status: 'pass' });
    expect(loose!.maxError).toBeCloseTo(1e-3, 5);
    expect(exact).toMatchObject({ status: 'fail' });
    expect(exact!.message).toMatch(/output 0 element 0/);
    expect(broken).toMatchObject({ status: 'fail', message: 'broken build' });
    expect(runConformance('sloppy', { cases, lacks: ['add'] }).map((r) => r.status)).toEqual([
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect(memory('sloppy').tensors).toBe(0);
  });
});

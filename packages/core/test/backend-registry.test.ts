import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  activeBackend,
  add,
  assign,
  type Backend,
  backendsWithKernel,
  capabilities,
  type DType,
  getBackend,
  getKernel,
  type KernelFn,
  listBackends,
  memory,
  mul,
  registerBackend,
  registerGradient,
  registerKernel,
  removeBackend,
  runKernel1,
  SlimlmError,
  type StorageArray,
  scope,
  setBackend,
  sub,
  type Tensor,
  tensor,
  toBackend,
  toBf16Bits,
  toF16Bits,
  transpose,
  unregisterKernel,
  withBackend,
  zeros,
} from '../src/index';
import { gradcheck } from '../src/testing/index';
import { errorOf } from './helpers';

/**
 * A minimal backend of the kind a plugin package would write: typed arrays as storage, three
 * dtypes, and kernels only for fill, copy and add. It declares `stridedInputs: false`, so the
 * dispatcher must hand its compute kernels contiguous inputs.
 */
class TypedArrayBackend implements Backend {
  readonly dtypes: readonly DType[] = ['f32', 'f64', 'i32'];
  readonly stridedInputs = false;
  frees = 0;
  disposed = false;

  constructor(readonly name: string) {}

  allocate(dtype: DType, length: number): StorageArray {
    if (dtype === 'f64') return new Float64Array(length);
    if (dtype === 'i32') return new Int32Array(length);
    return new Float32Array(length);
  }

  free(): void {
    this.frees++;
  }

  write(handle: unknown, _dtype: DType, data: StorageArray, offset: number): void {
    (handle as StorageArray).set(data, offset);
  }

  read(handle: unknown, _dtype: DType, offset: number, length: number): StorageArray {
    return (handle as StorageArray).slice(offset, offset + length);
  }

  dispose(): void {
    this.disposed = true;
  }
}

const TYPED = 'typed';
const TEST_BACKENDS = [TYPED, 'broken-gpu', 'lazy', 'liar', 'first', 'second'];

const storageOf = (t: Tensor) => t.storage.handle as StorageArray;

/** Storage positions of `t`'s elements in row-major order, for any strides. */
function positionsOf(t: Tensor): number[] {
  const out: number[] = [];
  const visit = (axis: number, position: number): void => {
    if (axis === t.rank) {
      out.push(position);
      return;
    }
    for (let i = 0; i < t.shape[axis]!; i++) visit(axis + 1, position + i * t.strides[axis]!);
  };
  visit(0, t.offset);
  return t.size === 0 ? [] : out;
}

/** Strides of every input the typed backend's `add` kernel was given. */
const addInputsSeen: { strides: readonly number[]; contiguous: boolean }[] = [];

const typedAdd: KernelFn = ({ inputs: [a, b], outputs: [out] }) => {
  for (const input of [a!, b!]) {
    addInputsSeen.push({ strides: input.strides, contiguous: input.isContiguous });
    if (!input.isContiguous) throw new Error('typed add: received a strided input');
  }
  const x = storageOf(a!);
  const y = storageOf(b!);
  const z = storageOf(out!);
  for (let i = 0; i < out!.size; i++) z[i] = x[a!.offset + i]! + y[b!.offset + i]!;
};

registerKernel<{ value: number }>({
  op: 'fill',
  backend: TYPED,
  fn: ({ outputs: [out], attrs }) => {
    storageOf(out!).fill(attrs.value);
  },
});
// copy must accept strided inputs and outputs on every backend: it is how views get materialised.
registerKernel({
  op: 'copy',
  backend: TYPED,
  fn: ({ inputs: [x], outputs: [out] }) => {
    const from = storageOf(x!);
    const to = storageOf(out!);
    const source = positionsOf(x!);
    positionsOf(out!).forEach((target, i) => {
      to[target] = from[source[i]!]!;
    });
  },
});
registerKernel({ op: 'add', backend: TYPED, fn: typedAdd });

async function rejectionOf(promise: Promise<unknown>): Promise<SlimlmError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SlimlmError) return error;
    throw error;
  }
  throw new Error('expected a SlimlmError, the promise resolved');
}

let typed: TypedArrayBackend;
let referenceBefore = memory('reference');

beforeEach(() => {
  typed = new TypedArrayBackend(TYPED);
  registerBackend(TYPED, () => typed, { priority: 10 });
  referenceBefore = memory('reference');
});

afterEach(async () => {
  for (const name of TEST_BACKENDS) removeBackend(name);
  await setBackend('reference');
  expect(activeBackend().name).toBe('reference');
  expect(memory(TYPED).tensors).toBe(0);
  expect(memory(TYPED).bytes).toBe(0);
  expect(memory('reference').tensors).toBe(referenceBefore.tensors);
});

describe('choosing a backend', () => {
  it('takes the highest-priority backend that initialises and records why others failed', async () => {
    registerBackend(
      'broken-gpu',
      () => {
        throw new Error('no device found');
      },
      { priority: 20 },
    );
    const chosen = await setBackend();
    expect(chosen).toBe(typed);
    expect(activeBackend()).toBe(typed);
    const listed = listBackends();
    expect(listed.map((b) => b.name)).toEqual(['broken-gpu', TYPED, 'reference']);
    expect(listed[0]).toEqual({
      name: 'broken-gpu',
      priority: 20,
      initialised: false,
      active: false,
      failure: 'no device found',
    });
    expect(listed[1]).toEqual({ name: TYPED, priority: 10, initialised: true, active: true });
    expect(listed[2]).toMatchObject({ name: 'reference', priority: 0, active: false });
    scope(() => {
      expect(tensor([1, 2]).backend).toBe(typed);
      expect(zeros([3]).backend.name).toBe(TYPED);
      expect(zeros([3], { backend: 'reference' }).backend.name).toBe('reference');
    });
  });

  it('lists every backend and its reason when none initialises', async () => {
    const reference = getBackend('reference');
    removeBackend(TYPED);
    removeBackend('reference');
    try {
      registerBackend(
        'first',
        () => {
          throw new Error('driver too old');
        },
        { priority: 2 },
      );
      registerBackend('second', async () => Promise.reject(new Error('no adapter')), {
        priority: 1,
      });
      const error = await rejectionOf(setBackend());
      expect(error.code).toBe('NO_BACKEND');
      expect(error.message).toMatch(/first: driver too old/);
      expect(error.message).toMatch(/second: no adapter/);
      const synchronous = errorOf(() => activeBackend());
      expect(synchronous.code).toBe('NO_BACKEND');
      expect(synchronous.message).toMatch(/first: driver too old/);
      expect(synchronous.message).toMatch(
        /second: initialises asynchronously; call await setBackend\('second'\)/,
      );
    } finally {
      registerBackend('reference', () => reference, { priority: 0 });
    }
  });

  it('needs await setBackend for a backend that initialises asynchronously', async () => {
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    registerBackend('lazy', () => gate.then(() => new TypedArrayBackend('lazy')), { priority: 30 });
    expect(errorOf(() => getBackend('lazy')).message).toMatch(
      /'lazy' initialises asynchronously; call await setBackend\('lazy'\)/,
    );
    expect(errorOf(() => tensor([1], { backend: 'lazy' })).code).toBe('NO_BACKEND');
    expect(() => withBackend('lazy', () => 0)).toThrow(/await setBackend/);
    // With no active backend, the synchronous choice skips 'lazy' for the next best.
    await setBackend(TYPED);
    removeBackend(TYPED);
    expect(activeBackend().name).toBe('reference');
    expect(listBackends().find((b) => b.name === 'lazy')?.initialised).toBe(false);
    open();
    const lazy = await setBackend('lazy');
    expect(lazy.name).toBe('lazy');
    expect(getBackend('lazy')).toBe(lazy);
    const t = tensor([1, 2]);
    expect(t.backend).toBe(lazy);
    expect(Array.from(t.dataSync())).toEqual([1, 2]);
    t.dispose();
  });

  it('initialises an asynchronous backend once, however many callers ask at the same time', async () => {
    let factoryCalls = 0;
    registerBackend('lazy', async () => {
      factoryCalls++;
      return new TypedArrayBackend('lazy');
    });
    const [first, second] = await Promise.all([setBackend('lazy'), setBackend('lazy')]);
    expect(first).toBe(second);
    expect(getBackend('lazy')).toBe(first);
    expect(factoryCalls).toBe(1);
  });

  it('checks that a factory builds the backend it was registered as', async () => {
    registerBackend('liar', () => new TypedArrayBackend('someone-else'));
    const error = await rejectionOf(setBackend('liar'));
    expect(error.code).toBe('NO_BACKEND');
    expect(error.message).toMatch(/'liar' calls itself 'someone-else'/);
  });

  it('refuses duplicate and unknown names', async () => {
    expect(errorOf(() => registerBackend(TYPED, () => typed)).code).toBe('INVALID_ARGUMENT');
    const unknown = await rejectionOf(setBackend('nope'));
    expect(unknown.code).toBe('NO_BACKEND');
    expect(unknown.message).toMatch(/'nope' is registered \(registered: .*\)/);
    expect(unknown.message).toMatch(/reference/);
    expect(unknown.message).toMatch(/typed/);
    expect(() => getBackend('nope')).toThrow(/'nope'/);
    expect(() => removeBackend('nope')).not.toThrow();
  });

  it('falls back to the next best when the active backend is removed, disposing it', async () => {
    await setBackend(TYPED);
    expect(activeBackend()).toBe(typed);
    removeBackend(TYPED);
    expect(typed.disposed).toBe(true);
    expect(activeBackend().name).toBe('reference');
  });

  it('switches the backend inside withBackend and restores it, even on a throw', () => {
    scope(() => {
      const inside = withBackend(TYPED, () => {
        expect(withBackend('reference', () => activeBackend().name)).toBe('reference');
        return tensor([1, 2]);
      });
      expect(inside.backend).toBe(typed);
      expect(activeBackend().name).toBe('reference');
      expect(() =>
        withBackend(TYPED, () => {
          throw new Error('inside');
        }),
      ).toThrow('inside');
      expect(activeBackend().name).toBe('reference');
    });
  });
});

describe('capabilities and memory', () => {
  it('reports dtypes, stridedInputs and the kernels a backend has', () => {
    expect(capabilities(TYPED)).toEqual({
      name: TYPED,
      dtypes: ['f32', 'f64', 'i32'],
      stridedInputs: false,
      kernels: ['add', 'copy', 'fill'],
    });
    const reference = capabilities('reference');
    expect(reference.stridedInputs).toBe(true);
    expect(reference.kernels).toEqual(expect.arrayContaining(['add', 'copy', 'fill', 'sum']));
    expect(reference.kernels).toEqual([...reference.kernels].sort());
    expect(backendsWithKernel('fill')).toEqual(expect.arrayContaining(['reference', TYPED]));
  });

  it('counts memory per backend and frees through the backend', () => {
    const t = zeros([2, 3], { backend: TYPED, dtype: 'f64' });
    expect(memory(TYPED)).toMatchObject({ tensors: 1, bytes: 48 });
    t.dispose();
    expect(memory(TYPED)).toMatchObject({ tensors: 0, bytes: 0 });
    expect(typed.frees).toBe(1);
  });
});

describe('dispatch errors', () => {
  it('names the op and the backend when a kernel is missing', () => {
    scope(() => {
      const a = tensor([1, 2], { backend: TYPED });
      const before = memory(TYPED).tensors;
      const missing = errorOf(() => sub(a, a));
      expect(missing.code).toBe('NO_KERNEL');
      expect(missing.message).toMatch(
        /op 'sub' has no kernel on backend 'typed'.*kernels exist on: reference/,
      );
      const nowhere = errorOf(() => runKernel1('noSuchOp', [a], {}, { shape: [2], dtype: 'f32' }));
      expect(nowhere.code).toBe('NO_KERNEL');
      expect(nowhere.message).toMatch(/'noSuchOp'.*no backend has a kernel for 'noSuchOp'/);
      expect(memory(TYPED).tensors).toBe(before);
    });
  });

  it('refuses a dtype the backend does not support', () => {
    const stored = errorOf(() => tensor([1], { dtype: 'f16', backend: TYPED }));
    expect(stored.code).toBe('UNSUPPORTED_DTYPE');
    expect(stored.message).toMatch(
      /tensor: backend 'typed' does not support dtype f16 \(it has f32, f64, i32\)/,
    );
    const computed = errorOf(() => zeros([2], { dtype: 'bf16', backend: TYPED }));
    expect(computed.code).toBe('UNSUPPORTED_DTYPE');
    expect(computed.message).toMatch(/fill.*'typed'.*bf16/);
  });

  it('refuses to mix backends in one op, naming both', () => {
    scope(() => {
      const onReference = tensor([1, 2]);
      const onTyped = tensor([3, 4], { backend: TYPED });
      const error = errorOf(() => add(onReference, onTyped));
      expect(error.code).toBe('BACKEND_MISMATCH');
      expect(error.message).toMatch(/add.*'reference'.*'typed'.*toBackend/);
      expect(() => add(onTyped, onReference)).toThrow(/'typed'.*'reference'/);
      expect(errorOf(() => assign(zeros([2]), onTyped)).code).toBe('BACKEND_MISMATCH');
    });
  });
});

describe('running on a plugin backend', () => {
  it('copies tensors between backends with toBackend', () => {
    scope(() => {
      const x = tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      x.requiresGrad = true;
      const moved = toBackend(transpose(x), TYPED);
      expect(moved.backend).toBe(typed);
      expect(moved.isContiguous).toBe(true);
      expect(moved.requiresGrad).toBe(false);
      expect(moved.toArray()).toEqual([
        [1, 4],
        [2, 5],
        [3, 6],
      ]);
      const back = toBackend(add(moved, moved), getBackend('reference'));
      expect(back.backend.name).toBe('reference');
      expect(back.toArray()).toEqual([
        [2, 8],
        [4, 10],
        [6, 12],
      ]);
      expect(x.toArray()).toEqual([
        [1, 2, 3],
        [4, 5, 6],
      ]);
    });
  });

  it('hands a backend without stridedInputs contiguous copies of views', () => {
    scope(() => {
      addInputsSeen.length = 0;
      const before = memory(TYPED).tensors;
      const a = tensor([1, 2, 3, 4, 5, 6], { backend: TYPED, shape: [2, 3] });
      const b = tensor([10, 20, 30, 40, 50, 60], { backend: TYPED, shape: [3, 2] });
      expect(add(a, transpose(b)).toArray()).toEqual([
        [11, 32, 53],
        [24, 45, 66],
      ]);
      expect(add(a, tensor([100, 200, 300], { backend: TYPED })).toArray()).toEqual([
        [101, 202, 303],
        [104, 205, 306],
      ]);
      expect(add(a, 0.5).toArray()).toEqual([
        [1.5, 2.5, 3.5],
        [4.5, 5.5, 6.5],
      ]);
      expect(addInputsSeen.length).toBe(6);
      expect(addInputsSeen.every((seen) => seen.contiguous)).toBe(true);
      expect(transpose(b).toArray()).toEqual([
        [10, 30, 50],
        [20, 40, 60],
      ]);
      // a, b, the [3] tensor, two transposed views and three sums: no temporary copy is left.
      expect(memory(TYPED).tensors).toBe(before + 8);
    });
  });

  it('accepts kernels registered from outside, added or replacing', () => {
    const original = getKernel('add', TYPED)!;
    try {
      scope(() => {
        const a = tensor([1, 2], { backend: TYPED });
        expect(errorOf(() => mul(a, a)).code).toBe('NO_KERNEL');
        registerKernel({
          op: 'mul',
          backend: TYPED,
          fn: ({ inputs: [x, y], outputs: [out] }) => {
            const z = storageOf(out!);
            for (let i = 0; i < out!.size; i++)
              z[i] = storageOf(x!)[x!.offset + i]! * storageOf(y!)[y!.offset + i]!;
          },
        });
        expect(backendsWithKernel('mul')).toContain(TYPED);
        expect(Array.from(mul(a, a).dataSync())).toEqual([1, 4]);
        let calls = 0;
        registerKernel({
          op: 'add',
          backend: TYPED,
          fn: (args) => {
            calls++;
            original(args);
          },
        });
        expect(Array.from(add(a, a).dataSync())).toEqual([2, 4]);
        expect(calls).toBe(1);
        unregisterKernel('mul', TYPED);
        expect(errorOf(() => mul(a, a)).code).toBe('NO_KERNEL');
        expect(capabilities(TYPED).kernels).toEqual(['add', 'copy', 'fill']);
      });
    } finally {
      registerKernel({ op: 'add', backend: TYPED, fn: original });
      unregisterKernel('mul', TYPED);
    }
  });
});

describe('an op defined outside core', () => {
  /** x^3: a complete op from the public plugin API alone (op function, kernel, gradient). */
  function cube(x: Tensor): Tensor {
    if (x.dtype !== 'f64' && x.dtype !== 'f32' && x.dtype !== 'f16' && x.dtype !== 'bf16') {
      throw new SlimlmError('DTYPE_MISMATCH', `cube: needs a float tensor, got ${x.dtype}`);
    }
    return runKernel1('cube', [x], {}, { shape: x.shape, dtype: x.dtype });
  }

  const encoders: Partial<Record<DType, (values: number[]) => StorageArray>> = {
    f64: (values) => Float64Array.from(values),
    f32: (values) => Float32Array.from(values),
    f16: (values) => Uint16Array.from(values, toF16Bits),
    bf16: (values) => Uint16Array.from(values, toBf16Bits),
  };

  beforeEach(() => {
    registerKernel({
      op: 'cube',
      backend: 'reference',
      fn: ({ inputs: [x], outputs: [out] }) => {
        // dataSync reads any strides and widens halves; the backend's write stores the result.
        const cubes = Array.from(x!.dataSync(), (v) => v ** 3);
        out!.backend.write(out!.storage.handle, out!.dtype, encoders[out!.dtype]!(cubes), 0);
      },
    });
    registerGradient('cube', ({ inputs: [x], gradOutputs: [dy] }) =>
      scope(() => [mul(dy!, mul(mul(x!, x!), 3))]),
    );
  });

  afterEach(() => {
    unregisterKernel('cube', 'reference');
  });

  it('runs its kernel, on strided and half-precision inputs too', () => {
    scope(() => {
      expect(capabilities('reference').kernels).toContain('cube');
      expect(cube(tensor([1, 2, -3])).toArray()).toEqual([1, 8, -27]);
      expect(
        cube(
          transpose(
            tensor([
              [1, 2],
              [3, 4],
            ]),
          ),
        ).toArray(),
      ).toEqual([
        [1, 27],
        [8, 64],
      ]);
      // 30^3 = 27000 lies halfway between the f16 neighbours 26992 and 27008: ties to even.
      expect(Array.from(cube(tensor([1.5, 30], { dtype: 'f16' })).dataSync())).toEqual([
        3.375, 27008,
      ]);
      expect(() => cube(tensor([1], { dtype: 'i32' }))).toThrow(/cube.*i32/);
      const elsewhere = errorOf(() => cube(tensor([1], { backend: TYPED })));
      expect(elsewhere.code).toBe('NO_KERNEL');
      expect(elsewhere.message).toMatch(/'cube'.*'typed'.*kernels exist on: reference/);
    });
  });

  it('differentiates through its registered gradient', () => {
    scope(() => {
      const x = tensor(Float64Array.from([0.5, -1.25, 2, 0.1, -0.7, 1.3]), { shape: [2, 3] });
      const direct = gradcheck((a) => cube(a!), [x]);
      expect(direct.ok).toBe(true);
      expect(direct.checked).toBe(6);
      expect(gradcheck((a) => add(cube(transpose(a!)), 1), [x]).ok).toBe(true);
    });
  });
});

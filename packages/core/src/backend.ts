import type { DType, StorageArray } from './dtype';
import { SlimlmError } from './errors';

/**
 * A backend owns tensor storage and is whatever registers kernels under its name. It only moves
 * bytes; every computation is a kernel (see kernels.ts), so a backend can start small and grow.
 */
export interface Backend {
  readonly name: string;
  /** The dtypes it can store and compute. */
  readonly dtypes: readonly DType[];
  /**
   * Whether its kernels accept non-contiguous inputs (strided views). When false, the dispatcher
   * copies such inputs to contiguous storage (with this backend's `copy` kernel) before calling.
   */
  readonly stridedInputs: boolean;
  /** Allocates zero-filled storage for `length` elements and returns the backend's handle to it. */
  allocate(dtype: DType, length: number): unknown;
  free(handle: unknown): void;
  /** Copies `data` (the dtype's storage array, see dtype.ts) into elements [offset, offset+length). */
  write(handle: unknown, dtype: DType, data: StorageArray, offset: number): void;
  /** Copies elements [offset, offset+length) out to a new storage array of the dtype. */
  read(handle: unknown, dtype: DType, offset: number, length: number): StorageArray;
  /** For devices that must wait on a queue; defaults to `read`. */
  readAsync?(handle: unknown, dtype: DType, offset: number, length: number): Promise<StorageArray>;
  /** Releases the backend's own resources (device contexts, thread pools). */
  dispose?(): void;
}

export type BackendFactory = () => Backend | Promise<Backend>;

interface Registration {
  factory: BackendFactory;
  priority: number;
  instance?: Backend;
  /** The initialisation in flight, shared by every caller until it settles. */
  pending?: Promise<Backend>;
  failure?: string;
}

const registry = new Map<string, Registration>();
let active: Backend | undefined;

/**
 * Makes a backend available. The highest-priority backend that initialises becomes the default;
 * the reference backend registers itself with priority 0, native ones use higher numbers.
 */
export function registerBackend(
  name: string,
  factory: BackendFactory,
  options: { priority?: number } = {},
): void {
  if (registry.has(name)) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `registerBackend: a backend named '${name}' is already registered`,
    );
  }
  registry.set(name, { factory, priority: options.priority ?? 1 });
}

/** Removes a backend (freeing its resources); the active one falls back to the next best. */
export function removeBackend(name: string): void {
  const registration = registry.get(name);
  if (registration === undefined) return;
  registration.instance?.dispose?.();
  registry.delete(name);
  if (active?.name === name) active = undefined;
}

function initialise(name: string, registration: Registration): Backend | Promise<Backend> {
  if (registration.instance) return registration.instance;
  const accept = (backend: Backend): Backend => {
    if (backend.name !== name) {
      throw new SlimlmError(
        'NO_BACKEND',
        `backend registered as '${name}' calls itself '${backend.name}'`,
      );
    }
    registration.instance = backend;
    registration.failure = undefined;
    return backend;
  };
  if (registration.pending) return registration.pending;
  const made = registration.factory();
  if (!(made instanceof Promise)) return accept(made);
  registration.pending = made.then(accept).finally(() => {
    registration.pending = undefined;
  });
  return registration.pending;
}

function byPriority(): [string, Registration][] {
  return [...registry.entries()].sort((a, b) => b[1].priority - a[1].priority);
}

function noBackendError(reasons: string[]): SlimlmError {
  return new SlimlmError(
    'NO_BACKEND',
    `no backend could be initialised:\n${reasons.map((r) => `  - ${r}`).join('\n')}`,
  );
}

/**
 * Selects the active backend: the named one, or else the highest-priority one that initialises
 * (each failure is recorded and the next is tried). Resolves to the backend now active.
 */
export async function setBackend(name?: string): Promise<Backend> {
  if (name !== undefined) {
    const registration = registry.get(name);
    if (registration === undefined) {
      throw new SlimlmError(
        'NO_BACKEND',
        `setBackend: no backend named '${name}' is registered (registered: ${[...registry.keys()].join(', ') || 'none'}); import its package first`,
      );
    }
    active = await initialise(name, registration);
    return active;
  }
  const reasons: string[] = [];
  for (const [candidate, registration] of byPriority()) {
    try {
      active = await initialise(candidate, registration);
      return active;
    } catch (error) {
      registration.failure = (error as Error).message;
      reasons.push(`${candidate}: ${registration.failure}`);
    }
  }
  throw noBackendError(reasons);
}

/**
 * The active backend. With none chosen yet, the highest-priority backend that initialises
 * synchronously is taken; backends with asynchronous set-up need `await setBackend()` first.
 */
export function activeBackend(): Backend {
  if (active) return active;
  const reasons: string[] = [];
  for (const [candidate, registration] of byPriority()) {
    try {
      const made = initialise(candidate, registration);
      if (made instanceof Promise) {
        made.catch(() => undefined);
        reasons.push(
          `${candidate}: initialises asynchronously; call await setBackend('${candidate}')`,
        );
        continue;
      }
      active = made;
      return made;
    } catch (error) {
      registration.failure = (error as Error).message;
      reasons.push(`${candidate}: ${registration.failure}`);
    }
  }
  throw noBackendError(reasons);
}

/** An initialised backend by name (initialising it synchronously if needed). */
export function getBackend(name: string): Backend {
  const registration = registry.get(name);
  if (registration === undefined) {
    throw new SlimlmError('NO_BACKEND', `no backend named '${name}' is registered`);
  }
  const made = initialise(name, registration);
  if (made instanceof Promise) {
    made.catch(() => undefined);
    throw new SlimlmError(
      'NO_BACKEND',
      `backend '${name}' initialises asynchronously; call await setBackend('${name}') first`,
    );
  }
  return made;
}

/**
 * Runs `fn` with `name` as the active backend, then restores the previous one. Creation ops
 * inside `fn` allocate there; ops on existing tensors always run where their inputs live.
 */
export function withBackend<T>(name: string, fn: () => T): T {
  const previous = active;
  active = getBackend(name);
  try {
    return fn();
  } finally {
    active = previous;
  }
}

export interface BackendInfo {
  name: string;
  priority: number;
  initialised: boolean;
  active: boolean;
  failure?: string;
}

export function listBackends(): BackendInfo[] {
  return byPriority().map(([name, r]) => ({
    name,
    priority: r.priority,
    initialised: r.instance !== undefined,
    active: active?.name === name,
    ...(r.failure === undefined ? {} : { failure: r.failure }),
  }));
}

import type { Tensor } from './tensor';

/** Live tensors and bytes on one backend; peak bytes since the last reset. */
export interface MemoryInfo {
  tensors: number;
  bytes: number;
  peakBytes: number;
}

const counters = new Map<string, MemoryInfo>();

function countersOf(backend: string): MemoryInfo {
  let info = counters.get(backend);
  if (info === undefined) {
    info = { tensors: 0, bytes: 0, peakBytes: 0 };
    counters.set(backend, info);
  }
  return info;
}

/** Memory counters of one backend, or summed over all backends. */
export function memory(backend?: string): MemoryInfo {
  if (backend !== undefined) return { ...countersOf(backend) };
  const total: MemoryInfo = { tensors: 0, bytes: 0, peakBytes: 0 };
  for (const info of counters.values()) {
    total.tensors += info.tensors;
    total.bytes += info.bytes;
    total.peakBytes += info.peakBytes;
  }
  return total;
}

/** Starts peak tracking afresh from the bytes live now. */
export function resetPeakBytes(backend?: string): void {
  for (const [name, info] of counters) {
    if (backend === undefined || backend === name) info.peakBytes = info.bytes;
  }
}

export function countTensor(backend: string, delta: 1 | -1): void {
  countersOf(backend).tensors += delta;
}

export function countBytes(backend: string, delta: number): void {
  const info = countersOf(backend);
  info.bytes += delta;
  if (info.bytes > info.peakBytes) info.peakBytes = info.bytes;
}

// Scopes: each open scope collects the tensors made inside it.
const scopes: Set<Tensor>[] = [];

/** Called for every tensor an op or view creates, so that the innermost scope can free it. */
export function track(tensor: Tensor): void {
  scopes[scopes.length - 1]?.add(tensor);
}

/** Takes a tensor out of scope tracking: it outlives the scope and its owner must dispose it. */
export function keep<T extends Tensor>(tensor: T): T {
  for (const scope of scopes) scope.delete(tensor);
  return tensor;
}

function collectTensors(
  value: unknown,
  into: Set<Tensor>,
  isTensor: (v: unknown) => v is Tensor,
): void {
  if (isTensor(value)) {
    into.add(value);
  } else if (Array.isArray(value)) {
    for (const item of value) collectTensors(item, into, isTensor);
  } else if (value instanceof Map) {
    for (const item of value.values()) collectTensors(item, into, isTensor);
  } else if (
    value !== null &&
    typeof value === 'object' &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    for (const item of Object.values(value)) collectTensors(item, into, isTensor);
  }
}

let isTensorValue: (v: unknown) => v is Tensor = (_v): _v is Tensor => false;

/** tensor.ts installs the instanceof check here, which keeps this module free of a cycle. */
export function setTensorCheck(check: (v: unknown) => v is Tensor): void {
  isTensorValue = check;
}

/**
 * Runs `fn` and disposes every tensor created inside it, except those it returns (a tensor, or
 * tensors inside arrays, Maps and plain objects), which move to the enclosing scope, and those
 * passed to `keep`. `fn` must be synchronous.
 */
export function scope<T>(fn: () => T): T {
  const created = new Set<Tensor>();
  scopes.push(created);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const tensor of created) tensor.dispose();
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const tensor of created) tensor.dispose();
    throw new TypeError('scope: the function must be synchronous; tensors live past an await');
  }
  const returned = new Set<Tensor>();
  collectTensors(result, returned, isTensorValue);
  for (const tensor of created) {
    if (returned.has(tensor)) track(tensor);
    else tensor.dispose();
  }
  return result;
}

import type { KernelFn } from '@slimlm/core';
import { dataOf } from './data';

// Elementwise ops reach their kernels with every operand broadcast to the output's shape, and
// this backend gets them contiguous: one flat loop over matching indices is the whole kernel.
// Values are read as numbers and stored back through the typed array, which rounds to f32 or
// wraps integers, as C casts do.

export function unaryKernel(f: (x: number) => number): KernelFn {
  return ({ inputs: [x], outputs: [out] }) => {
    const source = dataOf(x!);
    const target = dataOf(out!);
    const from = x!.offset;
    const to = out!.offset;
    for (let i = 0; i < out!.size; i++) target[to + i] = f(source[from + i]!);
  };
}

export function binaryKernel(f: (a: number, b: number) => number): KernelFn {
  return ({ inputs: [a, b], outputs: [out] }) => {
    const left = dataOf(a!);
    const right = dataOf(b!);
    const target = dataOf(out!);
    const [fromA, fromB, to] = [a!.offset, b!.offset, out!.offset];
    for (let i = 0; i < out!.size; i++) target[to + i] = f(left[fromA + i]!, right[fromB + i]!);
  };
}

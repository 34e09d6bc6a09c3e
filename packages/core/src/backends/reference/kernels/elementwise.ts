import type { KernelFn } from '../../../kernels';
import { registerKernel } from '../../../kernels';
import { REFERENCE } from '../backend';
import { readValues, writeValues } from '../strided';

/** A kernel applying `f` to each row-major position of equally shaped inputs, in f64. */
export function mapKernel(f: (...values: number[]) => number): KernelFn {
  return ({ inputs, outputs: [out] }) => {
    const operands = inputs.map(readValues);
    const result = new Float64Array(out!.size);
    const args = new Array<number>(operands.length);
    for (let i = 0; i < result.length; i++) {
      for (let k = 0; k < operands.length; k++) args[k] = operands[k]![i]!;
      result[i] = f(...args);
    }
    writeValues(out!, result);
  };
}

export function registerElementwise(op: string, f: (...values: number[]) => number): void {
  registerKernel({ op, backend: REFERENCE, fn: mapKernel(f) });
}

registerElementwise('add', (a, b) => a + b);
registerElementwise('sub', (a, b) => a - b);
registerElementwise('div', (a, b) => a / b);
// Math.imul keeps i32 products exact where an f64 product would lose the low bits; for floats
// (never integral above 2^53 in a way imul would misread) the plain product is used.
registerKernel({
  op: 'mul',
  backend: REFERENCE,
  fn: (args) => {
    const integer = args.outputs[0]!.dtype === 'i32';
    mapKernel(integer ? (a, b) => Math.imul(a, b) : (a, b) => a * b)(args);
  },
});
registerElementwise('neg', (a) => -a);

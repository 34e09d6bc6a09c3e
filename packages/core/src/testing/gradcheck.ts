import { grad } from '../autograd/backward';
import { noGrad } from '../autograd/tape';
import { SlimlmError } from '../errors';
import { scope } from '../memory';
import { tensor } from '../ops/creation';
import { mul } from '../ops/elementwise';
import { sum } from '../ops/reduce';
import { detach } from '../ops/view';
import { Generator } from '../random';
import type { Tensor } from '../tensor';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Allowed |analytic - numeric| is atol + rtol * |numeric| (defaults 1e-6 and 1e-5). */
  atol?: number;
  rtol?: number;
  /** Which inputs to differentiate (default: every f64 input). */
  wrt?: readonly number[];
  /** Seed of the random projection of the output (default 1). */
  seed?: number;
}

export interface GradcheckMismatch {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
}

export interface GradcheckResult {
  ok: boolean;
  maxError: number;
  /** The element with the largest error beyond tolerance, if any. */
  worst: GradcheckMismatch | null;
  checked: number;
}

/**
 * Checks autograd against central finite differences in f64: reduces `f`'s output to a scalar with
 * a random projection, then compares each input element's analytic gradient with
 * (L(x + eps) - L(x - eps)) / 2eps. Differentiated inputs must be f64; others pass through as given.
 */
export function gradcheck(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  options: GradcheckOptions = {},
): GradcheckResult {
  const { eps = 1e-6, atol = 1e-6, rtol = 1e-5, seed = 1 } = options;
  const wrt = options.wrt ?? inputs.flatMap((t, i) => (t.dtype === 'f64' ? [i] : []));
  for (const i of wrt) {
    if (inputs[i]?.dtype !== 'f64') {
      throw new SlimlmError(
        'DTYPE_MISMATCH',
        `gradcheck: input ${i} must be f64 to be checked, got ${inputs[i]?.dtype}`,
      );
    }
  }
  return scope(() => {
    const leaves = inputs.map((t, i) => {
      const leaf = detach(t);
      if (wrt.includes(i)) leaf.requiresGrad = true;
      return leaf;
    });
    const output = f(...leaves);
    const generator = new Generator(seed);
    const projection = tensor(
      Float64Array.from({ length: output.size }, () => generator.nextNormal()),
      { shape: output.shape, backend: output.backend },
    );
    const loss = (xs: Tensor[]) => sum(mul(f(...xs), projection)).item();
    const analytic = grad(
      sum(mul(output, projection)),
      wrt.map((i) => leaves[i]!),
      { allowUnused: true },
    );
    let maxError = 0;
    let worst: GradcheckMismatch | null = null;
    let checked = 0;
    wrt.forEach((inputIndex, k) => {
      const analyticValues = analytic[k]?.dataSync() ?? new Float64Array(inputs[inputIndex]!.size);
      const base = Float64Array.from(inputs[inputIndex]!.dataSync());
      for (let j = 0; j < base.length; j++) {
        const at = (value: number) =>
          noGrad(() =>
            scope(() => {
              const values = Float64Array.from(base);
              values[j] = value;
              const xs = leaves.map((leaf, i) =>
                i === inputIndex
                  ? tensor(values, { shape: leaf.shape, backend: leaf.backend })
                  : leaf,
              );
              return loss(xs);
            }),
          );
        const numeric = (at(base[j]! + eps) - at(base[j]! - eps)) / (2 * eps);
        const error = Math.abs(analyticValues[j]! - numeric);
        checked++;
        maxError = Math.max(maxError, error);
        if (
          error > atol + rtol * Math.abs(numeric) &&
          (worst === null || error > Math.abs(worst.analytic - worst.numeric))
        ) {
          worst = { input: inputIndex, index: j, analytic: analyticValues[j]!, numeric };
        }
      }
    });
    for (const g of analytic) g?.dispose();
    return { ok: worst === null, maxError, worst, checked };
  });
}

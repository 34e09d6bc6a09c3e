import { registerGradient } from '../../kernels';
import { scope } from '../../memory';
import { add, mul, sub } from '../../ops/elementwise';
import { rsqrt } from '../../ops/math';
import {
  layerNorm,
  type NormAttrs,
  rmsNorm,
  type SoftmaxAttrs,
  softmax,
} from '../../ops/normalization';
import { mean, sum } from '../../ops/reduce';
import type { Tensor } from '../../tensor';

registerGradient<SoftmaxAttrs>('softmax', ({ outputs: [y], gradOutputs: [dy], attrs }) =>
  scope(() => {
    const projection = sum(mul(dy!, y!), attrs.axis, { keepDims: true });
    return [mul(y!, sub(dy!, projection))];
  }),
);

// d/dx of x - logsumexp(x) is dy - softmax(x) * sum(dy).
registerGradient<SoftmaxAttrs>('logSoftmax', ({ inputs: [x], gradOutputs: [dy], attrs }) =>
  scope(() => {
    const total = sum(dy!, attrs.axis, { keepDims: true });
    return [sub(dy!, mul(softmax(x!, attrs.axis), total))];
  }),
);

const lastAxis = { keepDims: true } as const;

/** The mean over the last axis, kept as size 1 so that it broadcasts against rows. */
function rowMean(t: Tensor): Tensor {
  return mean(t, -1, lastAxis);
}

/** Sums a per-element product over every axis but the last: the gradient of a [D] parameter. */
function perFeature(t: Tensor): Tensor {
  return sum(
    t,
    t.shape.slice(0, -1).map((_, i) => i),
  );
}

/**
 * Both norms compute n = (x - c) * r per row, then y = n * weight + bias. With g = dy * weight
 * and D features, dx = r * (g - mean(g) - n * mean(g * n)) for layerNorm (c = mean, r = rsqrt of
 * the variance + eps), and dx = r * (g - n * mean(g * n)) for rmsNorm (c = 0, r = rsqrt of the
 * mean square + eps), whose c does not depend on x. dweight = sum(dy * n), dbias = sum(dy), both
 * over all but the last axis.
 */
function normGradient(
  inputs: readonly Tensor[],
  dy: Tensor,
  attrs: NormAttrs,
  needsGrad: readonly boolean[],
  centered: boolean,
): (Tensor | null)[] {
  return scope(() => {
    const x = inputs[0]!;
    const weight = attrs.hasWeight ? inputs[1]! : null;
    const normalized = centered
      ? layerNorm(x, null, null, { eps: attrs.eps })
      : rmsNorm(x, null, { eps: attrs.eps });
    let dx: Tensor | null = null;
    if (needsGrad[0]) {
      const deviation = centered ? sub(x, rowMean(x)) : x;
      const inverseScale = rsqrt(add(rowMean(mul(deviation, deviation)), attrs.eps));
      const g = weight ? mul(dy, weight) : dy;
      const radial = mul(normalized, rowMean(mul(g, normalized)));
      const tangent = centered ? sub(sub(g, rowMean(g)), radial) : sub(g, radial);
      dx = mul(inverseScale, tangent);
    }
    const grads: (Tensor | null)[] = [dx];
    if (weight) grads.push(needsGrad[1] ? perFeature(mul(dy, normalized)) : null);
    if (attrs.hasBias) grads.push(needsGrad[grads.length] ? perFeature(dy) : null);
    return grads;
  });
}

registerGradient<NormAttrs>('rmsNorm', ({ inputs, gradOutputs: [dy], attrs, needsGrad }) =>
  normGradient(inputs, dy!, attrs, needsGrad, false),
);

registerGradient<NormAttrs>('layerNorm', ({ inputs, gradOutputs: [dy], attrs, needsGrad }) =>
  normGradient(inputs, dy!, attrs, needsGrad, true),
);

import { type GradientArgs, registerGradient } from '../../kernels';
import { scope } from '../../memory';
import { cast } from '../../ops/cast';
import { equal } from '../../ops/compare';
import { div, mul, sub } from '../../ops/elementwise';
import { exp } from '../../ops/math';
import { type ReduceAttrs, reducedCount, reducedShape, sum } from '../../ops/reduce';
import { broadcastTo, reshape } from '../../ops/view';
import type { Tensor } from '../../tensor';

/** A reduction's output (or its gradient) with the reduced axes back as size 1, to broadcast. */
function unreduce(t: Tensor, x: Tensor, attrs: ReduceAttrs): Tensor {
  return reshape(t, reducedShape(x.shape, attrs.axes, true));
}

registerGradient<ReduceAttrs>('sum', ({ inputs: [x], gradOutputs: [dy], attrs }) =>
  scope(() => [broadcastTo(unreduce(dy!, x!, attrs), x!.shape)]),
);

registerGradient<ReduceAttrs>('mean', ({ inputs: [x], gradOutputs: [dy], attrs }) =>
  scope(() => [
    broadcastTo(mul(unreduce(dy!, x!, attrs), 1 / reducedCount(x!.shape, attrs.axes)), x!.shape),
  ]),
);

// Like PyTorch's amax/amin: the gradient goes to every position equal to the extreme value,
// split evenly between ties, so that the sum over the group still equals dy.
function extremeGradient({
  inputs: [x],
  outputs: [y],
  gradOutputs: [dy],
  attrs,
}: GradientArgs<ReduceAttrs>): Tensor[] {
  return scope(() => {
    const hits = cast(equal(x!, unreduce(y!, x!, attrs)), x!.dtype);
    const ties = sum(hits, attrs.axes, { keepDims: true });
    return [mul(hits, div(unreduce(dy!, x!, attrs), ties))];
  });
}

registerGradient<ReduceAttrs>('max', extremeGradient);
registerGradient<ReduceAttrs>('min', extremeGradient);

// d logsumexp / dx = exp(x - logsumexp(x)): the softmax over the reduced axes.
registerGradient<ReduceAttrs>(
  'logsumexp',
  ({ inputs: [x], outputs: [y], gradOutputs: [dy], attrs }) =>
    scope(() => [mul(exp(sub(x!, unreduce(y!, x!, attrs))), unreduce(dy!, x!, attrs))]),
);

import { registerGradient } from '../../kernels';
import { type ReduceAttrs, reducedShape } from '../../ops/reduce';
import { broadcastTo, reshape } from '../../ops/view';

registerGradient<ReduceAttrs>('sum', ({ inputs: [x], gradOutputs: [dy], attrs }) => {
  const kept = reshape(dy!, reducedShape(x!.shape, attrs.axes, true));
  const g = broadcastTo(kept, x!.shape);
  kept.dispose();
  return [g];
});

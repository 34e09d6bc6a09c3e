import { registerGradient } from '../../kernels';
import { zerosLike } from '../../ops/creation';
import { gather, type IndexAttrs, scatterAdd } from '../../ops/indexing';
import { narrow } from '../../ops/view';

registerGradient<IndexAttrs>('concat', ({ inputs, gradOutputs: [dy], attrs, needsGrad }) => {
  let start = 0;
  return inputs.map((t, i) => {
    const length = t.shape[attrs.axis]!;
    start += length;
    return needsGrad[i] ? narrow(dy!, attrs.axis, start - length, length) : null;
  });
});

// Indices get no gradient; x's is dy added back into the slots it was read from, and entries
// read several times accumulate.
registerGradient<IndexAttrs>('gather', ({ inputs: [x, indices], gradOutputs: [dy], attrs }) => [
  scatterAdd(zerosLike(x!), indices!, dy!, attrs.axis),
  null,
]);

registerGradient<IndexAttrs>(
  'scatterAdd',
  ({ inputs: [, indices], gradOutputs: [dy], attrs, needsGrad }) => [
    dy!,
    null,
    needsGrad[2] ? gather(dy!, indices!, attrs.axis) : null,
  ],
);

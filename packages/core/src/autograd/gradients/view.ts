import { registerGradient } from '../../kernels';
import { zeros } from '../../ops/creation';
import { assign, permute, reshape, slice } from '../../ops/view';
import { sumToShape } from '../unbroadcast';

registerGradient('copy', ({ gradOutputs: [dy] }) => [dy!]);

registerGradient('reshape', ({ inputs: [x], gradOutputs: [dy] }) => [reshape(dy!, x!.shape)]);

registerGradient<{ dims: number[] }>('permute', ({ gradOutputs: [dy], attrs }) => {
  const inverse = new Array<number>(attrs.dims.length);
  attrs.dims.forEach((axis, i) => {
    inverse[axis] = i;
  });
  return [permute(dy!, inverse)];
});

registerGradient<{ begin: number[] }>('slice', ({ inputs: [x], gradOutputs: [dy], attrs }) => {
  const g = zeros(x!.shape, { dtype: x!.dtype, backend: x!.backend });
  const window = slice(
    g,
    attrs.begin,
    attrs.begin.map((b, i) => b + dy!.shape[i]!),
  );
  assign(window, dy!);
  window.dispose();
  return [g];
});

registerGradient('broadcastTo', ({ inputs: [x], gradOutputs: [dy] }) => [
  sumToShape(dy!, x!.shape),
]);

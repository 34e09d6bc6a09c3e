import {
  encodeValues,
  formatShape,
  isFloatDType,
  mul,
  neg,
  registerGradient,
  registerKernel,
  runKernel1,
  SlimlmError,
  scope,
  sub,
  type Tensor,
} from '@slimlm/core';

/**
 * (a - b)^2 elementwise, in one pass: an op defined outside core, the way any package adds its
 * own (gptq's fused column update is one). The op validates and dispatches; kernels compute.
 * Equal shapes and one float dtype; no broadcasting, to keep the example short.
 */
export function squaredDifference(a: Tensor, b: Tensor): Tensor {
  a.assertAlive('squaredDifference');
  b.assertAlive('squaredDifference');
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `squaredDifference: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} differ`,
    );
  }
  if (a.dtype !== b.dtype || !isFloatDType(a.dtype)) {
    throw new SlimlmError(
      'DTYPE_MISMATCH',
      `squaredDifference: needs two float tensors of one dtype, got ${a.dtype} and ${b.dtype}`,
    );
  }
  return runKernel1('squaredDifference', [a, b], {}, { shape: a.shape, dtype: a.dtype });
}

// Composed from ops, so it runs on whichever backend the tensors live on.
registerGradient('squaredDifference', ({ inputs: [a, b], gradOutputs: [dy] }) =>
  scope(() => {
    const da = mul(mul(sub(a!, b!), dy!), 2);
    return [da, neg(da)];
  }),
);

// The reference kernel, which conformance compares every other backend against. Written with
// the public Tensor API only (dataSync reads any strides and widens f16/bf16; encodeValues and
// the backend's write store any dtype), so it would run on any backend, just not fast.
registerKernel({
  op: 'squaredDifference',
  backend: 'reference',
  fn: ({ inputs: [a, b], outputs: [out], backend }) => {
    const left = a!.dataSync();
    const right = b!.dataSync();
    const values = new Float64Array(out!.size);
    for (let i = 0; i < values.length; i++) values[i] = (left[i]! - right[i]!) ** 2;
    backend.write(out!.storage.handle, out!.dtype, encodeValues(values, out!.dtype), out!.offset);
  },
});

import { formatShape, SlimlmError, type Tensor, tensor } from '@slimlm/core';
import type { LayerQuantization } from './gptq';
import {
  checkQuantizerSettings,
  dequantizeCode,
  findParams,
  maxCode,
  type QuantizerSettings,
  quantizeCode,
} from './quantizer';

/**
 * Round to nearest, the baseline GPTQ is measured against: each group of consecutive columns gets
 * the quantizer's parameters from its own weights, and every weight its nearest code. `loss` is
 * the plain squared error Σ (w - q)² (there is no Hessian); `damp` is 0.
 */
export function rtnQuantize(weight: Tensor, options: QuantizerSettings): LayerQuantization {
  const started = performance.now();
  checkQuantizerSettings('rtnQuantize', options);
  if (weight.rank !== 2)
    throw new SlimlmError(
      'SHAPE_MISMATCH',
      `rtnQuantize: weight must be [N, K], got ${formatShape(weight.shape)}`,
    );
  const [n, k] = weight.shape as [number, number];
  const values = weight.dataSync();
  const w = values instanceof Float32Array ? values : Float32Array.from(values);
  const maxq = maxCode(options.bits);
  const g = options.groupSize === -1 ? k : options.groupSize;
  const groups = Math.ceil(k / g);
  const scales = new Float32Array(groups * n);
  const zeros = new Float32Array(groups * n);
  const codes = new Uint8Array(n * k);
  const q = new Float32Array(n * k);
  const gIdx = new Int32Array(k);
  let loss = 0;
  for (let id = 0; id < groups; id++) {
    const start = id * g;
    const width = Math.min(g, k - start);
    const params = findParams(w, n, width, k, start, options);
    scales.set(params.scale, id * n);
    zeros.set(params.zero, id * n);
    gIdx.fill(id, start, start + width);
    for (let r = 0; r < n; r++) {
      const scale = params.scale[r]!;
      const zero = params.zero[r]!;
      for (let c = start; c < start + width; c++) {
        const x = w[r * k + c]!;
        const code = quantizeCode(x, scale, zero, maxq);
        const value = dequantizeCode(code, scale, zero);
        codes[r * k + c] = code;
        q[r * k + c] = value;
        loss += (x - value) ** 2;
      }
    }
  }
  return {
    codes,
    scales,
    zeros,
    gIdx,
    dequantized: tensor(q, { shape: [n, k] }),
    loss,
    damp: 0,
    seconds: (performance.now() - started) / 1000,
  };
}

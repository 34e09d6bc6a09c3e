import { type Backend, type Generator, rand, randn, type Tensor, zeros } from '@slimlm/core';
import type { LoraInit } from './config';

/**
 * torch's nn.Linear default, kaiming_uniform_(w, a=√5): U(-b, b) with b = gain · √(3 / fan_in)
 * and gain = √(2 / (1 + a²)), which is exactly 1 / √fan_in.
 */
function kaimingUniform(
  shape: [number, number],
  generator: Generator,
  backend: Backend | undefined,
): Tensor {
  const bound = 1 / Math.sqrt(shape[1]);
  return rand(shape, { low: -bound, high: bound, generator, ...(backend ? { backend } : {}) });
}

/**
 * A [r, in] and B [out, r] in f32 as PEFT initialises them (reset_lora_parameters): see
 * LoraInit. A is drawn before B from `generator`.
 */
export function initialMatrices(
  init: LoraInit,
  r: number,
  inFeatures: number,
  outFeatures: number,
  generator: Generator,
  backend: Backend | undefined,
): { a: Tensor; b: Tensor } {
  const on = backend ? { backend } : {};
  const a =
    init === 'gaussian'
      ? randn([r, inFeatures], { std: 1 / r, generator, ...on })
      : kaimingUniform([r, inFeatures], generator, backend);
  const b =
    init === false
      ? kaimingUniform([outFeatures, r], generator, backend)
      : zeros([outFeatures, r], on);
  return { a, b };
}

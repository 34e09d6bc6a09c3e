import type { KernelArgs } from '../../../kernels';
import { registerKernel } from '../../../kernels';
import type { QuantAttrs } from '../../../ops/quantized';
import type { Tensor } from '../../../tensor';
import { REFERENCE } from '../backend';
import { readValues, storageOf, writeValues } from '../strided';

// GPTQ dequantization and the quantized matmul, written straight from FORMATS.md. Codes of every
// bit width are read as one little-endian bit stream: code j of a packed column (qweight, along K)
// or row (qzeros, along N) occupies bits b*j .. b*j+b-1 of its words in order, which is also the
// 3-bit layout (fields straddling two words).

/** A tensor's i32 words in row-major order (its storage itself when contiguous). */
function words(t: Tensor): Int32Array {
  const data = storageOf(t) as Int32Array;
  if (t.isContiguous) return data.subarray(t.offset, t.offset + t.size);
  return Int32Array.from(readValues(t));
}

/**
 * The f32 weight [N, K] as a Float32Array: W[n, k] = scale * (q - z), with the scale widened
 * exactly, q - z an integer and the product (exact in f64) rounded once to f32.
 */
function dequantized(
  [qweight, qzeros, scales, gIdx]: readonly (Tensor | undefined)[],
  attrs: QuantAttrs,
): { weight: Float32Array; n: number; k: number } {
  const { bits, groupSize, zeroOffset } = attrs;
  const n = scales!.shape[1]!;
  const k = (qweight!.shape[0]! * 32) / bits;
  const zeroWords = qzeros!.shape[1]!;
  const codes = words(qweight!);
  const zeros = words(qzeros!);
  const scale = readValues(scales!);
  const groupOf = gIdx ? words(gIdx) : undefined;
  const mask = (1 << bits) - 1;
  // Bits of a stream of words `stride` apart starting at `base`, from bit `bit` on.
  const field = (data: Int32Array, base: number, stride: number, bit: number) => {
    const word = bit >>> 5;
    const shift = bit & 31;
    let value = data[base + word * stride]! >>> shift;
    if (shift + bits > 32) value |= data[base + (word + 1) * stride]! << (32 - shift);
    return value & mask;
  };
  const weight = new Float32Array(n * k);
  for (let kk = 0; kk < k; kk++) {
    const g = groupOf ? groupOf[kk]! : Math.floor(kk / groupSize);
    for (let nn = 0; nn < n; nn++) {
      const q = field(codes, nn, n, bits * kk);
      const z = (field(zeros, g * zeroWords, 1, bits * nn) + zeroOffset) & mask;
      weight[nn * k + kk] = scale[g * n + nn]! * (q - z);
    }
  }
  return { weight, n, k };
}

// dequantize: inputs [qweight, qzeros, scales, gIdx?] -> f32 [N, K].
registerKernel<QuantAttrs>({
  op: 'dequantize',
  backend: REFERENCE,
  fn: ({ inputs, outputs: [out], attrs }: KernelArgs<QuantAttrs>) => {
    writeValues(out!, dequantized(inputs, attrs).weight);
  },
});

// quantMatmul: inputs [x f32 [..., K] contiguous, qweight, qzeros, scales, bias?] -> f32 [..., N]:
// x @ dequantize(W)^T accumulated in f64 and rounded to f32, then the bias added in f32.
registerKernel<QuantAttrs>({
  op: 'quantMatmul',
  backend: REFERENCE,
  fn: ({ inputs: [x, qweight, qzeros, scales, bias], outputs: [out], attrs }) => {
    const { weight, n, k } = dequantized([qweight, qzeros, scales], attrs);
    const input = readValues(x!);
    const rows = input.length / k;
    const biasValues = bias ? readValues(bias) : undefined;
    const result = new Float32Array(rows * n);
    for (let i = 0; i < rows; i++) {
      const row = i * k;
      for (let j = 0; j < n; j++) {
        const column = j * k;
        let total = 0;
        for (let p = 0; p < k; p++) total += input[row + p]! * weight[column + p]!;
        total = Math.fround(total);
        result[i * n + j] = biasValues ? total + biasValues[j]! : total;
      }
    }
    writeValues(out!, result);
  },
});

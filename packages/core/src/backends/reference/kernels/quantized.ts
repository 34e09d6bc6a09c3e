import type { KernelArgs } from '../../../kernels';
import { registerKernel } from '../../../kernels';
import {
  permuteChannels,
  type QuantAttrs,
  type QuantMatmulAttrs,
  quantMatmulOperands,
} from '../../../ops/quantized';
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

/** The codes q [K, N], zero points z [G, N] and scales s [G, N] of a packed weight. */
interface Unpacked {
  codes: Int32Array;
  zeros: Int32Array;
  scales: Float32Array;
  n: number;
  k: number;
}

function unpack(
  [qweight, qzeros, scales]: readonly (Tensor | undefined)[],
  attrs: QuantAttrs,
): Unpacked {
  const { bits, zeroOffset } = attrs;
  const n = scales!.shape[1]!;
  const groups = scales!.shape[0]!;
  const k = (qweight!.shape[0]! * 32) / bits;
  const zeroWords = qzeros!.shape[1]!;
  const packedCodes = words(qweight!);
  const packedZeros = words(qzeros!);
  const mask = (1 << bits) - 1;
  // Bits of a stream of words `stride` apart starting at `base`, from bit `bit` on.
  const field = (data: Int32Array, base: number, stride: number, bit: number) => {
    const word = bit >>> 5;
    const shift = bit & 31;
    let value = data[base + word * stride]! >>> shift;
    if (shift + bits > 32) value |= data[base + (word + 1) * stride]! << (32 - shift);
    return value & mask;
  };
  const codes = new Int32Array(k * n);
  for (let kk = 0; kk < k; kk++) {
    for (let nn = 0; nn < n; nn++) codes[kk * n + nn] = field(packedCodes, nn, n, bits * kk);
  }
  const zeros = new Int32Array(groups * n);
  for (let g = 0; g < groups; g++) {
    for (let nn = 0; nn < n; nn++) {
      zeros[g * n + nn] = (field(packedZeros, g * zeroWords, 1, bits * nn) + zeroOffset) & mask;
    }
  }
  return { codes, zeros, scales: Float32Array.from(readValues(scales!)), n, k };
}

/**
 * The f32 weight [N, K] as a Float32Array: W[n, k] = scale * (q - z), with the scale widened
 * exactly, q - z an integer and the product (exact in f64) rounded once to f32.
 */
function dequantized(inputs: readonly (Tensor | undefined)[], attrs: QuantAttrs) {
  const { codes, zeros, scales, n, k } = unpack(inputs, attrs);
  const groupOf = inputs[3] ? words(inputs[3]) : undefined;
  const weight = new Float32Array(n * k);
  for (let kk = 0; kk < k; kk++) {
    const g = groupOf ? groupOf[kk]! : Math.floor(kk / attrs.groupSize);
    for (let nn = 0; nn < n; nn++) {
      weight[nn * k + kk] = scales[g * n + nn]! * (codes[kk * n + nn]! - zeros[g * n + nn]!);
    }
  }
  return { weight, n, k };
}

/** Rounds to the nearest integer, ties to even (as the f32 -> int conversion of x86). */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * quantMatmul with int8 activations (QuantAttrs.activations 'int8'), straight from its definition:
 * x quantized per row and block of L channels in f32 arithmetic (Math.fround), the integer sums
 * exact, the rest accumulated in f64 and rounded once to f32.
 */
function int8Product(
  input: Float32Array,
  rows: number,
  w: Unpacked,
  attrs: QuantAttrs,
): Float32Array {
  const { codes, zeros, scales, n, k } = w;
  const group = Math.min(attrs.groupSize, k);
  const blockLen = group % 128 === 0 ? 128 : group % 64 === 0 ? 64 : 32;
  const result = new Float32Array(rows * n);
  const xq = new Int32Array(blockLen);
  const dot = new Float64Array(n);
  for (let i = 0; i < rows; i++) {
    const total = new Float64Array(n);
    for (let b0 = 0; b0 < k; b0 += blockLen) {
      let largest = 0;
      for (let p = 0; p < blockLen; p++)
        largest = Math.max(largest, Math.abs(input[i * k + b0 + p]!));
      if (!Number.isFinite(largest)) {
        total.fill(Number.NaN);
        continue;
      }
      const inverse = largest === 0 ? 0 : Math.fround(127 / largest);
      const d = Math.fround(largest / 127);
      for (let p = 0; p < blockLen; p++)
        xq[p] = roundHalfEven(Math.fround(input[i * k + b0 + p]! * inverse));
      const g = Math.floor(b0 / attrs.groupSize);
      dot.fill(0);
      for (let p = 0; p < blockLen; p++) {
        const v = xq[p]!;
        if (v === 0) continue;
        const row = (b0 + p) * n;
        for (let j = 0; j < n; j++) dot[j]! += v * (codes[row + j]! - zeros[g * n + j]!);
      }
      for (let j = 0; j < n; j++) total[j]! += scales[g * n + j]! * d * dot[j]!;
    }
    for (let j = 0; j < n; j++) result[i * n + j] = total[j]!;
  }
  return result;
}

// dequantize: inputs [qweight, qzeros, scales, gIdx?] -> f32 [N, K].
registerKernel<QuantAttrs>({
  op: 'dequantize',
  backend: REFERENCE,
  fn: ({ inputs, outputs: [out], attrs }: KernelArgs<QuantAttrs>) => {
    writeValues(out!, dequantized(inputs, attrs).weight);
  },
});

// quantMatmul: inputs [x f32 [..., K] contiguous, qweight, qzeros, scales, bias?, perm?] -> f32
// [..., N]: x (its channels permuted by perm) @ dequantize(W)^T accumulated in f64 and rounded to
// f32, then the bias added in f32 (with activations 'int8', int8Product instead).
registerKernel<QuantMatmulAttrs>({
  op: 'quantMatmul',
  backend: REFERENCE,
  fn: ({ inputs, outputs: [out], attrs }) => {
    const { x, qweight, qzeros, scales, bias, perm } = quantMatmulOperands(inputs, attrs);
    const values = readValues(x);
    const input = perm
      ? permuteChannels(values, readValues(perm), x.shape[x.rank - 1]!)
      : Float32Array.from(values);
    const biasValues = bias ? readValues(bias) : undefined;
    if (attrs.activations === 'int8') {
      const unpacked = unpack([qweight, qzeros, scales], attrs);
      const rows = input.length / unpacked.k;
      const result = int8Product(input, rows, unpacked, attrs);
      if (biasValues) {
        for (let p = 0; p < result.length; p++) result[p]! += biasValues[p % unpacked.n]!;
      }
      writeValues(out!, result);
      return;
    }
    const { weight, n, k } = dequantized([qweight, qzeros, scales], attrs);
    const rows = input.length / k;
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

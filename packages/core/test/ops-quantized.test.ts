import { describe, expect, it } from 'vitest';
import {
  contiguous,
  type DType,
  dequantize,
  fromBf16Bits,
  fromF16Bits,
  gather,
  grad,
  matmul,
  type QuantAttrs,
  type QuantizedWeight,
  quantMatmul,
  SlimlmError,
  scope,
  sum,
  type Tensor,
  tensor,
  transpose,
} from '../src/index';
import { conformanceCases, sampleQuantizedWeight } from '../src/testing/index';
import { expectClose, normalValues, trackLeaks } from './helpers';

// A naive GPTQ reader written from FORMATS.md's prose, independent of the reference kernel's bit
// stream: 2/4/8 bits as "code j of a word at bit offset b*j", 3 bits word by word as the table
// describes it.

/** The 32 codes of three 3-bit words, following FORMATS.md's description of each word. */
function unpack3(w0: number, w1: number, w2: number): number[] {
  const codes: number[] = [];
  for (let j = 0; j < 10; j++) codes.push((w0 >>> (3 * j)) & 7);
  codes.push(((w0 >>> 30) & 3) | ((w1 & 1) << 2)); // code 10
  for (let j = 0; j < 10; j++) codes.push((w1 >>> (3 * j + 1)) & 7); // codes 11..20
  codes.push(((w1 >>> 31) & 1) | ((w2 & 3) << 1)); // code 21
  for (let j = 0; j < 10; j++) codes.push((w2 >>> (3 * j + 2)) & 7); // codes 22..31
  return codes;
}

/** Unpacks a sequence of words (one packed column or row) into `count` codes. */
function unpackSequence(words: readonly number[], bits: number, count: number): number[] {
  const codes: number[] = [];
  if (bits === 3) {
    for (let i = 0; i < words.length; i += 3)
      codes.push(...unpack3(words[i]!, words[i + 1]!, words[i + 2]!));
  } else {
    for (const word of words) {
      for (let j = 0; j < 32 / bits; j++) codes.push((word >>> (bits * j)) & ((1 << bits) - 1));
    }
  }
  return codes.slice(0, count);
}

interface Plain {
  qweight: Int32Array;
  qzeros: Int32Array;
  scales: number[];
}

function plain(w: QuantizedWeight): Plain {
  const scaleBits = w.scales.rawSync();
  const decode =
    w.scales.dtype === 'f16' ? fromF16Bits : w.scales.dtype === 'bf16' ? fromBf16Bits : Number;
  return {
    qweight: Int32Array.from(w.qweight.dataSync()),
    qzeros: Int32Array.from(w.qzeros.dataSync()),
    scales: Array.from(scaleBits, (v) => decode(v)),
  };
}

/** W [N, K] in f64 (then rounded to f32 like the contract says), straight from the formulas. */
function naiveDequantize(
  p: Plain,
  k: number,
  n: number,
  attrs: QuantAttrs,
  gIdx?: readonly number[],
): Float32Array {
  const { bits, groupSize, zeroOffset } = attrs;
  const rows = (k * bits) / 32;
  const zeroWords = (n * bits) / 32;
  const groups = Math.ceil(k / groupSize);
  const q: number[][] = [];
  for (let col = 0; col < n; col++) {
    const column = Array.from({ length: rows }, (_, r) => p.qweight[r * n + col]!);
    q.push(unpackSequence(column, bits, k));
  }
  const z: number[][] = [];
  for (let g = 0; g < groups; g++) {
    const row = Array.from(p.qzeros.subarray(g * zeroWords, (g + 1) * zeroWords));
    z.push(unpackSequence(row, bits, n).map((v) => (v + zeroOffset) % 2 ** bits));
  }
  const out = new Float32Array(n * k);
  for (let col = 0; col < n; col++) {
    for (let kk = 0; kk < k; kk++) {
      const g = gIdx ? gIdx[kk]! : Math.floor(kk / groupSize);
      out[col * k + kk] = p.scales[g * n + col]! * (q[col]![kk]! - z[g]![col]!);
    }
  }
  return out;
}

function naiveMatmulT(x: readonly number[], w: Float32Array, m: number, k: number, n: number) {
  const out: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let total = 0;
      for (let p = 0; p < k; p++) total += x[i * k + p]! * w[j * k + p]!;
      out.push(total);
    }
  }
  return out;
}

function f32(shape: number[], seed: number): Tensor {
  return tensor(
    normalValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    { shape, dtype: 'f32' },
  );
}

function expectCode(fn: () => unknown, code: string, text: RegExp): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SlimlmError);
    expect((error as SlimlmError).code).toBe(code);
    expect((error as Error).message).toMatch(text);
    return;
  }
  throw new Error(`expected a ${code} error`);
}

// [bits, K, N, groupSize]: odd-but-legal shapes (K a multiple of 32 / bits, N * bits a multiple of
// 32; both multiples of 32 at 3 bits), groups that divide K, one group of K and a partial last group.
const SHAPES: [QuantAttrs['bits'], number, number, number][] = [
  [2, 48, 16, 16],
  [2, 64, 32, 64],
  [3, 96, 32, 32],
  [3, 64, 64, 64],
  [4, 40, 24, 8],
  [4, 128, 8, 32],
  [4, 72, 16, 32],
  [8, 12, 4, 4],
  [8, 36, 12, 36],
];

describe('dequantize', () => {
  trackLeaks();

  for (const [bits, k, n, groupSize] of SHAPES) {
    for (const zeroOffset of [0, 1] as const) {
      for (const scaleDType of ['f16', 'bf16', 'f32'] as DType[]) {
        it(`matches the formulas: ${bits}-bit K=${k} N=${n} g=${groupSize} v${zeroOffset ? 1 : 2} ${scaleDType} scales`, () => {
          scope(() => {
            const attrs: QuantAttrs = { bits, groupSize, zeroOffset };
            const w = sampleQuantizedWeight(k, n, attrs, bits * 100 + k + n, scaleDType);
            const out = dequantize(w, attrs);
            expect(out.shape).toEqual([n, k]);
            expect(out.dtype).toBe('f32');
            expect(Array.from(out.dataSync())).toEqual(
              Array.from(naiveDequantize(plain(w), k, n, attrs)),
            );
          });
        });
      }
    }
  }

  it('gathers scales and zeros through an act-order g_idx', () => {
    scope(() => {
      const attrs: QuantAttrs = { bits: 4, groupSize: 16, zeroOffset: 1 };
      const w = sampleQuantizedWeight(64, 24, attrs, 5);
      const gIdx = Array.from({ length: 64 }, (_, k) => (k * 5 + 3) % 4);
      const out = dequantize(w, attrs, tensor(Int32Array.from(gIdx)));
      expect(Array.from(out.dataSync())).toEqual(
        Array.from(naiveDequantize(plain(w), 64, 24, attrs, gIdx)),
      );
    });
  });

  it('masks the v1 underflow: a stored 2^b - 1 reads as zero point 0', () => {
    scope(() => {
      for (const bits of [2, 3, 4, 8] as const) {
        const k = 32;
        const n = 32;
        const attrs: QuantAttrs = { bits, groupSize: k, zeroOffset: 1 };
        const w = sampleQuantizedWeight(k, n, attrs, 7, 'f32');
        const zeros = tensor(new Int32Array((n * bits) / 32).fill(-1), {
          shape: [1, (n * bits) / 32],
        });
        const out = dequantize({ ...w, qzeros: zeros }, attrs).dataSync();
        const codes = naiveDequantize(
          { ...plain(w), qzeros: new Int32Array((n * bits) / 32), scales: new Array(n).fill(1) },
          k,
          n,
          {
            bits,
            groupSize: k,
            zeroOffset: 0,
          },
        );
        // With z = 0 every weight is scale * q: q >= 0 everywhere.
        const scales = plain(w).scales;
        for (let col = 0; col < n; col++) {
          for (let kk = 0; kk < k; kk++) {
            expect(out[col * k + kk]).toBe(Math.fround(scales[col]! * codes[col * k + kk]!));
          }
        }
      }
    });
  });

  it('reads symmetric zero words: v1 0x77777777 and v2 0x88888888 are both z = 8 at 4 bits', () => {
    scope(() => {
      const k = 16;
      const n = 8;
      const w = sampleQuantizedWeight(k, n, { bits: 4, groupSize: k, zeroOffset: 1 }, 9);
      const v1 = dequantize(
        { ...w, qzeros: tensor(Int32Array.of(0x77777777), { shape: [1, 1] }) },
        { bits: 4, groupSize: k, zeroOffset: 1 },
      );
      const v2 = dequantize(
        { ...w, qzeros: tensor(Int32Array.of(0x88888888 | 0), { shape: [1, 1] }) },
        { bits: 4, groupSize: k, zeroOffset: 0 },
      );
      expect(Array.from(v1.dataSync())).toEqual(Array.from(v2.dataSync()));
      const p = plain(w);
      const q = naiveDequantize(
        { ...p, qzeros: Int32Array.of(0), scales: new Array(n).fill(1) },
        k,
        n,
        {
          bits: 4,
          groupSize: k,
          zeroOffset: 0,
        },
      );
      expect(v1.dataSync()[0]).toBe(Math.fround(p.scales[0]! * (q[0]! - 8)));
    });
  });

  it('reads strided packed tensors', () => {
    scope(() => {
      const attrs: QuantAttrs = { bits: 4, groupSize: 32, zeroOffset: 1 };
      const w = sampleQuantizedWeight(64, 16, attrs, 11);
      // Same values, non-contiguous storage: the transpose of a transposed copy.
      const strided = (t: Tensor) => transpose(contiguous(transpose(t)));
      const view = {
        qweight: strided(w.qweight),
        qzeros: strided(w.qzeros),
        scales: strided(w.scales),
      };
      expect(view.qweight.isContiguous).toBe(false);
      expect(Array.from(dequantize(view, attrs).dataSync())).toEqual(
        Array.from(dequantize(w, attrs).dataSync()),
      );
    });
  });
});

describe('quantMatmul', () => {
  trackLeaks();

  for (const [bits, k, n, groupSize] of SHAPES) {
    for (const zeroOffset of [0, 1] as const) {
      it(`is x @ dequantize(W)^T: ${bits}-bit K=${k} N=${n} g=${groupSize} v${zeroOffset ? 1 : 2}`, () => {
        scope(() => {
          const attrs: QuantAttrs = { bits, groupSize, zeroOffset };
          const w = sampleQuantizedWeight(k, n, attrs, bits + k * n, 'f16');
          const m = 3;
          const x = f32([m, k], k + n);
          const out = quantMatmul(x, w, attrs);
          expect(out.shape).toEqual([m, n]);
          expect(out.dtype).toBe('f32');
          const expected = naiveMatmulT(
            Array.from(x.dataSync()),
            naiveDequantize(plain(w), k, n, attrs),
            m,
            k,
            n,
          );
          expectClose(out.dataSync(), expected, { rtol: 1e-6, atol: 1e-6 });
        });
      });
    }
  }

  it('takes leading batch axes, a 1-D x and a bias of any float dtype', () => {
    scope(() => {
      const attrs: QuantAttrs = { bits: 4, groupSize: 32, zeroOffset: 1 };
      const k = 64;
      const n = 16;
      const w = sampleQuantizedWeight(k, n, attrs, 21);
      const deq = naiveDequantize(plain(w), k, n, attrs);
      const x = f32([2, 3, k], 22);
      const bias = normalValues(n, 23);
      const out = quantMatmul(x, w, attrs, tensor(bias, { dtype: 'f32' }));
      expect(out.shape).toEqual([2, 3, n]);
      const product = naiveMatmulT(Array.from(x.dataSync()), deq, 6, k, n);
      const withBias = product.map((v, i) => v + Math.fround(bias[i % n]!));
      expectClose(out.dataSync(), withBias, { rtol: 1e-6, atol: 1e-6 });
      const vector = quantMatmul(f32([k], 24), w, attrs, tensor(bias, { dtype: 'bf16' }));
      expect(vector.shape).toEqual([n]);
    });
  });

  it('records the gradient of x and the bias', () => {
    scope(() => {
      const attrs: QuantAttrs = { bits: 3, groupSize: 32, zeroOffset: 0 };
      const k = 64;
      const n = 32;
      const w = sampleQuantizedWeight(k, n, attrs, 31);
      const x = f32([2, k], 32);
      x.requiresGrad = true;
      const bias = f32([n], 33);
      bias.requiresGrad = true;
      const loss = sum(quantMatmul(x, w, attrs, bias));
      const [gx, gb] = grad(loss, [x, bias]);
      const ones = tensor(new Float32Array(2 * n).fill(1), { shape: [2, n] });
      expectClose(gx!.dataSync(), matmul(ones, dequantize(w, attrs)).dataSync(), { rtol: 1e-6 });
      expect(Array.from(gb!.dataSync())).toEqual(new Array(n).fill(2));
      gx!.dispose();
      gb!.dispose();
    });
  });

  it('reads x through a permutation as gather(x, perm, -1) @ W^T, with its gradient', () => {
    scope(() => {
      const attrs: QuantAttrs = { bits: 4, groupSize: 32, zeroOffset: 1 };
      const k = 64;
      const n = 16;
      const w = sampleQuantizedWeight(k, n, attrs, 51);
      const order = Array.from({ length: k }, (_, i) => (i * 37 + 5) % k);
      const perm = tensor(Int32Array.from(order), { dtype: 'i32', shape: [k] });
      const x = f32([3, k], 52);
      x.requiresGrad = true;
      const bias = f32([n], 53);
      const out = quantMatmul(x, w, attrs, bias, perm);
      const expected = quantMatmul(gather(x, perm, -1), w, attrs, bias);
      expect(Array.from(out.dataSync())).toEqual(Array.from(expected.dataSync()));
      const [gx] = grad(sum(out), [x]);
      const [gxExpected] = grad(sum(expected), [x]);
      expectClose(gx!.dataSync(), gxExpected!.dataSync(), { rtol: 1e-6 });
      gx!.dispose();
      gxExpected!.dispose();
      expectCode(
        () => quantMatmul(x, w, attrs, null, tensor(new Int32Array(32), { dtype: 'i32' })),
        'SHAPE_MISMATCH',
        /perm \[32\] must be \[64\]/,
      );
      const outside = Int32Array.from(order);
      outside[7] = k;
      expectCode(
        () => quantMatmul(x, w, attrs, null, tensor(outside, { dtype: 'i32' })),
        'INVALID_ARGUMENT',
        /perm\[7\] = 64 is not an input channel \(0 to 63\)/,
      );
    });
  });

  it('validates its operands, naming them', () => {
    scope(() => {
      const attrs: QuantAttrs = { bits: 4, groupSize: 32, zeroOffset: 1 };
      const w = sampleQuantizedWeight(64, 16, attrs, 41);
      expectCode(
        () => quantMatmul(f32([2, 63], 1), w, attrs),
        'SHAPE_MISMATCH',
        /x \[2, 63\].*K = 64/,
      );
      expectCode(
        () => quantMatmul(tensor([1, 2], { dtype: 'f16' }), w, attrs),
        'DTYPE_MISMATCH',
        /x must be f32/,
      );
      expectCode(
        () =>
          quantMatmul(
            f32([64], 1),
            { ...w, qweight: tensor(new Float32Array(8 * 16), { shape: [8, 16] }) },
            attrs,
          ),
        'DTYPE_MISMATCH',
        /qweight must be i32/,
      );
      expectCode(
        () => quantMatmul(f32([64], 1), w, { ...attrs, groupSize: 16 }),
        'SHAPE_MISMATCH',
        /scales \[2, 16\] has 2 groups, expected .* 4/,
      );
      expectCode(
        () =>
          quantMatmul(
            f32([64], 1),
            { ...w, qzeros: tensor(new Int32Array(6), { shape: [2, 3] }) },
            attrs,
          ),
        'SHAPE_MISMATCH',
        /qzeros \[2, 3\] does not match scales \[2, 16\] at 4 bits; expected \[2, 2\]/,
      );
      expectCode(
        () => quantMatmul(f32([64], 1), w, attrs, f32([15], 2)),
        'SHAPE_MISMATCH',
        /bias \[15\] must be \[16\]/,
      );
      expectCode(
        () => quantMatmul(f32([64], 1), w, { ...attrs, bits: 5 as 4 }),
        'INVALID_ARGUMENT',
        /bits/,
      );
      expectCode(
        () => dequantize(w, attrs, tensor(Int32Array.from({ length: 64 }, () => 2))),
        'INVALID_ARGUMENT',
        /gIdx\[0\] = 2/,
      );
      const three: QuantAttrs = { bits: 3, groupSize: 32, zeroOffset: 1 };
      const bad = {
        qweight: tensor(new Int32Array(6 * 16), { shape: [6, 16] }),
        qzeros: tensor(new Int32Array(2 * 2), { shape: [2, 2] }),
        scales: tensor(new Float32Array(2 * 16), { shape: [2, 16] }),
      };
      expectCode(
        () => dequantize(bad, three),
        'SHAPE_MISMATCH',
        /3-bit packing needs K and N multiples of 32/,
      );
    });
  });

  describe('int8 activations', () => {
    // An independent reading of the contract: quantize each block of x to int8 in f32
    // arithmetic, multiply by the dequantized weight's integer parts, scale back in f64.
    function naiveInt8(
      x: Float32Array,
      p: Plain,
      m: number,
      k: number,
      n: number,
      attrs: QuantAttrs,
    ) {
      const w = naiveDequantize(p, k, n, { ...attrs });
      const group = Math.min(attrs.groupSize, k);
      const block = group % 128 === 0 ? 128 : group % 64 === 0 ? 64 : 32;
      const out: number[] = [];
      for (let i = 0; i < m; i++) {
        const q: number[] = [];
        const d: number[] = [];
        for (let b = 0; b < k; b += block) {
          const slice = x.subarray(i * k + b, i * k + b + block);
          const largest = Math.max(...Array.from(slice, Math.abs));
          const inverse = Math.fround(127 / largest);
          d.push(Math.fround(largest / 127));
          for (const v of slice) {
            const scaled = Math.fround(v * inverse);
            const r = Math.round(scaled);
            q.push(r - scaled === 0.5 && r % 2 !== 0 ? r - 1 : r);
          }
        }
        // W = s (c - z) exactly in f64 here, so sum_k xq W = s * sum_k xq (c - z).
        for (let j = 0; j < n; j++) {
          let total = 0;
          for (let kk = 0; kk < k; kk++)
            total += d[Math.floor(kk / block)]! * q[kk]! * w[j * k + kk]!;
          out.push(total);
        }
      }
      return out;
    }

    for (const [bits, k, n, groupSize] of [
      [4, 256, 24, 128],
      [4, 128, 8, 256],
      [2, 192, 16, 64],
      [8, 96, 12, 32],
    ] as const) {
      it(`follows its definition: ${bits}-bit K=${k} N=${n} g=${groupSize}`, () => {
        scope(() => {
          const attrs: QuantAttrs = { bits, groupSize, zeroOffset: 1, activations: 'int8' };
          const w = sampleQuantizedWeight(k, n, attrs, 7 * k + n, 'f16');
          const m = 3;
          const x = f32([m, k], k - n);
          const out = quantMatmul(x, w, attrs);
          const xs = Float32Array.from(x.dataSync());
          expectClose(out.dataSync(), naiveInt8(xs, plain(w), m, k, n, attrs), {
            rtol: 1e-5,
            atol: 1e-5,
          });
          // Within int8 rounding of the f32 product: |x - d xq| <= d / 2 per element.
          const exact = quantMatmul(x, w, { ...attrs, activations: 'f32' }).dataSync();
          const scale = Math.max(...Array.from(exact, Math.abs));
          for (let i = 0; i < exact.length; i++)
            expect(Math.abs(out.dataSync()[i]! - exact[i]!)).toBeLessThan(0.05 * scale);
        });
      });
    }

    it('computes a hand-worked example exactly', () => {
      scope(() => {
        // K = 32 (one block and one group), N = 8 (one qzeros word), 4 bits, v2 zeros all 8,
        // codes q[k, j] = (k + j) % 16, scales 0.5. x[k] = k for k < 32: max 31, so
        // xq[k] = round(k * 127 / 31) and d = 31 / 127.
        const k = 32;
        const n = 8;
        const qweight = new Int32Array((k / 8) * n);
        for (let kk = 0; kk < k; kk++) {
          for (let j = 0; j < n; j++)
            qweight[(kk >> 3) * n + j]! |= ((kk + j) % 16) << ((kk & 7) * 4);
        }
        const w: QuantizedWeight = {
          qweight: tensor(qweight, { shape: [k / 8, n] }),
          qzeros: tensor(Int32Array.of(0x88888888 | 0), { shape: [1, 1] }),
          scales: tensor(new Float32Array(n).fill(0.5), { shape: [1, n] }),
        };
        const x = tensor(
          Float32Array.from({ length: k }, (_, i) => i),
          { shape: [1, k] },
        );
        const out = quantMatmul(x, w, {
          bits: 4,
          groupSize: 32,
          zeroOffset: 0,
          activations: 'int8',
        });
        const inverse = Math.fround(127 / 31);
        const xq = Array.from({ length: k }, (_, i) => {
          const v = Math.fround(i * inverse);
          const r = Math.round(v);
          return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
        });
        const d = Math.fround(31 / 127);
        const expected = Array.from({ length: n }, (_, j) => {
          let dot = 0;
          for (let kk = 0; kk < k; kk++) dot += xq[kk]! * (((kk + j) % 16) - 8);
          return 0.5 * d * dot;
        });
        expectClose(out.dataSync(), expected, { rtol: 1e-6, atol: 1e-6 });
      });
    });

    it('refuses 3 bits and shapes without whole blocks of 32', () => {
      scope(() => {
        const three: QuantAttrs = { bits: 3, groupSize: 32, zeroOffset: 1, activations: 'int8' };
        const w3 = sampleQuantizedWeight(64, 32, three, 1);
        expectCode(
          () => quantMatmul(f32([1, 64], 2), w3, three),
          'INVALID_ARGUMENT',
          /int8 activations need 2, 4 or 8 bits/,
        );
        const odd: QuantAttrs = { bits: 4, groupSize: 16, zeroOffset: 1, activations: 'int8' };
        const w4 = sampleQuantizedWeight(64, 8, odd, 3);
        expectCode(
          () => quantMatmul(f32([1, 64], 4), w4, odd),
          'SHAPE_MISMATCH',
          /multiples of 32/,
        );
        const unknown = {
          bits: 4,
          groupSize: 32,
          zeroOffset: 1,
          activations: 'int4',
        } as unknown as QuantAttrs;
        expectCode(
          () => quantMatmul(f32([1, 64], 4), w4, unknown),
          'INVALID_ARGUMENT',
          /'f32' or 'int8'/,
        );
      });
    });
  });

  it('has conformance cases for both ops', () => {
    const ops = new Set(conformanceCases().map((c) => c.op));
    expect(ops.has('quantMatmul')).toBe(true);
    expect(ops.has('dequantize')).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import {
  type Bits,
  convertQzeros,
  detectZeroFormat,
  hexWord,
  isPackable,
  packColumns,
  packRows,
  packZeros,
  storedZero,
  symmetricQzerosWords,
  unpackColumns,
  unpackRows,
  unpackZeros,
  zeroFromStored,
} from '../src/index';

/** Deterministic codes in [0, 2^bits - 1] (a small LCG, so failures reproduce). */
function randomCodes(count: number, bits: number, seed: number): Uint8Array {
  const out = new Uint8Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state >>> 24) & ((1 << bits) - 1);
  }
  return out;
}

const ALL_BITS: Bits[] = [2, 3, 4, 8];

/** The FORMATS.md 3-bit layout of one group of 32 codes, written out field by field. */
function spec3BitWords(c: ArrayLike<number>): [number, number, number] {
  let w0 = 0;
  for (let j = 0; j <= 9; j++) w0 |= c[j]! << (3 * j);
  w0 |= (c[10]! & 0b11) << 30;
  let w1 = (c[10]! >> 2) & 1;
  for (let j = 0; j <= 9; j++) w1 |= c[11 + j]! << (3 * j + 1);
  w1 |= (c[21]! & 1) << 31;
  let w2 = (c[21]! >> 1) & 0b11;
  for (let j = 0; j <= 9; j++) w2 |= c[22 + j]! << (3 * j + 2);
  return [w0 >>> 0, w1 >>> 0, w2 >>> 0];
}

describe('packRows / unpackRows (qweight, along K)', () => {
  for (const bits of ALL_BITS) {
    for (const [K, N] of [
      [32, 1],
      [64, 3],
      [128, 96],
      [256, 17],
    ] as const) {
      it(`round-trips ${bits}-bit codes [${K}, ${N}] bit-exactly`, () => {
        const codes = randomCodes(K * N, bits, K * 31 + N * 7 + bits);
        const words = packRows(codes, K, N, bits);
        expect(words.length).toBe(((K * bits) / 32) * N);
        expect(unpackRows(words, K, N, bits)).toEqual(codes);
        // Int32Array codes pack the same.
        expect(packRows(Int32Array.from(codes), K, N, bits)).toEqual(words);
      });
    }
  }

  it('puts code j of a 2/4/8-bit word at bit offset b*j, lowest bits first', () => {
    for (const bits of [2, 4, 8] as const) {
      const per = 32 / bits;
      const K = 32;
      const N = 2;
      const codes = randomCodes(K * N, bits, bits);
      const words = packRows(codes, K, N, bits);
      for (let r = 0; r < (K * bits) / 32; r++) {
        for (let n = 0; n < N; n++) {
          let expected = 0;
          for (let j = 0; j < per; j++) expected |= codes[(r * per + j) * N + n]! << (bits * j);
          expect(words[r * N + n]! >>> 0).toBe(expected >>> 0);
        }
      }
    }
  });

  it('lays 3-bit codes out exactly as FORMATS.md (codes 10 and 21 straddle words)', () => {
    const K = 64;
    const N = 3;
    const codes = randomCodes(K * N, 3, 99);
    const words = packRows(codes, K, N, 3);
    for (let chunk = 0; chunk < K / 32; chunk++) {
      for (let n = 0; n < N; n++) {
        const column = Array.from({ length: 32 }, (_, i) => codes[(chunk * 32 + i) * N + n]!);
        const expected = spec3BitWords(column);
        for (let w = 0; w < 3; w++) expect(words[(chunk * 3 + w) * N + n]! >>> 0).toBe(expected[w]);
      }
    }
  });

  it('refuses codes out of range and K that does not fill whole words', () => {
    expect(() => packRows(new Uint8Array(32).fill(16), 32, 1, 4)).toThrow(/code 16 .* 4 bits/);
    expect(() => packRows(new Uint8Array(16), 16, 1, 3)).toThrow(/multiple of 32/);
    expect(() => packRows(new Uint8Array(4), 4, 1, 4)).toThrow(/whole int32 words/);
    expect(() => packRows(new Uint8Array(10), 32, 1, 4)).toThrow(/10 elements/);
    expect(() => packRows(new Uint8Array(32), 32, 1, 5 as Bits)).toThrow(/2, 3, 4 or 8/);
  });
});

describe('packColumns / unpackColumns (qzeros, along N)', () => {
  for (const bits of ALL_BITS) {
    for (const [G, N] of [
      [1, 32],
      [3, 64],
      [7, 256],
    ] as const) {
      it(`round-trips ${bits}-bit codes [${G}, ${N}] bit-exactly`, () => {
        const codes = randomCodes(G * N, bits, G * 13 + N + bits);
        const words = packColumns(codes, G, N, bits);
        expect(words.length).toBe((G * N * bits) / 32);
        expect(unpackColumns(words, G, N, bits)).toEqual(codes);
      });
    }
  }

  it('packs output channel c*(32/b)+j of group g into word (g, c) at bit b*j', () => {
    const codes = randomCodes(2 * 64, 4, 5);
    const words = packColumns(codes, 2, 64, 4);
    for (let g = 0; g < 2; g++) {
      for (let c = 0; c < 8; c++) {
        let expected = 0;
        for (let j = 0; j < 8; j++) expected |= codes[g * 64 + c * 8 + j]! << (4 * j);
        expect(words[g * 8 + c]! >>> 0).toBe(expected >>> 0);
      }
    }
  });

  it('lays 3-bit zero points out exactly as FORMATS.md', () => {
    const codes = randomCodes(64, 3, 3);
    const words = packColumns(codes, 1, 64, 3);
    for (let chunk = 0; chunk < 2; chunk++) {
      const expected = spec3BitWords(codes.subarray(chunk * 32, chunk * 32 + 32));
      for (let w = 0; w < 3; w++) expect(words[chunk * 3 + w]! >>> 0).toBe(expected[w]);
    }
  });
});

describe('zero points, v1 (gptq) and v2 (gptq_v2)', () => {
  it('writes the symmetric qzeros words FORMATS.md lists', () => {
    const words = (bits: Bits, format: 'gptq' | 'gptq_v2') =>
      symmetricQzerosWords(bits, format).map(hexWord);
    expect(words(4, 'gptq')).toEqual(['0x77777777']);
    expect(words(4, 'gptq_v2')).toEqual(['0x88888888']);
    expect(words(2, 'gptq')).toEqual(['0x55555555']);
    expect(words(2, 'gptq_v2')).toEqual(['0xaaaaaaaa']);
    expect(words(8, 'gptq')).toEqual(['0x7f7f7f7f']);
    expect(words(8, 'gptq_v2')).toEqual(['0x80808080']);
    // 3 bits: z = 4 (v2) or 3 (v1) in every field of 32, three words that repeat.
    expect(words(3, 'gptq')).toEqual(['0xdb6db6db', '0xb6db6db6', '0x6db6db6d']);
    expect(words(3, 'gptq_v2')).toEqual(['0x24924924', '0x49249249', '0x92492492']);
    // ...and packZeros of symmetric z produces them.
    const half = new Float32Array(2 * 64).fill(8);
    const v1 = packZeros(half, 2, 64, 4, 'gptq');
    expect([...v1].every((w) => w >>> 0 === 0x77777777)).toBe(true);
    const v2 = packZeros(half, 2, 64, 4, 'gptq_v2');
    expect([...v2].every((w) => w >>> 0 === 0x88888888)).toBe(true);
  });

  it('stores asymmetric z = 0 in v1 as 2^b - 1 and reads it back as 0 with the mask', () => {
    for (const bits of ALL_BITS) {
      const max = (1 << bits) - 1;
      expect(storedZero(0, bits, 'gptq')).toBe(max);
      expect(zeroFromStored(max, bits, 'gptq')).toBe(0);
      const zeros = new Float32Array(64); // all z = 0
      const words = packZeros(zeros, 1, 64, bits, 'gptq');
      expect([...words].every((w) => w === -1)).toBe(true); // every bit set: 0xffffffff
      expect([...unpackZeros(words, 1, 64, bits, 'gptq')]).toEqual(new Array(64).fill(0));
      expect([...unpackZeros(words, 1, 64, bits, 'gptq_v2')]).toEqual(new Array(64).fill(max));
    }
  });

  for (const bits of ALL_BITS) {
    it(`converts ${bits}-bit qzeros v1 <-> v2 field by field`, () => {
      const G = 3;
      const N = 96;
      const z = randomCodes(G * N, bits, 17 * bits);
      const v1 = packZeros(z, G, N, bits, 'gptq');
      const v2 = packZeros(z, G, N, bits, 'gptq_v2');
      expect(convertQzeros(v1, G, N, bits, 'gptq', 'gptq_v2')).toEqual(v2);
      expect(convertQzeros(v2, G, N, bits, 'gptq_v2', 'gptq')).toEqual(v1);
      expect(unpackZeros(v1, G, N, bits, 'gptq')).toEqual(z);
      expect(unpackZeros(v2, G, N, bits, 'gptq_v2')).toEqual(z);
    });
  }

  it('shows why a per-word constant is wrong at 3 bits', () => {
    // Adding 0x24924924-style constants word by word carries across the straddling fields.
    const z = randomCodes(32, 3, 7);
    const v1 = packZeros(z, 1, 32, 3, 'gptq');
    const perWord = Int32Array.from(
      v1.map((w, i) => (w + [0x24924924, 0x49249249, 0x92492492][i]!) | 0),
    );
    const fieldWise = convertQzeros(v1, 1, 32, 3, 'gptq', 'gptq_v2');
    expect(unpackZeros(fieldWise, 1, 32, 3, 'gptq_v2')).toEqual(z);
    expect(perWord).not.toEqual(fieldWise);
  });

  for (const bits of ALL_BITS) {
    it(`detects ${bits}-bit v2 zero points mislabelled as v1 from the symmetric words`, () => {
      const G = 2;
      const N = 64;
      const symmetric = new Float32Array(G * N).fill(1 << (bits - 1));
      const v2Words = packZeros(symmetric, G, N, bits, 'gptq_v2');
      const v1Words = packZeros(symmetric, G, N, bits, 'gptq');
      const mislabelled = detectZeroFormat(v2Words, G, N, bits, 'gptq', 'layer0.qzeros');
      expect(mislabelled.format).toBe('gptq_v2');
      expect(mislabelled.mislabelled).toBe(true);
      expect(mislabelled.reason).toContain('layer0.qzeros');
      expect(mislabelled.reason).toContain(hexWord(symmetricQzerosWords(bits, 'gptq_v2')[0]!));
      expect(mislabelled.symmetricWords.gptq).toEqual(symmetricQzerosWords(bits, 'gptq'));

      const honest = detectZeroFormat(v1Words, G, N, bits, 'gptq');
      expect(honest).toMatchObject({ format: 'gptq', mislabelled: false });
      const honestV2 = detectZeroFormat(v2Words, G, N, bits, 'gptq_v2');
      expect(honestV2).toMatchObject({ format: 'gptq_v2', mislabelled: false });
      // v1 symmetric words under a v2 label are v1.
      expect(detectZeroFormat(v1Words, G, N, bits, 'gptq_v2')).toMatchObject({
        format: 'gptq',
        mislabelled: true,
      });
      // Asymmetric zero points vary: the declared format stands.
      const asym = packZeros(randomCodes(G * N, bits, bits), G, N, bits, 'gptq');
      expect(detectZeroFormat(asym, G, N, bits, 'gptq').format).toBe('gptq');
    });
  }

  it('says which shapes reference loaders can read', () => {
    expect(isPackable(64, 32)).toBe(true);
    expect(isPackable(172, 64)).toBe(false);
    expect(isPackable(64, 172)).toBe(false);
  });
});

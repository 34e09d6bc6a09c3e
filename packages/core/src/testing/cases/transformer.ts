import { scaledDotProductAttention } from '../../ops/attention';
import { tensor } from '../../ops/creation';
import { crossEntropy } from '../../ops/loss';
import { applyRotary, rotaryTables } from '../../ops/rotary';
import { permute, slice } from '../../ops/view';
import type { Tensor } from '../../tensor';
import type { ConformanceCase } from '../conformance';
import { sample } from './core';

/** An additive [batch, 1, 1, keys] mask hiding (-Infinity) batch 0's first `padded` keys. */
function paddingMask(batch: number, keyLength: number, padded: number): Tensor {
  const values = Float32Array.from({ length: batch * keyLength }, (_, i) =>
    Math.floor(i / keyLength) === 0 && i % keyLength < padded ? Number.NEGATIVE_INFINITY : 0,
  );
  return tensor(values, { shape: [batch, 1, 1, keyLength] });
}

export const transformerCases: ConformanceCase[] = [
  {
    name: 'applyRotary over every channel',
    op: 'applyRotary',
    build: () => {
      const { cos, sin } = rotaryTables([0, 1, 2, 5, 9], 8);
      return applyRotary(sample([2, 3, 5, 8], 101), cos, sin);
    },
  },
  {
    name: 'applyRotary partial (rotaryDim 4 of 10) with per-batch tables and a strided x',
    op: 'applyRotary',
    build: () => {
      const { cos, sin } = rotaryTables(
        tensor(new Int32Array([3, 4, 5, 7, 8, 9]), { shape: [2, 1, 3] }),
        4,
      );
      const x = permute(sample([2, 3, 2, 10], 102), [0, 2, 1, 3]);
      return applyRotary(x, cos, sin, { rotaryDim: 4 });
    },
  },
  {
    name: 'scaledDotProductAttention, grouped-query and causal prefill',
    op: 'scaledDotProductAttention',
    build: () =>
      scaledDotProductAttention(
        sample([2, 8, 5, 16], 103),
        sample([2, 4, 5, 16], 104),
        sample([2, 4, 5, 16], 105),
        {
          causal: true,
        },
      ),
  },
  {
    name: 'scaledDotProductAttention, one decoded query over a cache with a padding mask',
    op: 'scaledDotProductAttention',
    build: () =>
      scaledDotProductAttention(
        sample([2, 4, 1, 8], 106),
        sample([2, 2, 7, 8], 107),
        sample([2, 2, 7, 6], 108),
        {
          causal: true,
          mask: paddingMask(2, 7, 2),
        },
      ),
  },
  {
    name: 'scaledDotProductAttention, non-causal with a custom scale and strided k',
    op: 'scaledDotProductAttention',
    build: () => {
      const k = permute(sample([1, 6, 3, 4], 110), [0, 2, 1, 3]);
      return scaledDotProductAttention(sample([1, 3, 4, 4], 109), k, sample([1, 3, 6, 4], 111), {
        scale: 0.3,
      });
    },
  },
  {
    name: 'scaledDotProductAttention, more queries than keys leaves early rows empty',
    op: 'scaledDotProductAttention',
    build: () =>
      scaledDotProductAttention(
        sample([1, 2, 5, 4], 112),
        sample([1, 2, 3, 4], 113),
        sample([1, 2, 3, 4], 114),
        {
          causal: true,
        },
      ),
  },
  {
    name: 'crossEntropy reductions with an ignored target',
    op: 'crossEntropy',
    build: () => {
      const logits = sample([2, 3, 7], 115);
      const targets = tensor(new Int32Array([0, 6, -100, 3, 3, 1]), { shape: [2, 3] });
      return [
        crossEntropy(logits, targets),
        crossEntropy(logits, targets, { reduction: 'sum' }),
        crossEntropy(logits, targets, { reduction: 'none' }),
      ];
    },
  },
  {
    name: 'crossEntropy on a strided slice of logits with ignoreIndex 0',
    op: 'crossEntropy',
    build: () => {
      const logits = slice(sample([4, 9], 116), [0, 2]);
      return crossEntropy(logits, tensor(new Int32Array([0, 4, 6, 2])), { ignoreIndex: 0 });
    },
  },
];

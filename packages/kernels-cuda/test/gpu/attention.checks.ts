import {
  type DType,
  scaledDotProductAttention,
  slice,
  type Tensor,
  tensor,
  toBackend,
  withBackend,
} from '@slimlm/core';
import { sample } from '@slimlm/core/testing';
import { CUDA } from '../../src/index';
import { assertClose, type GpuCheck, scoped } from './check';

const TOLERANCE: Record<string, number> = { f32: 1e-5, f16: 2e-3, bf16: 1.6e-2 };

function input(shape: number[], seed: number, dtype: DType): Tensor {
  return withBackend('reference', () => tensor(sample(shape, seed).dataSync(), { shape, dtype }));
}

interface Case {
  batch: number;
  heads: number;
  kvHeads: number;
  queries: number;
  keys: number;
  depth: number;
  dtype: DType;
  causal: boolean;
  mask?: boolean;
  /** Keys and values are views of a longer cache ([.., capacity, D] sliced to `keys`). */
  cacheCapacity?: number;
}

function compare(c: Case, seed: number) {
  const q = input([c.batch, c.heads, c.queries, c.depth], seed, c.dtype);
  const capacity = c.cacheCapacity ?? c.keys;
  const kCache = input([c.batch, c.kvHeads, capacity, c.depth], seed + 1, c.dtype);
  const vCache = input([c.batch, c.kvHeads, capacity, c.depth], seed + 2, c.dtype);
  const mask = c.mask
    ? withBackend('reference', () =>
        tensor(
          Array.from({ length: c.queries * c.keys }, (_, i) =>
            i % 7 === 3 ? Number.NEGATIVE_INFINITY : (i % 5) / 10,
          ),
          { shape: [1, 1, c.queries, c.keys], dtype: c.dtype },
        ),
      )
    : undefined;
  const keysOf = (t: Tensor) => slice(t, [0, 0, 0, 0], [c.batch, c.kvHeads, c.keys, c.depth]);
  const run = (move: (t: Tensor) => Tensor) =>
    scaledDotProductAttention(move(q), keysOf(move(kCache)), keysOf(move(vCache)), {
      causal: c.causal,
      ...(mask ? { mask: move(mask) } : {}),
    });
  const expected = withBackend('reference', () => run((t) => t));
  const actual = run((t) => toBackend(t, CUDA));
  assertClose(actual, expected, TOLERANCE[c.dtype]!, `attention ${JSON.stringify(c)}`);
}

export const attentionChecks: GpuCheck[] = [
  {
    name: 'decode over a KV cache view: grouped heads, causal offset, every float dtype, head dims 64/128/256',
    run: scoped(() => {
      for (const dtype of ['f32', 'f16', 'bf16'] as const) {
        for (const depth of [64, 128, 256]) {
          compare(
            {
              batch: 2,
              heads: 8,
              kvHeads: 2,
              queries: 1,
              keys: 300,
              depth,
              dtype,
              causal: true,
              cacheCapacity: 512,
            },
            depth,
          );
        }
        compare(
          { batch: 1, heads: 4, kvHeads: 4, queries: 3, keys: 40, depth: 80, dtype, causal: true },
          7,
        );
      }
    }),
  },
  {
    name: 'tiled prefill: causal and not, an additive mask with -Infinity, lengths off the tile sizes',
    run: scoped(() => {
      for (const dtype of ['f32', 'f16', 'bf16'] as const) {
        compare(
          { batch: 2, heads: 4, kvHeads: 2, queries: 37, keys: 37, depth: 64, dtype, causal: true },
          11,
        );
        compare(
          {
            batch: 1,
            heads: 2,
            kvHeads: 1,
            queries: 20,
            keys: 70,
            depth: 128,
            dtype,
            causal: false,
            mask: true,
          },
          12,
        );
        // More queries than keys: the first rows see no key and output zeros.
        compare(
          { batch: 1, heads: 1, kvHeads: 1, queries: 12, keys: 5, depth: 32, dtype, causal: true },
          13,
        );
      }
    }),
  },
];

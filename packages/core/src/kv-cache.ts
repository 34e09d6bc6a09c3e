import type { Backend } from './backend';
import type { DType } from './dtype';
import { invalidArgument, SlimlmError } from './errors';
import { keep, scope } from './memory';
import { zeros } from './ops/creation';
import { assign, slice } from './ops/view';
import { formatShape, shapesEqual } from './shape';
import type { Tensor } from './tensor';

export interface KVCacheOptions {
  layers: number;
  batch: number;
  kvHeads: number;
  headDim: number;
  /** Positions preallocated per layer (default 256); the cache doubles it when full. */
  capacity?: number;
  dtype: DType;
  /** Default: the active backend. */
  backend?: string | Backend;
}

interface LayerStore {
  keys: Tensor;
  values: Tensor;
  length: number;
}

/**
 * Keys and values of past positions, per layer, in preallocated [batch, kvHeads, capacity,
 * headDim] buffers: `append` writes new entries in place, so that decoding one token costs no
 * copy of the history (except when the capacity doubles). For inference: writes are not recorded
 * for autograd. The views `append` returns stay valid until the next `reset` or `dispose`.
 */
export class KVCache {
  readonly layers: number;
  private readonly options: KVCacheOptions;
  private readonly stores: (LayerStore | null)[];
  private readonly initialCapacity: number;

  constructor(options: KVCacheOptions) {
    const { layers, batch, kvHeads, headDim, capacity = 256 } = options;
    for (const [name, value] of Object.entries({ layers, batch, kvHeads, headDim, capacity })) {
      if (!Number.isInteger(value) || value < 0) {
        throw invalidArgument('KVCache', `${name} must be a non-negative integer, got ${value}`);
      }
    }
    this.layers = layers;
    this.options = options;
    this.initialCapacity = Math.max(1, capacity);
    this.stores = new Array<LayerStore | null>(layers).fill(null);
  }

  /** How many positions `layer` holds. */
  length(layer: number): number {
    return this.storeOf(layer)?.length ?? 0;
  }

  /**
   * Appends k and v, each [batch, kvHeads, T, headDim], to `layer`, and returns views of everything
   * that layer now holds, [batch, kvHeads, length, headDim]; the caller disposes them.
   */
  append(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const { batch, kvHeads, headDim, dtype } = this.options;
    const expected = [batch, kvHeads, k.shape[2] ?? 0, headDim];
    for (const t of [k, v]) {
      t.assertAlive('KVCache.append');
      if (!shapesEqual(t.shape, expected)) {
        throw new SlimlmError(
          'SHAPE_MISMATCH',
          `KVCache.append: k ${formatShape(k.shape)} and v ${formatShape(v.shape)} must both be [batch ${batch}, kvHeads ${kvHeads}, T, headDim ${headDim}]`,
        );
      }
      if (t.dtype !== dtype) {
        throw new SlimlmError(
          'DTYPE_MISMATCH',
          `KVCache.append: k is ${k.dtype} and v is ${v.dtype}, but the cache holds ${dtype}`,
        );
      }
    }
    const added = k.shape[2]!;
    const store = this.reserve(layer, added);
    const from = store.length;
    const to = from + added;
    scope(() => {
      assign(slice(store.keys, [0, 0, from, 0], [batch, kvHeads, to, headDim]), k);
      assign(slice(store.values, [0, 0, from, 0], [batch, kvHeads, to, headDim]), v);
    });
    store.length = to;
    return {
      k: slice(store.keys, [0, 0, 0, 0], [batch, kvHeads, to, headDim]),
      v: slice(store.values, [0, 0, 0, 0], [batch, kvHeads, to, headDim]),
    };
  }

  /** Forgets every position (keeping the buffers for the next sequence). */
  reset(): void {
    for (const store of this.stores) if (store !== null) store.length = 0;
  }

  /** Frees the buffers; the cache is empty afterwards and may be reused. */
  dispose(): void {
    for (const store of this.stores) {
      store?.keys.dispose();
      store?.values.dispose();
    }
    this.stores.fill(null);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  private storeOf(layer: number): LayerStore | null {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.layers) {
      throw invalidArgument('KVCache', `layer ${layer} is out of range for ${this.layers} layers`);
    }
    return this.stores[layer] ?? null;
  }

  /** The layer's buffers with room for `added` more positions, allocated or doubled as needed. */
  private reserve(layer: number, added: number): LayerStore {
    const store = this.storeOf(layer);
    const needed = (store?.length ?? 0) + added;
    const capacity = store?.keys.shape[2] ?? 0;
    if (store !== null && needed <= capacity) return store;
    let grown = Math.max(capacity, this.initialCapacity);
    while (grown < needed) grown *= 2;
    const { batch, kvHeads, headDim, dtype, backend } = this.options;
    const allocate = () => keep(zeros([batch, kvHeads, grown, headDim], { dtype, backend }));
    const next: LayerStore = { keys: allocate(), values: allocate(), length: store?.length ?? 0 };
    if (store !== null) {
      scope(() => {
        const kept = [batch, kvHeads, store.length, headDim];
        assign(slice(next.keys, [0, 0, 0, 0], kept), slice(store.keys, [0, 0, 0, 0], kept));
        assign(slice(next.values, [0, 0, 0, 0], kept), slice(store.values, [0, 0, 0, 0], kept));
      });
      store.keys.dispose();
      store.values.dispose();
    }
    this.stores[layer] = next;
    return next;
  }
}

import {
  activeBackend,
  cast,
  dequantize,
  keep,
  linear,
  type QuantActivations,
  type QuantAttrs,
  quantMatmul,
  SlimlmError,
  scope,
  type Tensor,
  takesInt8Activations,
  tensor,
  toBackend,
} from '@slimlm/core';
import { type LinearLayer, Module } from '@slimlm/models';
import { assertBits, type Bits, type GptqFormat, packRows, unpackRows } from './format/pack';
import { gptqPackCodes } from './format/pack-codes';
import { convertQzeros, packZeros, zeroOffsetOf } from './format/zeros';
import { backendRunning } from './kernel-backend';

export interface QuantLinearOptions {
  bits: Bits;
  /** Input channels per group; -1 = one group of all K input channels. */
  groupSize: number;
  /** What the qzeros words mean: 'gptq' (v1, z - 1; the default) or 'gptq_v2' (z). */
  format?: GptqFormat;
  /** Declare `bias` [N] (default false). */
  bias?: boolean;
  /** Declare `g_idx` [K] (default true; very old checkpoints lack it and mean k / groupSize). */
  gIdx?: boolean;
}

/** What `QuantLinear.fromQuantization` packs: one layer's quantization results. */
export interface QuantizedLayer {
  /** Integer codes [N, K] (row-major, HF weight layout), ORIGINAL input channel order. */
  codes: Uint8Array | Int32Array;
  /** Scales [G, N]. */
  scales: Float32Array | Float64Array;
  /** Integer-valued zero points z [G, N] (not z - 1). */
  zeros: Float32Array | Float64Array | Int32Array | Uint8Array;
  /** Group of each input channel [K]; default k / groupSize. */
  gIdx?: Int32Array;
  /** K, needed only without gIdx. */
  inFeatures?: number;
  /** Bias [N], stored as the scales are. */
  bias?: Float32Array | Float64Array | Tensor | null;
  bits: Bits;
  groupSize: number;
  /** Format of the qzeros to write (default 'gptq'). */
  format?: GptqFormat;
  /** dtype of scales and bias (default 'f16', as checkpoints store them). */
  scalesDType?: 'f16' | 'bf16' | 'f32';
  /** Backend the tensors live on (default: the active one). */
  backend?: string;
}

/** How a QuantLinear computes, decided once from its loaded tensors. */
interface InferenceState {
  /** The qweight parameter this state was built from (a new one means reload: rebuild). */
  from: Tensor;
  /** qweight with rows in ascending g_idx order (act-order), else the parameter itself. */
  qweight: Tensor;
  /** i32 [K]: input channel read by each reordered row, or null when g_idx is plain. */
  perm: Tensor | null;
  /** f32 [N, K] weight when g_idx cannot be made consecutive (irregular group sizes). */
  dense: Tensor | null;
}

/**
 * A Linear whose weight is GPTQ-packed (FORMATS.md): parameters `qweight` i32 [K*b/32, N],
 * `qzeros` i32 [G, N*b/32], `scales` [G, N], `g_idx` i32 [K] and optional `bias` [N], named as the
 * checkpoint names them so `loadStateDict` fills them. The forward pass reads the packed codes
 * directly through core's `quantMatmul`. Act-order layers (g_idx not k / groupSize) are reordered
 * once before the first forward pass (`prepareForInference`): rows of qweight sorted by group, so
 * groups are consecutive, and the order passed to quantMatmul as its `perm`, which reads the
 * input's channels in the same order. The reordered copy
 * is held beside the checkpoint-order parameter, which stays as loaded for saving.
 */
export class QuantLinear extends Module implements LinearLayer {
  readonly bits: Bits;
  /** As configured: -1 for one group. */
  readonly groupSize: number;
  /** Input channels per group as the kernels take it (K for one group). */
  readonly effectiveGroupSize: number;
  readonly groups: number;
  readonly format: GptqFormat;
  readonly hasBias: boolean;
  readonly hasGIdx: boolean;
  /**
   * The arithmetic of the forward pass: 'f32' (default) or 'int8' activations (core's
   * QuantAttrs.activations; onnxruntime's accuracy_level 4). Set it through setQuantActivations,
   * which leaves layers that int8 cannot serve in f32.
   */
  activations: QuantActivations = 'f32';
  private state: InferenceState | null = null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: QuantLinearOptions,
  ) {
    super();
    const { bits, groupSize } = options;
    assertBits('QuantLinear', bits);
    const where = `QuantLinear(${inFeatures}, ${outFeatures}, ${bits} bits)`;
    for (const [name, value] of [
      ['inFeatures', inFeatures],
      ['outFeatures', outFeatures],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1 || (value * bits) % 32 !== 0) {
        throw new SlimlmError(
          'SHAPE_MISMATCH',
          `${where}: ${name} = ${value} does not fill whole int32 words (${name} * ${bits} must be a multiple of 32)`,
        );
      }
    }
    if (bits === 3 && (inFeatures % 32 !== 0 || outFeatures % 32 !== 0)) {
      throw new SlimlmError(
        'SHAPE_MISMATCH',
        `${where}: 3-bit packing needs K and N multiples of 32`,
      );
    }
    if (!Number.isSafeInteger(groupSize) || (groupSize !== -1 && groupSize < 1)) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `${where}: groupSize must be -1 or a positive integer, got ${groupSize}`,
      );
    }
    this.bits = bits;
    this.groupSize = groupSize;
    this.effectiveGroupSize = groupSize === -1 ? inFeatures : groupSize;
    this.groups = Math.ceil(inFeatures / this.effectiveGroupSize);
    this.format = options.format ?? 'gptq';
    this.hasBias = options.bias ?? false;
    this.hasGIdx = options.gIdx ?? true;
    this.declareParameter('qweight', [(inFeatures * bits) / 32, outFeatures]);
    this.declareParameter('qzeros', [this.groups, (outFeatures * bits) / 32]);
    this.declareParameter('scales', [this.groups, outFeatures]);
    if (this.hasGIdx) this.declareParameter('g_idx', [inFeatures]);
    if (this.hasBias) this.declareParameter('bias', [outFeatures]);
  }

  get qweight(): Tensor {
    return this.parameter('qweight');
  }

  get qzeros(): Tensor {
    return this.parameter('qzeros');
  }

  get scales(): Tensor {
    return this.parameter('scales');
  }

  /** g_idx as loaded, or null when the layer has none (then the group of k is k / groupSize). */
  get gIdx(): Tensor | null {
    return this.optionalParameter('g_idx');
  }

  get bias(): Tensor | null {
    return this.optionalParameter('bias');
  }

  /** The attributes core's quantMatmul and dequantize take. */
  get quantAttrs(): QuantAttrs {
    return {
      bits: this.bits,
      groupSize: this.effectiveGroupSize,
      zeroOffset: zeroOffsetOf(this.format),
      ...(this.activations === 'int8' ? { activations: 'int8' as const } : {}),
    };
  }

  /** Whether int8 activations can serve this layer: 2, 4 or 8 bits, K and groups multiples of 32. */
  get takesInt8Activations(): boolean {
    return takesInt8Activations(this.bits, this.inFeatures, this.effectiveGroupSize);
  }

  /**
   * Whether the loaded g_idx is act-order (not k / groupSize), so inference reorders rows. Reads
   * g_idx; call after loading.
   */
  get actOrder(): boolean {
    return this.inference().perm !== null;
  }

  /**
   * Builds what inference needs from the loaded tensors, once (forward calls it; calling it
   * right after loading moves the cost out of the first forward pass). Act-order: perm = stable
   * argsort(g_idx), qweight rows repacked in that order. Rebuilt automatically if qweight is
   * replaced by a new load.
   */
  prepareForInference(): void {
    this.inference();
  }

  private inference(): InferenceState {
    const qweight = this.qweight;
    if (this.state && this.state.from === qweight && !this.state.from.isDisposed) return this.state;
    this.releaseState();
    const K = this.inFeatures;
    const N = this.outFeatures;
    const gs = this.effectiveGroupSize;
    const gIdxTensor = this.gIdx;
    let state: InferenceState = { from: qweight, qweight, perm: null, dense: null };
    if (gIdxTensor) {
      const gIdx = Int32Array.from(gIdxTensor.dataSync());
      for (let k = 0; k < K; k++) {
        const g = gIdx[k]!;
        if (!(g >= 0 && g < this.groups)) {
          throw new SlimlmError(
            'INVALID_FILE',
            `QuantLinear: g_idx[${k}] = ${g} is not a group of this layer (0 to ${this.groups - 1})`,
          );
        }
      }
      let plain = true;
      for (let k = 0; k < K && plain; k++) plain = gIdx[k] === Math.floor(k / gs);
      if (!plain) {
        const perm = stableArgsort(gIdx);
        let consecutive = true;
        for (let i = 0; i < K && consecutive; i++) {
          consecutive = gIdx[perm[i]!] === Math.floor(i / gs);
        }
        const backend = qweight.backend;
        if (consecutive) {
          const codes = unpackRows(asInt32(qweight), K, N, this.bits);
          const reordered = new Uint8Array(K * N);
          for (let i = 0; i < K; i++) {
            const from = perm[i]! * N;
            reordered.set(codes.subarray(from, from + N), i * N);
          }
          const words = packRows(reordered, K, N, this.bits);
          state = {
            from: qweight,
            qweight: keep(tensor(words, { dtype: 'i32', shape: [...qweight.shape], backend })),
            perm: keep(tensor(perm, { dtype: 'i32', shape: [K], backend })),
            dense: null,
          };
        } else {
          // Groups of unequal sizes: no reordering makes them consecutive; keep a dense weight.
          state = {
            from: qweight,
            qweight,
            perm: null,
            dense: keep(dequantize(this.packedWeight(qweight), this.quantAttrs, gIdxTensor)),
          };
        }
      }
    }
    this.state = state;
    return state;
  }

  /** [..., K] → [..., N] in x's dtype (computed in f32). */
  forward(x: Tensor): Tensor {
    const state = this.inference();
    return scope(() => {
      const input = x.dtype === 'f32' ? x : cast(x, 'f32');
      const bias = this.bias;
      let y: Tensor;
      if (state.dense) {
        y = linear(input, state.dense, bias && bias.dtype !== 'f32' ? cast(bias, 'f32') : bias);
      } else {
        y = quantMatmul(input, this.packedWeight(state.qweight), this.quantAttrs, bias, state.perm);
      }
      return y.dtype === x.dtype ? y : cast(y, x.dtype);
    });
  }

  /** The f32 weight [N, K] (HF Linear layout) these tensors mean. */
  dequantizedWeight(): Tensor {
    return dequantize(this.packedWeight(this.qweight), this.quantAttrs, this.gIdx);
  }

  /**
   * The tensors to save for this layer, by checkpoint name (`<prefix>.qweight`, ... or bare names
   * without a prefix): views of the loaded parameters when `format` is this layer's, else qzeros
   * converted field by field. The caller must not dispose the parameter views.
   */
  toCheckpointTensors(
    options: { prefix?: string; format?: GptqFormat } = {},
  ): Record<string, Tensor> {
    const name = (field: string) => (options.prefix ? `${options.prefix}.${field}` : field);
    const format = options.format ?? this.format;
    const qzeros =
      format === this.format
        ? this.qzeros
        : tensor(
            convertQzeros(
              asInt32(this.qzeros),
              this.groups,
              this.outFeatures,
              this.bits,
              this.format,
              format,
            ),
            { dtype: 'i32', shape: [...this.qzeros.shape], backend: this.qzeros.backend },
          );
    const out: Record<string, Tensor> = {
      [name('qweight')]: this.qweight,
      [name('qzeros')]: qzeros,
      [name('scales')]: this.scales,
    };
    const gIdx = this.gIdx;
    if (gIdx) out[name('g_idx')] = gIdx;
    const bias = this.bias;
    if (bias) out[name('bias')] = bias;
    return out;
  }

  /**
   * A loaded QuantLinear from one layer's quantization results: codes transposed to [K, N] and
   * packed along K, zero points stored for `format` and packed along N, scales (and bias) in
   * `scalesDType` (f16 by default), g_idx as given.
   */
  static fromQuantization(layer: QuantizedLayer): QuantLinear {
    const { bits, groupSize } = layer;
    assertBits('QuantLinear.fromQuantization', bits);
    const format = layer.format ?? 'gptq';
    const scalesDType = layer.scalesDType ?? 'f16';
    const backend = layer.backend;
    const bias = layer.bias ?? null;
    const gIdxGiven = layer.gIdx;
    const K = gIdxGiven?.length ?? layer.inFeatures;
    if (K === undefined) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        'QuantLinear.fromQuantization: pass gIdx (or inFeatures) so the codes [N, K] can be read',
      );
    }
    const N = layer.codes.length / K;
    if (!Number.isInteger(N)) {
      throw new SlimlmError(
        'SHAPE_MISMATCH',
        `QuantLinear.fromQuantization: ${layer.codes.length} codes are not [N, K] with K = ${K}`,
      );
    }
    const result = new QuantLinear(K, N, { bits, groupSize, format, bias: bias !== null });
    const G = result.groups;
    for (const [name, length] of [
      ['scales', layer.scales.length],
      ['zeros', layer.zeros.length],
    ] as const) {
      if (length !== G * N) {
        throw new SlimlmError(
          'SHAPE_MISMATCH',
          `QuantLinear.fromQuantization: ${name} has ${length} values, expected [G, N] = [${G}, ${N}]`,
        );
      }
    }
    const gs = result.effectiveGroupSize;
    const gIdx = gIdxGiven ?? Int32Array.from({ length: K }, (_, k) => Math.floor(k / gs));
    const opts = backend ? { backend } : {};
    try {
      result.setParameter('qweight', packedCodes(layer.codes, N, K, bits, opts));
      result.setParameter(
        'qzeros',
        tensor(packZeros(layer.zeros, G, N, bits, format), {
          dtype: 'i32',
          shape: [G, (N * bits) / 32],
          ...opts,
        }),
      );
      result.setParameter(
        'scales',
        tensor(Float32Array.from(layer.scales), { dtype: scalesDType, shape: [G, N], ...opts }),
      );
      result.setParameter(
        'g_idx',
        tensor(Int32Array.from(gIdx), { dtype: 'i32', shape: [K], ...opts }),
      );
      if (bias !== null) {
        const values = ArrayBuffer.isView(bias)
          ? Float32Array.from(bias)
          : Float32Array.from(bias.dataSync());
        result.setParameter('bias', tensor(values, { dtype: scalesDType, shape: [N], ...opts }));
      }
    } catch (error) {
      result.dispose();
      throw error;
    }
    return result;
  }

  override dispose(): void {
    this.releaseState();
    super.dispose();
  }

  private packedWeight(qweight: Tensor) {
    return { qweight, qzeros: this.qzeros, scales: this.scales };
  }

  private releaseState(): void {
    const state = this.state;
    this.state = null;
    if (!state) return;
    if (state.qweight !== state.from && !state.qweight.isDisposed) state.qweight.dispose();
    if (state.perm && !state.perm.isDisposed) state.perm.dispose();
    if (state.dense && !state.dense.isDisposed) state.dense.dispose();
  }
}

/**
 * qweight [K * bits / 32, N] of codes [N, K] through the 'gptqPackCodes' op, on opts.backend (or
 * the active one), packed wherever the op has a kernel.
 */
function packedCodes(
  codes: Uint8Array | Int32Array,
  N: number,
  K: number,
  bits: Bits,
  opts: { backend?: string },
): Tensor {
  const limit = 2 ** bits;
  if (!(codes instanceof Uint8Array)) {
    const at = codes.findIndex((code) => !(code >= 0 && code < limit));
    if (at >= 0)
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `QuantLinear.fromQuantization: code ${codes[at]} at [${Math.floor(at / K)}, ${at % K}] of codes [N, K] does not fit in ${bits} bits (0 to ${limit - 1})`,
      );
  }
  const target = opts.backend ?? activeBackend().name;
  const runner = backendRunning('gptqPackCodes', target);
  return scope(() => {
    const packed = gptqPackCodes(
      tensor(codes instanceof Uint8Array ? codes : Uint8Array.from(codes), {
        dtype: 'u8',
        shape: [N, K],
        backend: runner,
      }),
      { bits },
    );
    return runner === target ? packed : toBackend(packed, target);
  });
}

/** Indices that sort `values` ascending, equal values keeping their order. */
export function stableArgsort(values: Int32Array): Int32Array {
  const order = Array.from({ length: values.length }, (_, i) => i);
  order.sort((a, b) => values[a]! - values[b]! || a - b);
  return Int32Array.from(order);
}

/** An i32 tensor's values as an Int32Array (the tensor's own host copy, not to be modified). */
function asInt32(t: Tensor): Int32Array {
  const data = t.dataSync();
  return data instanceof Int32Array ? data : Int32Array.from(data);
}

/** What setQuantActivations did. */
export interface QuantActivationsResult {
  /** Paths of the QuantLinear layers now running in the requested mode. */
  switched: string[];
  /** Paths left in f32 because int8 cannot serve them (3 bits, K or groups not multiples of 32). */
  kept: string[];
}

/**
 * Sets how every QuantLinear of `model` multiplies its input: 'int8' quantizes activations per
 * block (faster prefill on CPUs with int8 dot products, at a small cost in accuracy; see
 * docs/benchmarks.md), 'f32' restores the default. Layers int8 cannot serve stay f32 and are listed.
 */
export function setQuantActivations(model: Module, mode: QuantActivations): QuantActivationsResult {
  if (mode !== 'f32' && mode !== 'int8') {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `setQuantActivations: mode must be 'f32' or 'int8', got '${String(mode)}'`,
    );
  }
  const result: QuantActivationsResult = { switched: [], kept: [] };
  for (const [path, module] of model.namedModules()) {
    if (!(module instanceof QuantLinear)) continue;
    if (mode === 'int8' && !module.takesInt8Activations) {
      module.activations = 'f32';
      result.kept.push(path);
      continue;
    }
    module.activations = mode;
    result.switched.push(path);
  }
  return result;
}

import { SlimlmError } from '@slimlm/core';
import type { TensorSource } from '@slimlm/hub';
import {
  type CausalLM,
  Linear,
  type QuantizationMethod,
  registerQuantizationMethod,
} from '@slimlm/models';
import { type GptqConfig, moduleQuantization, parseGptqConfig } from './format/config';
import type { GptqFormat } from './format/pack';
import { detectZeroFormat, type ZeroFormatDetection } from './format/zeros';
import { QuantLinear } from './quant-linear';

/** What loading a GPTQ checkpoint decided, for `slimlm info` and logs. */
export interface GptqLoadInfo {
  config: GptqConfig;
  /** The format the qzeros are read as (the declared one unless mislabelled). */
  format: GptqFormat;
  /** The mislabelled-v2 check on the first quantized layer; undefined when none is quantized. */
  detection?: ZeroFormatDetection;
  /** Paths of the layers replaced by QuantLinear. */
  quantized: string[];
  /** Paths of Linear layers kept in floating point. */
  unquantized: string[];
}

const loadInfo = new WeakMap<CausalLM, GptqLoadInfo>();

/** What `gptq.prepare` decided for `model`, or undefined if it was not loaded as GPTQ. */
export function gptqLoadInfo(model: CausalLM): GptqLoadInfo | undefined {
  return loadInfo.get(model);
}

/**
 * Replaces, in `model`, every Linear whose packed tensors `source` holds (`<path>.qweight`) by a
 * QuantLinear, leaving the rest in floating point: modules that a GPTQModel `dynamic` '-:' rule
 * skips stay fp, lm_head is quantized only with `lm_head: true`, and '+:' rules set a module's
 * own bits / group_size. The qzeros of the first quantized layer decide whether the checkpoint's
 * zero points are really the format it declares (mislabelled v2 checkpoints are read as v2).
 */
export function prepareGptqModel(
  model: CausalLM,
  quantizationConfig: Record<string, unknown>,
  source: TensorSource,
  file = 'config.json',
): GptqLoadInfo {
  const config = parseGptqConfig(quantizationConfig, file);
  const prefix = model.baseModelPrefix === undefined ? undefined : `${model.baseModelPrefix}.`;
  const stored = (name: string): string | undefined => {
    if (source.has(name)) return name;
    if (prefix && name.startsWith(prefix) && source.has(name.slice(prefix.length))) {
      return name.slice(prefix.length);
    }
    return undefined;
  };
  const blockPaths = model.decoderBlocks().map((info) => `${info.path}.`);
  const plans: { path: string; layer: Linear; bits: number; groupSize: number }[] = [];
  const unquantized: string[] = [];
  for (const [path, layer] of model.linearLayers()) {
    if (!(layer instanceof Linear)) continue;
    const settings = moduleQuantization(config, path);
    const inBlock = blockPaths.some((block) => path.startsWith(block));
    const isHead = !inBlock && path.split('.').at(-1) === 'lm_head';
    const qweight = stored(`${path}.qweight`);
    if ((isHead && !config.lmHead) || !settings) {
      unquantized.push(path);
      continue;
    }
    if (qweight === undefined) {
      if (isHead) {
        throw new SlimlmError(
          'INVALID_FILE',
          `${source.location}: ${file} says lm_head is quantized (lm_head: true), but '${path}.qweight' is missing`,
        );
      }
      unquantized.push(path);
      continue;
    }
    plans.push({ path, layer, bits: settings.bits, groupSize: settings.groupSize });
  }

  // Mislabelled v2 zero points show in any layer; look at the first one.
  let format = config.checkpointFormat;
  let detection: ZeroFormatDetection | undefined;
  const first = plans[0];
  if (first) {
    const name = stored(`${first.path}.qzeros`);
    if (name === undefined) {
      throw new SlimlmError(
        'INVALID_FILE',
        `${source.location}: '${first.path}.qzeros' is missing`,
      );
    }
    const info = source.info(name);
    if (info.dtype !== 'I32' || info.shape.length !== 2) {
      throw new SlimlmError(
        'INVALID_FILE',
        `${source.location}: '${name}' must be a 2-D I32 tensor, got ${info.dtype} [${info.shape.join(', ')}]`,
      );
    }
    const bytes = source.readBytes(name);
    const words = new Int32Array(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    );
    const bits = first.bits as QuantLinear['bits'];
    const [G = 0, packed = 0] = info.shape;
    const N = (packed * 32) / bits;
    if (N === first.layer.outFeatures) {
      detection = detectZeroFormat(words, G, N, bits, config.checkpointFormat, name);
      format = detection.format;
    }
  }

  const quantized: string[] = [];
  for (const { path, layer, bits, groupSize } of plans) {
    const K = layer.inFeatures;
    const N = layer.outFeatures;
    const qweight = stored(`${path}.qweight`)!;
    const shape = source.info(qweight).shape;
    const expected = [(K * bits) / 32, N];
    if (shape.length !== 2 || shape[0] !== expected[0] || shape[1] !== expected[1]) {
      throw new SlimlmError(
        'SHAPE_MISMATCH',
        `${source.location}: '${qweight}' is [${shape.join(', ')}], but a ${K}→${N} Linear at ${bits} bits packs to [${expected.join(', ')}] (check ${file} quantization_config.bits)`,
      );
    }
    const replacement = new QuantLinear(K, N, {
      bits: bits as QuantLinear['bits'],
      groupSize,
      format,
      bias: stored(`${path}.bias`) !== undefined,
      gIdx: stored(`${path}.g_idx`) !== undefined,
    });
    model.setModule(path, replacement).dispose();
    quantized.push(path);
  }
  const result: GptqLoadInfo = {
    config,
    format,
    ...(detection ? { detection } : {}),
    quantized,
    unquantized,
  };
  loadInfo.set(model, result);
  return result;
}

/** The `gptq` quantization method: @slimlm/models calls it when config.json asks for GPTQ. */
export const gptq: QuantizationMethod = {
  name: 'gptq',
  packageName: '@slimlm/gptq',
  prepare(model, quantizationConfig, source) {
    prepareGptqModel(model, quantizationConfig, source);
  },
};

/**
 * Every quantization method this package provides, registered when the package loads (a list, as
 * @slimlm/models lists its architectures). `registerGptq()` registers again explicitly, for code
 * that cannot rely on the import's side effect.
 */
export const QUANTIZATION_METHODS: readonly QuantizationMethod[] = [gptq];

export function registerGptq(): void {
  for (const method of QUANTIZATION_METHODS) registerQuantizationMethod(method);
}

registerGptq();

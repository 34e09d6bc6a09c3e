import { SlimlmError } from '@slimlm/core';
import type { TensorSource } from '@slimlm/hub';
import type { CausalLM } from './model';

/** How to build one architecture from its config.json. */
export interface Architecture {
  /** config.json `model_type` values it serves ('llama' serves 'mistral' and 'qwen2' too). */
  modelTypes: readonly string[];
  /** One line for `slimlm info` and error messages. */
  description: string;
  /**
   * Builds the module tree with declared (not yet loaded) parameters. `config` is config.json;
   * `file` is its path, for errors that name the file and field.
   */
  create(config: Record<string, unknown>, file: string): CausalLM;
}

const architectures = new Map<string, Architecture>();

export function registerArchitecture(architecture: Architecture): void {
  for (const type of architecture.modelTypes) architectures.set(type, architecture);
}

/** The architecture serving `modelType`; an UNSUPPORTED error lists the supported types. */
export function getArchitecture(modelType: string, file = 'config.json'): Architecture {
  const found = architectures.get(modelType);
  if (!found) {
    throw new SlimlmError(
      'UNSUPPORTED',
      `${file}: model_type '${modelType}' is not supported; supported types: ${supportedModelTypes().join(', ')}`,
    );
  }
  return found;
}

export function supportedModelTypes(): string[] {
  return [...architectures.keys()].sort();
}

/**
 * A quantization method (config.json `quantization_config.quant_method`), registered by the
 * package that implements it (@slimlm/gptq registers 'gptq'). Loading calls `prepare` after the
 * fp module tree is built and before weights are read: it swaps the Linear layers it quantizes
 * for its own modules, which then load their tensors from the checkpoint by their paths.
 */
export interface QuantizationMethod {
  name: string;
  /** Package users install to get this method, for the error when it is missing. */
  packageName: string;
  prepare(model: CausalLM, quantizationConfig: Record<string, unknown>, source: TensorSource): void;
}

const quantizationMethods = new Map<string, QuantizationMethod>();

export function registerQuantizationMethod(method: QuantizationMethod): void {
  quantizationMethods.set(method.name, method);
}

/** Known packages for methods not yet registered, so the error can say what to install. */
const KNOWN_METHOD_PACKAGES: Record<string, string> = { gptq: '@slimlm/gptq' };

export function getQuantizationMethod(name: string, file = 'config.json'): QuantizationMethod {
  const found = quantizationMethods.get(name);
  if (found) return found;
  const known = KNOWN_METHOD_PACKAGES[name];
  throw new SlimlmError(
    'UNSUPPORTED',
    known
      ? `${file}: quantization_config.quant_method '${name}' needs ${known}: install it and import it before loading`
      : `${file}: quantization_config.quant_method '${name}' is not supported (registered: ${[...quantizationMethods.keys()].join(', ') || 'none'})`,
  );
}

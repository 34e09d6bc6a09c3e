/**
 * @slimlm/models: nn modules, Hugging Face causal LM architectures, loading and generation.
 */
export type {
  ArchitectureConfig,
  BlockContext,
  DecoderBlock,
  DecoderBlockInfo,
  ForwardOptions,
} from './model';
export { CausalLM } from './model';
export { Embedding } from './nn/embedding';
export type { LinearLayer, LinearOptions } from './nn/linear';
export { inDType, Linear } from './nn/linear';
export { Module } from './nn/module';
export { LayerNorm, RMSNorm } from './nn/norms';
export type { Architecture, QuantizationMethod } from './registry';
export {
  getArchitecture,
  getQuantizationMethod,
  registerArchitecture,
  registerQuantizationMethod,
  supportedModelTypes,
} from './registry';

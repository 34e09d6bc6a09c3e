/**
 * @slimlm/models: nn modules, Hugging Face causal LM architectures, loading and generation.
 */

export type { GPTNeoConfig } from './architectures/gpt-neo';
export { GPTNeoForCausalLM, gptNeo, readGPTNeoConfig } from './architectures/gpt-neo';
export type { GPTNeoXConfig } from './architectures/gpt-neox';
export { GPTNeoXForCausalLM, gptNeox, readGPTNeoXConfig } from './architectures/gpt-neox';
export type { GPT2Config } from './architectures/gpt2';
export { GPT2LMHeadModel, gpt2, readGPT2Config } from './architectures/gpt2';
export { ARCHITECTURES } from './architectures/index';
export type { LlamaConfig, RopeSettings } from './architectures/llama';
export { LlamaForCausalLM, llama, readLlamaConfig } from './architectures/llama';
export type { OPTConfig } from './architectures/opt';
export { OPTForCausalLM, opt, readOPTConfig } from './architectures/opt';
export { BUILTIN_MODELS } from './builtin';
export type { ArchitectureFieldNames } from './config';
export { architectureConfig, ConfigFields, storageDTypeOf } from './config';
// generation
export type { GenerateTextResult } from './generation/generate';
export { generate, generateText } from './generation/generate';
export type { LogitsProcessor } from './generation/logits-processors';
export {
  logitsProcessors,
  repetitionPenaltyProcessor,
  temperatureWarper,
  topKWarper,
  topPWarper,
} from './generation/logits-processors';
export type {
  FinishReason,
  GenerateOptions,
  GenerateResult,
  GenerationSettings,
  TokenEvent,
} from './generation/options';
export { resolveGenerationSettings } from './generation/options';
export { argmax, sample } from './generation/samplers';
export type { StoppingCriteria } from './generation/stopping-criteria';
export { stoppingCriteria } from './generation/stopping-criteria';
export { TextStreamer } from './generation/streamer';
export type { LoadedModel, LoadOptions, ResolveModelOptions } from './load';
export { loadModel, loadStateDict, modelFromFolder, resolveModelFolder } from './load';
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
export { asWeight, inDType, Linear } from './nn/linear';
export { Module } from './nn/module';
export { ModuleList } from './nn/module-list';
export { LayerNorm, RMSNorm } from './nn/norms';
export type { Architecture, QuantizationMethod } from './registry';
export {
  getArchitecture,
  getQuantizationMethod,
  registerArchitecture,
  registerQuantizationMethod,
  supportedModelTypes,
} from './registry';
export type { SaveModelOptions } from './save';
export { saveModel, stateDict } from './save';

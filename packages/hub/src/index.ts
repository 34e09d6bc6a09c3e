/**
 * @slimlm/hub: safetensors (lazy, sharded, atomic writes), config and tokenizer files, and the
 * Hugging Face Hub (pull/push with a cache shared with huggingface_hub).
 */

// safetensors

export { openCheckpoint } from './safetensors/checkpoint';
export { openSafetensors, SafetensorsFile } from './safetensors/read';
export type { SaveCheckpointOptions } from './safetensors/save-checkpoint';
export { parseSize, saveCheckpoint } from './safetensors/save-checkpoint';
export type {
  ReadTensorOptions,
  SafetensorsDType,
  TensorInfo,
  TensorSource,
} from './safetensors/types';
export type {
  SafetensorsEntry,
  SafetensorsInput,
  SaveSafetensorsOptions,
} from './safetensors/write';
export { saveSafetensors } from './safetensors/write';

// config + tokenizer

export { ConfigReader, type NumberBounds, type NumberOptions } from './config/config-reader';
export { type GenerationConfig, loadGenerationConfig } from './config/generation-config';
export { readJsonFile } from './config/read-json-file';
export {
  type AddedTokenInfo,
  loadTokenizerConfig,
  type TokenizerConfig,
} from './config/tokenizer-config';
export { ChatTemplate, type ChatTemplateTokens } from './tokenizer/chat-template';
export { type LoadTokenizerOptions, loadTokenizer } from './tokenizer/load-tokenizer';
export type {
  ChatMessage,
  ChatTemplateOptions,
  DecodeOptions,
  EncodeOptions,
  Tokenizer,
} from './tokenizer/tokenizer';

// hub

export { filterPaths } from './hub/fnmatch';
export { hubSettings } from './hub/hub-settings';
export { pull } from './hub/pull';
export { push } from './hub/push';
export type {
  HubSettings,
  PullOptions,
  PullProgress,
  PushOptions,
  PushResult,
  RepoType,
} from './hub/types';

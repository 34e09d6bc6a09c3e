/**
 * @slimlm/hub: safetensors (lazy, sharded, atomic writes), config and tokenizer files, and the
 * Hugging Face Hub (pull/push with a cache shared with huggingface_hub).
 */

// safetensors
export type {
  ReadTensorOptions,
  SafetensorsDType,
  TensorInfo,
  TensorSource,
} from './safetensors/types';

// config + tokenizer

// hub

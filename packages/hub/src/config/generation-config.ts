import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigReader } from './config-reader';
import { readJsonFile } from './read-json-file';

/** The validated fields of generation_config.json that slimlm uses, camel-cased. */
export interface GenerationConfig {
  bosTokenId?: number;
  /** eos_token_id as a list (the file may hold one id or several); empty when unset. */
  eosTokenIds: number[];
  padTokenId?: number;
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  maxNewTokens?: number;
  maxLength?: number;
  /** The whole file, for fields not listed here. */
  raw: Record<string, unknown>;
}

/**
 * Reads `<folder>/generation_config.json`; undefined when the folder has none. Bad values are
 * INVALID_CONFIG errors naming the file and the field.
 */
export function loadGenerationConfig(folder: string): GenerationConfig | undefined {
  const file = join(folder, 'generation_config.json');
  if (!existsSync(file)) return undefined;
  const config = new ConfigReader(file, readJsonFile(file));
  const tokenId = { min: 0 };
  return {
    bosTokenId: config.optionalInt('bos_token_id', tokenId),
    eosTokenIds: config.optionalIntOrIntList('eos_token_id', tokenId) ?? [],
    padTokenId: config.optionalInt('pad_token_id', tokenId),
    doSample: config.optionalBoolean('do_sample'),
    temperature: config.optionalNumber('temperature', { min: 0 }),
    // transformers treats top_k 0 as "no top-k filtering".
    topK: config.optionalInt('top_k', { min: 0 }),
    topP: config.optionalNumber('top_p', { min: 0, max: 1 }),
    repetitionPenalty: config.optionalNumber('repetition_penalty', { above: 0 }),
    maxNewTokens: config.optionalInt('max_new_tokens', { min: 0 }),
    maxLength: config.optionalInt('max_length', { min: 0 }),
    raw: { ...config.raw },
  };
}

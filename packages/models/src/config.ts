import { type DType, SlimlmError } from '@slimlm/core';
import { ConfigReader } from '@slimlm/hub';
import type { ArchitectureConfig } from './model';

/**
 * Typed reads of config.json fields for architectures, over hub's ConfigReader: every error is
 * INVALID_CONFIG naming the file and the (dotted) field, and a field given as `null` counts as
 * absent, as transformers treats it. Fallbacks are the architecture's config-class defaults.
 */
export class ConfigFields {
  readonly reader: ConfigReader;

  constructor(
    readonly file: string,
    json: unknown,
    /** The dotted path of a nested object ('rope_scaling'), for messages. */
    readonly prefix = '',
  ) {
    this.reader = new ConfigReader(file, json, prefix);
  }

  /** The object itself. */
  get json(): Record<string, unknown> {
    return { ...this.reader.raw };
  }

  /** Whether `field` is present and not null. */
  has(field: string): boolean {
    return this.reader.has(field);
  }

  number(field: string, fallback?: number): number {
    return this.reader.number(field, fallback === undefined ? {} : { default: fallback });
  }

  /** An integer of at least `min` (default 1: sizes and counts). */
  integer(field: string, fallback?: number, min = 1): number {
    return this.reader.int(field, {
      min,
      ...(fallback === undefined ? {} : { default: fallback }),
    });
  }

  boolean(field: string, fallback?: boolean): boolean {
    return this.reader.boolean(field, fallback === undefined ? {} : { default: fallback });
  }

  string(field: string, fallback?: string): string {
    return this.reader.string(field, fallback === undefined ? {} : { default: fallback });
  }

  /** A nested object (rope_scaling, quantization_config), or undefined when absent or null. */
  object(field: string): ConfigFields | undefined {
    if (!this.reader.optionalObject(field)) return undefined;
    return new ConfigFields(this.file, this.reader.get(field), this.dotted(field));
  }

  /** A token id or a list of them (eos_token_id may be either); [] when absent. */
  tokenIds(field: string): number[] {
    return this.reader.intOrIntList(field, { min: 0, default: [] });
  }

  /** An optional token id; undefined when absent. */
  tokenId(field: string): number | undefined {
    return this.reader.optionalInt(field, { min: 0 });
  }

  /** An INVALID_CONFIG error for `field` holding something other than what `expected` says. */
  invalid(field: string, expected: string, value: unknown): SlimlmError {
    return this.reader.error(field, `must be ${expected}, got ${JSON.stringify(value)}`);
  }

  /** An UNSUPPORTED error for a valid `field` value slimlm does not implement. */
  unsupported(field: string, value: unknown, supported: string): SlimlmError {
    const { message } = this.reader.error(
      field,
      `= ${JSON.stringify(value)} is not supported (supported: ${supported})`,
    );
    return new SlimlmError('UNSUPPORTED', message);
  }

  private dotted(field: string): string {
    return this.prefix === '' ? field : `${this.prefix}.${field}`;
  }
}

const TORCH_DTYPES: Record<string, DType> = {
  float32: 'f32',
  float16: 'f16',
  bfloat16: 'bf16',
  float64: 'f64',
};

/**
 * config.json's stored dtype as a core dtype, when it names one slimlm stores: `torch_dtype`, or
 * `dtype` as transformers writes it since 4.56.
 */
export function storageDTypeOf(fields: ConfigFields): DType | undefined {
  const name = fields.reader.get('torch_dtype') ?? fields.reader.get('dtype');
  return typeof name === 'string' ? TORCH_DTYPES[name] : undefined;
}

/** The config.json field names of the shape facts, which differ per architecture. */
export interface ArchitectureFieldNames {
  vocabSize: string;
  hiddenSize: string;
  numLayers: string;
  numHeads: string;
  /** Absent for architectures without grouped-query attention (kv heads = heads). */
  numKvHeads?: string;
  /** Absent when the head dim is always hidden / heads. */
  headDim?: string;
  maxPositions: string;
}

/**
 * The field names of transformers' newer configs (Llama, GPT-NeoX, OPT, …); older ones such as
 * GPT-2 and GPT-Neo name some facts differently.
 */
export const STANDARD_FIELD_NAMES: Readonly<ArchitectureFieldNames> = {
  vocabSize: 'vocab_size',
  hiddenSize: 'hidden_size',
  numLayers: 'num_hidden_layers',
  numHeads: 'num_attention_heads',
  maxPositions: 'max_position_embeddings',
};

/**
 * The ArchitectureConfig of a config.json: the shape facts under the architecture's field names,
 * plus the fields every HF config shares (model_type, tie_word_embeddings, special token ids,
 * torch_dtype). `defaults` are the architecture's config-class defaults for absent fields.
 */
export function architectureConfig(
  fields: ConfigFields,
  names: ArchitectureFieldNames,
  defaults: { tieWordEmbeddings?: boolean; maxPositions?: number } = {},
): ArchitectureConfig {
  const hiddenSize = fields.integer(names.hiddenSize);
  const numHeads = fields.integer(names.numHeads);
  const numKvHeads =
    names.numKvHeads === undefined ? numHeads : fields.integer(names.numKvHeads, numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw fields.invalid(
      names.numKvHeads ?? names.numHeads,
      `a divisor of ${names.numHeads} (${numHeads})`,
      numKvHeads,
    );
  }
  const givenHeadDim =
    names.headDim !== undefined && fields.has(names.headDim)
      ? fields.integer(names.headDim)
      : undefined;
  if (givenHeadDim === undefined && hiddenSize % numHeads !== 0) {
    throw fields.invalid(
      names.hiddenSize,
      `a multiple of ${names.numHeads} (${numHeads})`,
      hiddenSize,
    );
  }
  const bosTokenId = fields.tokenId('bos_token_id');
  const padTokenId = fields.tokenId('pad_token_id');
  const storageDType = storageDTypeOf(fields);
  return {
    modelType: fields.string('model_type'),
    vocabSize: fields.integer(names.vocabSize),
    hiddenSize,
    numLayers: fields.integer(names.numLayers),
    numHeads,
    numKvHeads,
    headDim: givenHeadDim ?? hiddenSize / numHeads,
    maxPositions: fields.integer(names.maxPositions, defaults.maxPositions),
    tieWordEmbeddings: fields.boolean('tie_word_embeddings', defaults.tieWordEmbeddings ?? true),
    ...(bosTokenId === undefined ? {} : { bosTokenId }),
    eosTokenIds: fields.tokenIds('eos_token_id'),
    ...(padTokenId === undefined ? {} : { padTokenId }),
    ...(storageDType === undefined ? {} : { storageDType }),
    raw: fields.json,
  };
}

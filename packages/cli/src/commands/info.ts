import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import { openCheckpoint, readJsonFile, type TensorInfo } from '@slimlm/hub';
import { type ArchitectureConfig, getArchitecture } from '@slimlm/models';
import { defineCommand } from '../command';
import { MODEL_OPTIONS } from '../options';
import { formatBytes, formatCount, formatInteger } from '../utils/format';
import { resolveModel } from '../utils/resolve-model';

/** Per stored dtype (lowercase: 'f16', 'i32', 'bool'…). */
export interface DTypeSummary {
  tensors: number;
  /** Stored elements (packed quantized weights count their containers, not their weights). */
  elements: number;
  bytes: number;
}

/** `slimlm info --json`: one object, snake_case like Hugging Face configs. */
export interface ModelInfo {
  model: string;
  folder: string;
  model_type: string;
  /** Our description of the architecture serving model_type; null when slimlm does not support it. */
  architecture: string | null;
  /** Weights of the model as trained (for a quantized checkpoint, of its unquantized form). */
  parameters: number;
  tensors: number;
  total_bytes: number;
  dtypes: Record<string, DTypeSummary>;
  /** config.json `quantization_config` as written, or null. */
  quantization_config: Record<string, unknown> | null;
  vocab_size: number | null;
  hidden_size: number | null;
  num_layers: number | null;
  num_heads: number | null;
  num_kv_heads: number | null;
  head_dim: number | null;
  max_positions: number | null;
  tie_word_embeddings: boolean;
  /** config.json `torch_dtype`. */
  torch_dtype: string | null;
  tokenizer: boolean;
  chat_template: boolean;
}

export const infoCommand = defineCommand({
  name: 'info',
  summary: "Show a model's architecture, size, dtypes and files without loading its weights",
  description:
    'Reads config.json, the safetensors headers and the tokenizer files only, so it is quick on\n' +
    'any model size. A Hub id is pulled into the cache first.',
  positionals: [{ name: 'model', description: 'local folder, built-in name or Hub id' }],
  options: {
    ...MODEL_OPTIONS,
    json: { type: 'boolean', description: 'Print one JSON object instead of the table' },
  },
  examples: ['slimlm info wikillama', 'slimlm info ./my-model --json'],
  async run({ positionals, options }, { out }) {
    const argument = positionals[0]!;
    const { folder } = await resolveModel(argument, {
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      out,
    });
    const info = modelInfo(argument, folder);
    if (out.json) out.result(info);
    else out.table(infoRows(info));
  },
});

/** Everything `slimlm info` reports about the model in `folder`, from its headers and configs. */
export function modelInfo(model: string, folder: string): ModelInfo {
  const configFile = join(folder, 'config.json');
  const config = readJsonFile(configFile);
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new SlimlmError('INVALID_CONFIG', `${configFile}: expected a JSON object`);
  }
  const raw = config as Record<string, unknown>;
  const modelType = raw.model_type;
  if (typeof modelType !== 'string') {
    throw new SlimlmError('INVALID_CONFIG', `${configFile}: model_type must be a string`);
  }
  const quantization = isRecord(raw.quantization_config) ? raw.quantization_config : null;

  const tensors: TensorInfo[] = [];
  const source = openCheckpoint(folder);
  try {
    for (const name of source.names()) tensors.push(source.info(name));
  } finally {
    source.close();
  }
  const dtypes: Record<string, DTypeSummary> = {};
  let storedElements = 0;
  let totalBytes = 0;
  for (const tensor of tensors) {
    const elements = tensor.shape.reduce((a, b) => a * b, 1);
    const dtype = tensor.dtype.toLowerCase();
    const entry = dtypes[dtype] ?? { tensors: 0, elements: 0, bytes: 0 };
    dtypes[dtype] = entry;
    entry.tensors++;
    entry.elements += elements;
    entry.bytes += tensor.byteLength;
    storedElements += elements;
    totalBytes += tensor.byteLength;
  }

  const architecture = supportedArchitecture(modelType, configFile);
  let shape: ShapeFacts;
  let parameters = storedElements;
  if (architecture) {
    // Declaring the module tree allocates nothing; it gives the normalised config and, for a
    // quantized checkpoint, the parameter count its packed tensors stand for.
    const model = architecture.create(raw, configFile);
    shape = shapeFacts(model.config);
    if (quantization) parameters = declaredParameters(model);
  } else {
    shape = rawShapeFacts(raw);
  }

  return {
    model,
    folder,
    model_type: modelType,
    architecture: architecture?.description ?? null,
    parameters,
    tensors: tensors.length,
    total_bytes: totalBytes,
    dtypes,
    quantization_config: quantization,
    ...shape,
    torch_dtype: typeof raw.torch_dtype === 'string' ? raw.torch_dtype : null,
    tokenizer: existsSync(join(folder, 'tokenizer.json')),
    chat_template: hasChatTemplate(folder),
  };
}

type ShapeFacts = Pick<
  ModelInfo,
  | 'vocab_size'
  | 'hidden_size'
  | 'num_layers'
  | 'num_heads'
  | 'num_kv_heads'
  | 'head_dim'
  | 'max_positions'
  | 'tie_word_embeddings'
>;

function shapeFacts(config: ArchitectureConfig): ShapeFacts {
  return {
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    num_layers: config.numLayers,
    num_heads: config.numHeads,
    num_kv_heads: config.numKvHeads,
    head_dim: config.headDim,
    max_positions: config.maxPositions,
    tie_word_embeddings: config.tieWordEmbeddings,
  };
}

/** The usual Hugging Face names, for a model_type slimlm cannot build. */
function rawShapeFacts(raw: Record<string, unknown>): ShapeFacts {
  const number = (key: string): number | null =>
    typeof raw[key] === 'number' ? (raw[key] as number) : null;
  const heads = number('num_attention_heads');
  const hidden = number('hidden_size');
  return {
    vocab_size: number('vocab_size'),
    hidden_size: hidden,
    num_layers: number('num_hidden_layers'),
    num_heads: heads,
    num_kv_heads: number('num_key_value_heads') ?? heads,
    head_dim: number('head_dim') ?? (hidden !== null && heads ? hidden / heads : null),
    max_positions: number('max_position_embeddings'),
    tie_word_embeddings: raw.tie_word_embeddings === true,
  };
}

function supportedArchitecture(modelType: string, configFile: string) {
  try {
    return getArchitecture(modelType, configFile);
  } catch (error) {
    if (error instanceof SlimlmError && error.code === 'UNSUPPORTED') return undefined;
    throw error;
  }
}

/** Declared parameters, counting a tied pair once (as transformers' num_parameters does). */
function declaredParameters(model: ReturnType<ReturnType<typeof getArchitecture>['create']>) {
  const tiedTargets = new Set(model.tiedParameters().map(([target]) => target));
  let count = 0;
  for (const [path, shape] of model.parameterShapes()) {
    if (!tiedTargets.has(path)) count += shape.reduce((a, b) => a * b, 1);
  }
  return count;
}

function hasChatTemplate(folder: string): boolean {
  if (existsSync(join(folder, 'chat_template.jinja'))) return true;
  if (existsSync(join(folder, 'chat_template.json'))) return true;
  const file = join(folder, 'tokenizer_config.json');
  if (!existsSync(file)) return false;
  const config = readJsonFile(file);
  if (!isRecord(config)) return false;
  const template = config.chat_template;
  return (typeof template === 'string' && template !== '') || Array.isArray(template);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function infoRows(info: ModelInfo): [string, string][] {
  const orNone = (value: number | null) => (value === null ? '?' : String(value));
  const dtypes = Object.entries(info.dtypes)
    .map(([dtype, d]) => `${dtype} (${d.tensors} tensors, ${formatBytes(d.bytes)})`)
    .join(', ');
  const rows: [string, string][] = [
    ['model', info.model === info.folder ? info.folder : `${info.model} (${info.folder})`],
    ['model type', info.model_type],
    ['architecture', info.architecture ?? 'not supported by slimlm'],
    ['parameters', `${formatCount(info.parameters)} (${formatInteger(info.parameters)})`],
    ['tensors', String(info.tensors)],
    ['dtypes', dtypes || 'none'],
    ['total size', `${formatBytes(info.total_bytes)} (${formatInteger(info.total_bytes)} bytes)`],
    ['quantization', info.quantization_config ? JSON.stringify(info.quantization_config) : 'none'],
    ['vocab size', orNone(info.vocab_size)],
    ['hidden size', orNone(info.hidden_size)],
    ['layers', orNone(info.num_layers)],
    ['attention heads', orNone(info.num_heads)],
    ['kv heads', orNone(info.num_kv_heads)],
    ['head dim', orNone(info.head_dim)],
    ['max positions', orNone(info.max_positions)],
    ['tied embeddings', info.tie_word_embeddings ? 'yes' : 'no'],
    ['tokenizer', info.tokenizer ? 'yes (tokenizer.json)' : 'no'],
    ['chat template', info.chat_template ? 'yes' : 'no'],
  ];
  return rows;
}

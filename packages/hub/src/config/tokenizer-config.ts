import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigReader } from './config-reader';
import { readJsonFile } from './read-json-file';

/** One entry of added_tokens_decoder. */
export interface AddedTokenInfo {
  content: string;
  special: boolean;
}

/**
 * The validated fields of tokenizer_config.json, with special_tokens_map.json folded in (its
 * token strings win, as in transformers). Tokens written as AddedToken objects become their
 * content string.
 */
export interface TokenizerConfig {
  addBosToken?: boolean;
  addEosToken?: boolean;
  bosToken?: string;
  eosToken?: string;
  unkToken?: string;
  padToken?: string;
  additionalSpecialTokens: string[];
  /**
   * The default chat template (the one named 'default' when the file holds a list), from
   * tokenizer_config.json, else chat_template.jinja or chat_template.json.
   */
  chatTemplate?: string;
  /** Every chat template by name; a single template is named 'default'. */
  chatTemplates: Record<string, string>;
  /** Undefined when absent or set to transformers' "no limit" sentinel (1e30). */
  modelMaxLength?: number;
  addedTokensDecoder: Map<number, AddedTokenInfo>;
  cleanUpTokenizationSpaces?: boolean;
  /** tokenizer_config.json as written ({} when absent), for fields not listed here. */
  raw: Record<string, unknown>;
}

const SPECIAL_TOKENS = ['bos_token', 'eos_token', 'unk_token', 'pad_token'] as const;

/**
 * Reads `<folder>/tokenizer_config.json` and `<folder>/special_tokens_map.json`. Both are
 * optional: a folder with neither gives a config with no fields set.
 */
export function loadTokenizerConfig(folder: string): TokenizerConfig {
  const configFile = join(folder, 'tokenizer_config.json');
  const mapFile = join(folder, 'special_tokens_map.json');
  const config = new ConfigReader(
    configFile,
    existsSync(configFile) ? readJsonFile(configFile) : {},
  );
  const map = existsSync(mapFile) ? new ConfigReader(mapFile, readJsonFile(mapFile)) : undefined;

  const tokens: Partial<Record<(typeof SPECIAL_TOKENS)[number], string>> = {};
  for (const name of SPECIAL_TOKENS) {
    tokens[name] = (map && tokenContent(map, name)) ?? tokenContent(config, name);
  }
  const additional =
    (map && tokenList(map, 'additional_special_tokens')) ??
    tokenList(config, 'additional_special_tokens') ??
    [];
  const chatTemplates = readChatTemplates(config);
  if (Object.keys(chatTemplates).length === 0)
    Object.assign(chatTemplates, readChatTemplateFile(folder));
  const maxLength = config.optionalNumber('model_max_length', { min: 0 });

  return {
    addBosToken: config.optionalBoolean('add_bos_token'),
    addEosToken: config.optionalBoolean('add_eos_token'),
    bosToken: tokens.bos_token,
    eosToken: tokens.eos_token,
    unkToken: tokens.unk_token,
    padToken: tokens.pad_token,
    additionalSpecialTokens: additional,
    chatTemplate: chatTemplates.default ?? Object.values(chatTemplates)[0],
    chatTemplates,
    modelMaxLength:
      maxLength !== undefined && maxLength <= Number.MAX_SAFE_INTEGER
        ? config.optionalInt('model_max_length', { min: 0 })
        : undefined,
    addedTokensDecoder: readAddedTokens(config),
    cleanUpTokenizationSpaces: config.optionalBoolean('clean_up_tokenization_spaces'),
    raw: { ...config.raw },
  };
}

/** A special token written as a string or as an AddedToken object `{content, ...}`. */
function tokenContent(reader: ConfigReader, field: string): string | undefined {
  const value = reader.get(field);
  if (value === undefined || typeof value === 'string') return value;
  return reader.object(field).string('content');
}

function tokenList(reader: ConfigReader, field: string): string[] | undefined {
  const value = reader.get(field);
  if (value === undefined) return undefined;
  const expected = 'a list of tokens (strings or {"content": ...} objects)';
  if (!Array.isArray(value)) throw reader.error(field, `must be ${expected}`);
  return value.map((item, index) => {
    if (typeof item === 'string') return item;
    const content = (item as { content?: unknown } | null)?.content;
    if (typeof content !== 'string') throw reader.error(`${field}[${index}]`, `must be a token`);
    return content;
  });
}

function readChatTemplates(config: ConfigReader): Record<string, string> {
  const value = config.get('chat_template');
  if (value === undefined) return {};
  if (typeof value === 'string') return { default: value };
  const expected = 'a template string or a list of {"name": ..., "template": ...}';
  if (!Array.isArray(value)) throw config.error('chat_template', `must be ${expected}`);
  const templates: Record<string, string> = {};
  value.forEach((entry, index) => {
    const item = new ConfigReader(config.file, entry, `chat_template[${index}]`);
    templates[item.string('name')] = item.string('template');
  });
  return templates;
}

/** Newer transformers save the template beside tokenizer_config.json rather than inside it. */
function readChatTemplateFile(folder: string): Record<string, string> {
  const jinjaFile = join(folder, 'chat_template.jinja');
  if (existsSync(jinjaFile)) return { default: readFileSync(jinjaFile, 'utf8') };
  const jsonFile = join(folder, 'chat_template.json');
  if (existsSync(jsonFile)) return readChatTemplates(ConfigReader.fromFile(jsonFile));
  return {};
}

function readAddedTokens(config: ConfigReader): Map<number, AddedTokenInfo> {
  const decoder = config.optionalObject('added_tokens_decoder');
  const tokens = new Map<number, AddedTokenInfo>();
  if (decoder === undefined) return tokens;
  for (const key of Object.keys(decoder.raw)) {
    if (!/^\d+$/.test(key))
      throw config.error(`added_tokens_decoder.${key}`, 'must be keyed by a token id');
    const entry = decoder.object(key);
    tokens.set(Number(key), {
      content: entry.string('content'),
      special: entry.boolean('special', { default: false }),
    });
  }
  return tokens;
}

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import { SlimlmError } from '@slimlm/core';
import { ConfigReader } from '../config/config-reader';
import { loadGenerationConfig } from '../config/generation-config';
import { readJsonFile } from '../config/read-json-file';
import { loadTokenizerConfig, type TokenizerConfig } from '../config/tokenizer-config';
import { encodeLongWordsInPieces } from './bpe-pieces';
import { ChatTemplate } from './chat-template';
import type {
  ChatMessage,
  ChatTemplateOptions,
  DecodeOptions,
  EncodeOptions,
  Tokenizer,
} from './tokenizer';

export interface LoadTokenizerOptions {
  /** End-of-sequence ids to use instead of those the folder's files give. */
  eosTokenIds?: number[];
}

/**
 * Loads the tokenizer of a model folder: tokenizer.json (required), tokenizer_config.json and
 * special_tokens_map.json (special tokens, chat template), generation_config.json and
 * config.json (end-of-sequence ids). Encoding matches transformers' fast tokenizer.
 */
export async function loadTokenizer(
  folder: string,
  options: LoadTokenizerOptions = {},
): Promise<Tokenizer> {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new SlimlmError('NOT_FOUND', `${folder}: no such folder`);
  }
  const tokenizerFile = join(folder, 'tokenizer.json');
  if (!existsSync(tokenizerFile)) throw missingTokenizerJson(folder);
  const tokenizerJson = readJsonFile(tokenizerFile);
  const config = loadTokenizerConfig(folder);

  let tokenizer: JsTokenizer;
  try {
    tokenizer = new JsTokenizer(tokenizerJson as object, {
      ...config.raw,
      bos_token: config.bosToken,
      eos_token: config.eosToken,
      unk_token: config.unkToken,
      pad_token: config.padToken,
      additional_special_tokens: config.additionalSpecialTokens,
    });
  } catch (error) {
    throw new SlimlmError(
      'UNSUPPORTED',
      `${tokenizerFile}: @huggingface/tokenizers cannot build this tokenizer: ${(error as Error).message}`,
    );
  }
  encodeLongWordsInPieces(tokenizer);
  return new LoadedTokenizer(folder, tokenizer, config, options);
}

function missingTokenizerJson(folder: string): SlimlmError {
  const sentencepiece = existsSync(join(folder, 'tokenizer.model'))
    ? ' The sentencepiece tokenizer.model in it is not read.'
    : '';
  return new SlimlmError(
    'NOT_FOUND',
    `${folder}: no tokenizer.json. slimlm needs the Hugging Face fast tokenizer file ` +
      `tokenizer.json.${sentencepiece} To write one, run in Python: ` +
      `AutoTokenizer.from_pretrained(folder).save_pretrained(folder) (transformers).`,
  );
}

/** The fields of config.json that concern the tokenizer; all optional. */
function readModelConfigIds(folder: string): { bos?: number; eos?: number[]; pad?: number } {
  const file = join(folder, 'config.json');
  if (!existsSync(file)) return {};
  const config = ConfigReader.fromFile(file);
  return {
    bos: config.optionalInt('bos_token_id', { min: 0 }),
    eos: config.optionalIntOrIntList('eos_token_id', { min: 0 }),
    pad: config.optionalInt('pad_token_id', { min: 0 }),
  };
}

class LoadedTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId?: number;
  readonly eosTokenIds: number[];
  readonly padTokenId?: number;
  readonly chatTemplate?: string;
  /** The ids encode() puts around a text when adding special tokens; see specialTokenLayout. */
  private readonly layout?: [prefix: number[], suffix: number[]];
  private compiledTemplate?: ChatTemplate;

  constructor(
    private readonly folder: string,
    private readonly tokenizer: JsTokenizer,
    private readonly config: TokenizerConfig,
    options: LoadTokenizerOptions,
  ) {
    let maxId = -1;
    for (const id of tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;

    const generation = loadGenerationConfig(folder);
    const model = readModelConfigIds(folder);
    const idOf = (token: string | undefined) =>
      token === undefined ? undefined : tokenizer.token_to_id(token);

    this.bosTokenId = idOf(config.bosToken) ?? generation?.bosTokenId ?? model.bos;
    this.padTokenId = idOf(config.padToken) ?? generation?.padTokenId ?? model.pad;
    const eos = idOf(config.eosToken);
    const declared = generation?.eosTokenIds.length ? generation.eosTokenIds : (model.eos ?? []);
    this.eosTokenIds = options.eosTokenIds
      ? [...options.eosTokenIds]
      : [...new Set([...declared, ...(eos === undefined ? [] : [eos])])];
    this.chatTemplate = config.chatTemplate;
    this.layout = this.specialTokenLayout(eos);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const addSpecialTokens = options.addSpecialTokens ?? true;
    if (addSpecialTokens && this.layout === undefined) {
      return this.tokenizer.encode(text, { add_special_tokens: true }).ids;
    }
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    if (!addSpecialTokens || this.layout === undefined) return ids;
    const [prefix, suffix] = this.layout;
    return [...prefix, ...ids, ...suffix];
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new SlimlmError(
          'INVALID_ARGUMENT',
          `decode: token id ${id} is outside the vocabulary [0, ${this.vocabSize})`,
        );
      }
    }
    return this.tokenizer.decode([...ids], {
      skip_special_tokens: options.skipSpecialTokens ?? false,
    });
  }

  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === undefined) {
      throw new SlimlmError(
        'UNSUPPORTED',
        `${this.folder} has no chat template (no chat_template in tokenizer_config.json and no ` +
          'chat_template.jinja): this is a base model, so prompt it with plain text',
      );
    }
    this.compiledTemplate ??= new ChatTemplate(
      this.chatTemplate,
      join(this.folder, 'tokenizer_config.json'),
      {
        bos_token: this.config.bosToken,
        eos_token: this.config.eosToken,
        unk_token: this.config.unkToken,
        pad_token: this.config.padToken,
      },
    );
    return this.compiledTemplate.render(messages, options);
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /**
   * Which ids surround an encoded text. tokenizer.json's post-processor says, but transformers
   * lets tokenizer_config.json's add_bos_token / add_eos_token override it (it rebuilds the
   * post-processor), and @huggingface/tokenizers ignores those two flags, so they apply here.
   */
  private specialTokenLayout(eos: number | undefined): [number[], number[]] | undefined {
    // A single-sequence post-processor wraps the text in fixed ids; find them around a probe.
    // Should one ever do otherwise, undefined leaves encode() to the post-processor alone.
    const plain = this.tokenizer.encode('a', { add_special_tokens: false }).ids;
    const full = this.tokenizer.encode('a', { add_special_tokens: true }).ids;
    let start = 0;
    while (start + plain.length <= full.length && !startsWithAt(full, plain, start)) start++;
    if (start + plain.length > full.length) return undefined;
    let prefix = full.slice(0, start);
    let suffix = full.slice(start + plain.length);

    const bos = this.bosTokenId;
    const { addBosToken, addEosToken } = this.config;
    if (addBosToken !== undefined && bos !== undefined && (prefix[0] === bos) !== addBosToken) {
      prefix = addBosToken ? [bos, ...prefix] : prefix.slice(1);
    }
    if (addEosToken !== undefined && eos !== undefined && (suffix.at(-1) === eos) !== addEosToken) {
      suffix = addEosToken ? [...suffix, eos] : suffix.slice(0, -1);
    }
    return [prefix, suffix];
  }
}

function startsWithAt(list: number[], part: number[], at: number): boolean {
  return part.every((id, i) => list[at + i] === id);
}

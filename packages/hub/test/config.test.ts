import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigReader } from '../src/config/config-reader';
import { loadGenerationConfig } from '../src/config/generation-config';
import { readJsonFile } from '../src/config/read-json-file';
import { loadTokenizerConfig } from '../src/config/tokenizer-config';
import { thrown } from './helpers/errors';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const STORIES = join(ROOT, 'fixtures/stories260K-hf');
const WIKILLAMA = join(ROOT, 'packages/models/assets/wikillama-7m');

const scratch = mkdtempSync(join(tmpdir(), 'slimlm-config-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A fresh folder holding the given files (objects are written as JSON). */
function folderWith(files: Record<string, unknown>): string {
  const folder = mkdtempSync(join(scratch, 'f-'));
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(
      join(folder, name),
      typeof content === 'string' ? content : JSON.stringify(content),
    );
  }
  return folder;
}

describe('readJsonFile', () => {
  it('parses a file', () => {
    const folder = folderWith({ 'a.json': '{"x": [1, 2], "y": null}' });
    expect(readJsonFile(join(folder, 'a.json'))).toEqual({ x: [1, 2], y: null });
  });

  it('accepts a byte-order mark', () => {
    const folder = folderWith({ 'a.json': '\uFEFF{"x": 1}' });
    expect(readJsonFile(join(folder, 'a.json'))).toEqual({ x: 1 });
  });

  it('says NOT_FOUND with the path for a missing file', () => {
    const path = join(scratch, 'nope.json');
    const error = thrown(() => readJsonFile(path));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toBe(`${path}: file not found`);
  });

  it.each([
    ['{"a": 1,\n  "b": }', 2, 8, 'unexpected "}"'],
    ['{"a": 1,\n "b": 2,\n}', 3, 1, 'expected a property name in double quotes, found "}"'],
    ['[1, 2,]', 1, 7, 'unexpected "]"'],
    ['{"a": tru}', 1, 7, 'unexpected "t"'],
    ['{"a": "x\ny"}', 1, 9, 'control character'],
    ['{"a": 1}}', 1, 9, 'after the end of the JSON value'],
    ['{"a": 01}', 1, 8, "expected ',' or '}'"],
    ['{"a": [1, 2', 1, 12, 'end of file'],
    ['', 1, 1, 'end of file'],
  ])('locates the syntax error in %j', (text, line, column, reason) => {
    const folder = folderWith({ 'bad.json': text });
    const path = join(folder, 'bad.json');
    const error = thrown(() => readJsonFile(path));
    expect(error.code).toBe('INVALID_FILE');
    expect(error.message).toContain(`${path}: invalid JSON at line ${line}, column ${column}: `);
    expect(error.message).toContain(reason);
  });

  it('says INVALID_FILE for a folder', () => {
    expect(thrown(() => readJsonFile(scratch)).code).toBe('INVALID_FILE');
  });
});

describe('ConfigReader', () => {
  const config = new ConfigReader('config.json', {
    hidden_size: 64,
    num_attention_heads: '8',
    rms_norm_eps: 1e-5,
    model_type: 'llama',
    tie_word_embeddings: true,
    eos_token_id: [2, 7],
    bos_token_id: 1,
    pad_token_id: null,
    hidden_act: 'gelu_fast',
    rope_scaling: { rope_type: 'linear', factor: -2 },
    architectures: ['LlamaForCausalLM'],
    long_factor: [1, 1.5],
  });

  it('reads typed fields', () => {
    expect(config.int('hidden_size', { min: 1 })).toBe(64);
    expect(config.number('rms_norm_eps', { above: 0 })).toBe(1e-5);
    expect(config.string('model_type')).toBe('llama');
    expect(config.boolean('tie_word_embeddings')).toBe(true);
    expect(config.enum('model_type', ['llama', 'mistral'])).toBe('llama');
    expect(config.intOrIntList('eos_token_id')).toEqual([2, 7]);
    expect(config.intOrIntList('bos_token_id')).toEqual([1]);
    expect(config.stringList('architectures')).toEqual(['LlamaForCausalLM']);
    expect(config.numberList('long_factor')).toEqual([1, 1.5]);
    expect(config.object('rope_scaling').string('rope_type')).toBe('linear');
  });

  it('uses defaults for absent and null fields', () => {
    expect(config.int('num_hidden_layers', { default: 2 })).toBe(2);
    expect(config.int('pad_token_id', { default: 0 })).toBe(0);
    expect(config.optionalInt('pad_token_id')).toBeUndefined();
    expect(config.has('pad_token_id')).toBe(false);
    expect(config.has('hidden_size')).toBe(true);
    expect(config.number('rope_theta', { default: 10000 })).toBe(10000);
    expect(config.string('hidden_act_x', { default: 'silu' })).toBe('silu');
    expect(config.boolean('use_cache', { default: true })).toBe(true);
    expect(config.enum('act', ['silu', 'gelu'], { default: 'silu' })).toBe('silu');
    expect(config.optionalIntOrIntList('sep_token_id')).toBeUndefined();
    expect(config.intOrIntList('sep_token_id', { default: [3] })).toEqual([3]);
    expect(config.optionalObject('quantization_config')).toBeUndefined();
  });

  it('names the file, the field, what it expected and what it got', () => {
    expect(() => config.int('num_attention_heads', { min: 1 })).toThrow(
      `config.json: field 'num_attention_heads' must be a positive integer, got "8"`,
    );
    expect(() => config.int('rms_norm_eps')).toThrow(
      `config.json: field 'rms_norm_eps' must be an integer, got 0.00001`,
    );
    expect(() => config.int('hidden_size', { min: 0, max: 32 })).toThrow(
      `config.json: field 'hidden_size' must be an integer >= 0 and <= 32, got 64`,
    );
    expect(() => config.number('rms_norm_eps', { min: 1 })).toThrow(
      `config.json: field 'rms_norm_eps' must be a number >= 1, got 0.00001`,
    );
    expect(() => config.string('hidden_size')).toThrow(
      `config.json: field 'hidden_size' must be a string, got 64`,
    );
    expect(() => config.boolean('model_type')).toThrow(
      `config.json: field 'model_type' must be true or false, got "llama"`,
    );
    expect(() => config.enum('hidden_act', ['silu', 'gelu'])).toThrow(
      `config.json: field 'hidden_act' must be one of "silu", "gelu", got "gelu_fast"`,
    );
    expect(() => config.intOrIntList('architectures', { min: 0 })).toThrow(
      `config.json: field 'architectures' must be a non-negative integer or a list of non-negative integers, got ["LlamaForCausalLM"]`,
    );
    expect(() => config.intList('long_factor')).toThrow(
      `config.json: field 'long_factor' must be a list of integers, got [1,1.5]`,
    );
    expect(() => config.object('hidden_size')).toThrow(
      `config.json: field 'hidden_size' must be an object, got 64`,
    );
  });

  it('says which required field is missing', () => {
    const error = thrown(() => config.int('num_hidden_layers', { min: 1 }));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toBe(
      `config.json: field 'num_hidden_layers' is missing; expected a positive integer`,
    );
  });

  it('prefixes nested fields with their dotted path', () => {
    const rope = config.object('rope_scaling');
    expect(() => rope.number('factor', { above: 0 })).toThrow(
      `config.json: field 'rope_scaling.factor' must be a positive number, got -2`,
    );
    expect(() => rope.int('original_max_position_embeddings')).toThrow(
      `config.json: field 'rope_scaling.original_max_position_embeddings' is missing`,
    );
    expect(rope.error('rope_type', 'is not supported').message).toBe(
      `config.json: field 'rope_scaling.rope_type' is not supported`,
    );
  });

  it('rejects a file whose top level is not an object', () => {
    const error = thrown(() => new ConfigReader('config.json', [1, 2]));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toBe('config.json: expected a JSON object at the top level, got [1,2]');
  });

  it('does not read inherited properties', () => {
    expect(config.has('toString')).toBe(false);
  });

  it('shortens long values in messages', () => {
    const reader = new ConfigReader('c.json', { name: 'x'.repeat(500) });
    const error = thrown(() => reader.int('name'));
    expect(error.message.length).toBeLessThan(160);
  });

  it('reads a file', () => {
    const folder = folderWith({ 'config.json': { hidden_size: 8 } });
    const reader = ConfigReader.fromFile(join(folder, 'config.json'));
    expect(reader.int('hidden_size')).toBe(8);
    expect(reader.file).toBe(join(folder, 'config.json'));
  });
});

describe('loadGenerationConfig', () => {
  it('reads the real files', () => {
    const stories = loadGenerationConfig(STORIES)!;
    expect(stories).toMatchObject({ bosTokenId: 1, eosTokenIds: [2], doSample: false });
    expect(stories.temperature).toBeUndefined();
    const wiki = loadGenerationConfig(WIKILLAMA)!;
    expect(wiki).toMatchObject({ bosTokenId: 1, eosTokenIds: [2] });
    expect(wiki.raw.transformers_version).toBe('4.46.3');
  });

  it('is undefined without generation_config.json', () => {
    expect(loadGenerationConfig(folderWith({}))).toBeUndefined();
  });

  it('reads every sampling field and a list of eos ids', () => {
    const folder = folderWith({
      'generation_config.json': {
        bos_token_id: 128000,
        eos_token_id: [128001, 128009],
        pad_token_id: 0,
        do_sample: true,
        temperature: 0.6,
        top_k: 0,
        top_p: 0.9,
        repetition_penalty: 1.1,
        max_new_tokens: 256,
        max_length: 4096,
      },
    });
    expect(loadGenerationConfig(folder)).toMatchObject({
      bosTokenId: 128000,
      eosTokenIds: [128001, 128009],
      padTokenId: 0,
      doSample: true,
      temperature: 0.6,
      topK: 0,
      topP: 0.9,
      repetitionPenalty: 1.1,
      maxNewTokens: 256,
      maxLength: 4096,
    });
  });

  it.each([
    [{ top_p: 1.5 }, "field 'top_p' must be a number >= 0 and <= 1, got 1.5"],
    [{ temperature: '0.7' }, 'field \'temperature\' must be a non-negative number, got "0.7"'],
    [{ eos_token_id: [2, '3'] }, "field 'eos_token_id' must be a non-negative integer or a list"],
    [{ do_sample: 'yes' }, 'field \'do_sample\' must be true or false, got "yes"'],
    [{ repetition_penalty: 0 }, "field 'repetition_penalty' must be a positive number, got 0"],
  ])('rejects %j naming the file and field', (content, message) => {
    const folder = folderWith({ 'generation_config.json': content });
    const error = thrown(() => loadGenerationConfig(folder));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toContain(`${join(folder, 'generation_config.json')}: ${message}`);
  });

  it('reports malformed JSON as INVALID_FILE', () => {
    const folder = folderWith({ 'generation_config.json': '{"eos_token_id": 2,}' });
    const error = thrown(() => loadGenerationConfig(folder));
    expect(error.code).toBe('INVALID_FILE');
    expect(error.message).toContain('generation_config.json: invalid JSON at line 1, column 20');
  });
});

describe('loadTokenizerConfig', () => {
  it('reads the real files, AddedToken objects in special_tokens_map.json included', () => {
    const config = loadTokenizerConfig(WIKILLAMA);
    expect(config).toMatchObject({
      addBosToken: true,
      addEosToken: false,
      bosToken: '<s>',
      eosToken: '</s>',
      unkToken: '<unk>',
      padToken: undefined,
      modelMaxLength: 512,
      cleanUpTokenizationSpaces: false,
      chatTemplate: undefined,
    });
    expect(config.addedTokensDecoder.get(2)).toEqual({ content: '</s>', special: true });
    expect(config.raw.tokenizer_class).toBe('LlamaTokenizer');
  });

  it('gives an empty config for a folder with neither file', () => {
    const config = loadTokenizerConfig(folderWith({}));
    expect(config.bosToken).toBeUndefined();
    expect(config.chatTemplates).toEqual({});
    expect(config.raw).toEqual({});
  });

  it('lets special_tokens_map.json override the token strings', () => {
    const folder = folderWith({
      'tokenizer_config.json': { eos_token: '</s>', pad_token: { content: '<pad>' } },
      'special_tokens_map.json': { eos_token: { content: '<|im_end|>', lstrip: false } },
    });
    const config = loadTokenizerConfig(folder);
    expect(config.eosToken).toBe('<|im_end|>');
    expect(config.padToken).toBe('<pad>');
  });

  it('reads chat templates as a string, a named list, or chat_template.jinja', () => {
    const single = loadTokenizerConfig(
      folderWith({ 'tokenizer_config.json': { chat_template: 'A' } }),
    );
    expect(single.chatTemplate).toBe('A');
    const list = loadTokenizerConfig(
      folderWith({
        'tokenizer_config.json': {
          chat_template: [
            { name: 'tool_use', template: 'T' },
            { name: 'default', template: 'D' },
          ],
        },
      }),
    );
    expect(list.chatTemplate).toBe('D');
    expect(list.chatTemplates).toEqual({ tool_use: 'T', default: 'D' });
    const jinja = loadTokenizerConfig(
      folderWith({ 'tokenizer_config.json': {}, 'chat_template.jinja': '{{ x }}' }),
    );
    expect(jinja.chatTemplate).toBe('{{ x }}');
  });

  it('treats the 1e30 model_max_length sentinel as no limit', () => {
    const folder = folderWith({
      'tokenizer_config.json': '{"model_max_length": 1000000000000000019884624838656}',
    });
    expect(loadTokenizerConfig(folder).modelMaxLength).toBeUndefined();
  });

  it.each([
    [{ add_bos_token: 'yes' }, 'field \'add_bos_token\' must be true or false, got "yes"'],
    [{ bos_token: { id: 1 } }, "field 'bos_token.content' is missing; expected a string"],
    [{ chat_template: 3 }, "field 'chat_template' must be a template string or a list"],
    [{ chat_template: [{ name: 'x' }] }, "field 'chat_template[0].template' is missing"],
    [{ model_max_length: -1 }, "field 'model_max_length' must be a non-negative number, got -1"],
    [
      { added_tokens_decoder: { x: {} } },
      "field 'added_tokens_decoder.x' must be keyed by a token id",
    ],
    [{ added_tokens_decoder: { 5: { content: 7 } } }, "field 'added_tokens_decoder.5.content'"],
  ])('rejects %j naming the file and field', (content, message) => {
    const folder = folderWith({ 'tokenizer_config.json': content });
    const error = thrown(() => loadTokenizerConfig(folder));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toContain(`${join(folder, 'tokenizer_config.json')}: ${message}`);
  });
});

import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SlimlmError } from '@slimlm/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../src/tokenizer/load-tokenizer';
import type { Tokenizer } from '../src/tokenizer/tokenizer';
import { rejection, thrown } from './helpers/errors';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const STORIES = join(ROOT, 'fixtures/stories260K-hf');
const WIKILLAMA = join(ROOT, 'packages/models/assets/wikillama-7m');
const storiesReference = JSON.parse(
  readFileSync(join(ROOT, 'fixtures/stories260K-reference.json'), 'utf8'),
);
const wikiReference = JSON.parse(
  readFileSync(join(ROOT, 'fixtures/wikillama-7m-reference.json'), 'utf8'),
);

const scratch = mkdtempSync(join(tmpdir(), 'slimlm-tokenizer-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A folder with stories260K's tokenizer.json (unless replaced) and the given JSON files. */
function folderWith(files: Record<string, unknown>, tokenizerJson = true): string {
  const folder = mkdtempSync(join(scratch, 'f-'));
  if (tokenizerJson) copyFileSync(join(STORIES, 'tokenizer.json'), join(folder, 'tokenizer.json'));
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(
      join(folder, name),
      typeof content === 'string' ? content : JSON.stringify(content),
    );
  }
  return folder;
}

describe('stories260K tokenizer', () => {
  let tokenizer: Tokenizer;
  beforeAll(async () => {
    tokenizer = await loadTokenizer(STORIES);
  });

  it('knows its special tokens', () => {
    expect(tokenizer.vocabSize).toBe(512);
    expect(tokenizer.bosTokenId).toBe(1);
    expect(tokenizer.eosTokenIds).toEqual([2]);
    expect(tokenizer.padTokenId).toBeUndefined();
    expect(tokenizer.chatTemplate).toBeUndefined();
    expect(tokenizer.tokenToId('<s>')).toBe(1);
    expect(tokenizer.idToToken(403)).toBe('▁Once');
  });

  it('encodes the reference prompts with BOS, as HF and llama2.c do', () => {
    const golden = storiesReference.llama2c_golden;
    expect(tokenizer.encode('Once upon a time')).toEqual(golden.prompt_ids_with_bos);
    expect(tokenizer.encode('Once upon a time', { addSpecialTokens: false })).toEqual(
      golden.prompt_ids_with_bos.slice(1),
    );
    const nll = storiesReference.nll[0];
    expect(tokenizer.encode(nll.text)).toEqual(nll.ids_with_bos);
  });

  it('decodes the greedy reference output', () => {
    const greedy = storiesReference.greedy_from_bos;
    const text = tokenizer.decode(greedy.output_ids, { skipSpecialTokens: true });
    expect(text.startsWith(greedy.decoded_prefix)).toBe(true);
    expect(storiesReference.llama2c_golden.text.startsWith(text)).toBe(true);
  });

  it('keeps or skips special tokens when decoding', () => {
    const ids = tokenizer.encode('Once upon a time');
    expect(tokenizer.decode(ids)).toBe('<s> Once upon a time');
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe('Once upon a time');
    expect(tokenizer.decode([...ids, 2], { skipSpecialTokens: true })).toBe('Once upon a time');
  });

  it('round-trips newlines and characters outside the vocabulary through byte fallback', () => {
    const text = 'Lily said "hi"\n\nThen 😀 ñ 中文!';
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    // The emoji's four UTF-8 bytes are byte-fallback pieces.
    const emoji = ['<0xF0>', '<0x9F>', '<0x98>', '<0x80>'].map((t) => tokenizer.tokenToId(t));
    expect(ids.join(',')).toContain(emoji.join(','));
    expect(ids).toContain(tokenizer.tokenToId('<0x0A>'));
    expect(tokenizer.decode(ids)).toBe(text);
  });

  it('applies the normalizer: no leading, trailing or doubled spaces', () => {
    const ids = tokenizer.encode('  Once  upon a time  ', { addSpecialTokens: false });
    expect(ids).toEqual([403, 407, 261, 378]);
  });

  it('encodes the empty string to BOS alone', () => {
    expect(tokenizer.encode('')).toEqual([1]);
    expect(tokenizer.encode('', { addSpecialTokens: false })).toEqual([]);
  });

  it('rejects ids outside the vocabulary', async () => {
    expect(() => tokenizer.decode([1, 512])).toThrow(
      'decode: token id 512 is outside the vocabulary [0, 512)',
    );
    expect(() => tokenizer.decode([-1])).toThrow(SlimlmError);
    expect(() => tokenizer.decode([1.5])).toThrow(SlimlmError);
  });

  it('has no chat template to apply', () => {
    expect(() => tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(
      /has no chat template/,
    );
  });
});

describe('wikillama-7m tokenizer', () => {
  let tokenizer: Tokenizer;
  beforeAll(async () => {
    tokenizer = await loadTokenizer(WIKILLAMA);
  });

  it('knows its special tokens', () => {
    expect(tokenizer.vocabSize).toBe(4096);
    expect(tokenizer.bosTokenId).toBe(1);
    expect(tokenizer.eosTokenIds).toEqual([2]);
  });

  it('encodes the reference texts', () => {
    const fixed = wikiReference.fixed_prompt_logits;
    expect(tokenizer.encode(fixed.text)).toEqual(fixed.input_ids);
    for (const run of wikiReference.greedy.runs) {
      expect(tokenizer.encode(run.prompt)).toEqual(run.input_ids);
    }
    expect(tokenizer.encode('He was born in')).toEqual([1, 620, 358, 3574, 286]);
  });

  it('decodes the greedy reference continuations', () => {
    for (const run of wikiReference.greedy.runs) {
      expect(tokenizer.decode(run.new_ids)).toBe(run.decoded_new);
      const whole = tokenizer.decode(run.output_ids, { skipSpecialTokens: true });
      expect(whole.startsWith(run.prompt)).toBe(true);
      expect(whole.endsWith(run.decoded_new)).toBe(true);
    }
  });

  it('encodes wiki.test.raw line by line as it encodes the joined text', () => {
    const lines = readFileSync(join(ROOT, 'fixtures/wikitext-2-raw/wiki.test.raw'), 'utf8')
      .split('\n')
      .slice(0, 2000);
    const newline = tokenizer.tokenToId('<0x0A>')!;
    const space = tokenizer.tokenToId('▁')!;
    // No piece holds a newline, and no merge joins a '▁' to the piece before it, so a line that
    // follows a newline encodes like the line alone without the '▁' the normalizer prepends.
    // Every line here is ' ' or ' ' followed by text.
    const afterNewline = (line: string): number[] => {
      if (line === ' ') return [space];
      expect(line[0]).toBe(' ');
      return tokenizer.encode(line.slice(1), { addSpecialTokens: false });
    };
    const chunk = 20;
    let total = 0;
    for (let start = 0; start < lines.length; start += chunk) {
      const part = lines.slice(start, start + chunk);
      const joined = tokenizer.encode(part.join('\n'), { addSpecialTokens: false });
      const byLine = tokenizer.encode(part[0]!, { addSpecialTokens: false });
      for (const line of part.slice(1)) {
        const ids = afterNewline(line);
        expect(tokenizer.decode(ids)).toBe(line === ' ' ? '' : line.slice(1));
        byLine.push(newline, ...ids);
      }
      expect(joined).toEqual(byLine);
      total += joined.length;
    }
    expect(total).toBeGreaterThan(150_000);
    // Known ids: ' = Robert Boulter = ' is the first title.
    expect(tokenizer.decode(afterNewline(lines[1]!))).toBe('= Robert Boulter = ');
  });

  it('round-trips spaces exactly (its normalizer keeps them)', () => {
    const text = '  two  spaces\tand a tab \n';
    expect(tokenizer.decode(tokenizer.encode(text), { skipSpecialTokens: true })).toBe(text);
  });
});

describe('special tokens from tokenizer_config.json', () => {
  it('drops the BOS the post-processor adds when add_bos_token is false', async () => {
    const tokenizer = await loadTokenizer(
      folderWith({ 'tokenizer_config.json': { add_bos_token: false, bos_token: '<s>' } }),
    );
    expect(tokenizer.encode('Once upon a time')).toEqual([403, 407, 261, 378]);
    expect(tokenizer.bosTokenId).toBe(1);
  });

  it('appends EOS when add_eos_token is true', async () => {
    const tokenizer = await loadTokenizer(
      folderWith({ 'tokenizer_config.json': { add_eos_token: true, eos_token: '</s>' } }),
    );
    expect(tokenizer.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378, 2]);
  });

  it('follows the post-processor when tokenizer_config.json is absent', async () => {
    const tokenizer = await loadTokenizer(folderWith({}));
    expect(tokenizer.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    // Special ids come from config.json and generation_config.json then.
    expect(tokenizer.bosTokenId).toBeUndefined();
    expect(tokenizer.eosTokenIds).toEqual([]);
  });

  it('takes eos ids from generation_config.json, then config.json, plus eos_token', async () => {
    const fromGeneration = await loadTokenizer(
      folderWith({
        'tokenizer_config.json': { eos_token: '</s>', pad_token: '<unk>' },
        'generation_config.json': { eos_token_id: [5, 2], pad_token_id: 3 },
        'config.json': { eos_token_id: 9, bos_token_id: 1 },
      }),
    );
    expect(fromGeneration.eosTokenIds).toEqual([5, 2]);
    expect(fromGeneration.padTokenId).toBe(0);
    expect(fromGeneration.bosTokenId).toBe(1);
    const fromConfig = await loadTokenizer(
      folderWith({
        'tokenizer_config.json': { eos_token: '</s>' },
        'config.json': { eos_token_id: [9] },
      }),
    );
    expect(fromConfig.eosTokenIds).toEqual([9, 2]);
    const given = await loadTokenizer(folderWith({ 'config.json': { eos_token_id: 9 } }), {
      eosTokenIds: [7],
    });
    expect(given.eosTokenIds).toEqual([7]);
  });
});

describe('chat templates', () => {
  const chatml =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  const llama2 =
    "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}{% set turns = messages[1:] %}" +
    '{% else %}{% set system = none %}{% set turns = messages %}{% endif %}' +
    '{% for message in turns %}' +
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('roles must alternate user/assistant') }}{% endif %}" +
    "{% set content = message['content'] %}" +
    "{% if loop.first and system is not none %}{% set content = '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' + content %}{% endif %}" +
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
    "{% else %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
  const conversation = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi!' },
    { role: 'assistant', content: 'Hello.' },
    { role: 'user', content: 'Tell me a story.' },
  ];

  it('renders a ChatML template, with and without the generation prompt', async () => {
    const tokenizer = await loadTokenizer(
      folderWith({ 'tokenizer_config.json': { chat_template: chatml, eos_token: '</s>' } }),
    );
    expect(tokenizer.chatTemplate).toBe(chatml);
    const messages = [
      { role: 'user', content: 'Hi!' },
      { role: 'assistant', content: 'Hello.' },
    ];
    const turns = '<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n';
    expect(tokenizer.applyChatTemplate(messages)).toBe(turns);
    expect(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe(
      `${turns}<|im_start|>assistant\n`,
    );
  });

  it('renders a Llama-2 template with the special tokens, then encodes it', async () => {
    const tokenizer = await loadTokenizer(
      folderWith({
        'tokenizer_config.json': { chat_template: llama2, bos_token: '<s>', eos_token: '</s>' },
      }),
    );
    const text = tokenizer.applyChatTemplate(conversation, { addGenerationPrompt: true });
    expect(text).toBe(
      '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi! [/INST] Hello. </s><s>[INST] Tell me a story. [/INST]',
    );
    // The template writes the special tokens, so encode without adding more.
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    expect(ids.filter((id) => id === 1)).toHaveLength(2);
    expect(ids.filter((id) => id === 2)).toHaveLength(1);
    expect(ids[0]).toBe(1);
  });

  it('turns raise_exception into an error naming the template', async () => {
    const folder = folderWith({ 'tokenizer_config.json': { chat_template: llama2 } });
    const tokenizer = await loadTokenizer(folder);
    const error = thrown(() =>
      tokenizer.applyChatTemplate([{ role: 'assistant', content: 'Hello.' }]),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(
      `rendering the chat template of ${join(folder, 'tokenizer_config.json')} failed: roles must alternate user/assistant`,
    );
  });

  it('reports a template that does not parse when it is first used', async () => {
    const tokenizer = await loadTokenizer(
      folderWith({ 'tokenizer_config.json': { chat_template: '{% for m in messages %}' } }),
    );
    expect(() => tokenizer.applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(
      /tokenizer_config.json: the chat template does not parse/,
    );
  });
});

describe('loadTokenizer errors', () => {
  it('says a sentencepiece-only folder needs tokenizer.json', async () => {
    const folder = folderWith({ 'tokenizer.model': 'binary' }, false);
    const error = await rejection(loadTokenizer(folder));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain(`${folder}: no tokenizer.json`);
    expect(error.message).toContain('tokenizer.model in it is not read');
  });

  it('says a missing folder is missing', async () => {
    const folder = join(scratch, 'missing');
    const error = await rejection(loadTokenizer(folder));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toBe(`${folder}: no such folder`);
  });

  it('reports malformed tokenizer.json with its position', async () => {
    const folder = folderWith({ 'tokenizer.json': '{"model": {\n"type": "BPE",,}}' }, false);
    const error = await rejection(loadTokenizer(folder));
    expect(error.code).toBe('INVALID_FILE');
    expect(error.message).toContain(
      `${join(folder, 'tokenizer.json')}: invalid JSON at line 2, column 15: expected a property name`,
    );
  });

  it('reports a tokenizer @huggingface/tokenizers cannot build as UNSUPPORTED', async () => {
    const folder = folderWith(
      { 'tokenizer.json': { model: { type: 'Mystery', vocab: {} } } },
      false,
    );
    const error = await rejection(loadTokenizer(folder));
    expect(error.code).toBe('UNSUPPORTED');
    expect(error.message).toContain(`${join(folder, 'tokenizer.json')}: @huggingface/tokenizers`);
  });

  it('reports a bad field of tokenizer_config.json', async () => {
    const folder = folderWith({ 'tokenizer_config.json': { add_bos_token: 1 } });
    const error = await rejection(loadTokenizer(folder));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toContain(
      "tokenizer_config.json: field 'add_bos_token' must be true or false, got 1",
    );
  });
});

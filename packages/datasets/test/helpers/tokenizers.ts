import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer, type Tokenizer } from '@slimlm/hub';
import { WIKILLAMA } from './fixtures';

/** The chat template ChatML models ship (Qwen's, without its default system prompt). */
export const CHATML_JINJA =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Llama 2's chat template without system prompts: [INST] turns, answers closed by EOS. */
export const LLAMA2_JINJA =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + ' ' + eos_token }}{% endif %}{% endfor %}";

/** The wikillama tokenizer with `chatTemplate` as its tokenizer_config.json's chat_template. */
export function wikillamaWithChatTemplate(
  scratch: string,
  chatTemplate: string,
): Promise<Tokenizer> {
  const folder = mkdtempSync(join(scratch, 'tokenizer-'));
  for (const file of ['tokenizer.json', 'special_tokens_map.json', 'generation_config.json']) {
    copyFileSync(join(WIKILLAMA, file), join(folder, file));
  }
  const config = JSON.parse(readFileSync(join(WIKILLAMA, 'tokenizer_config.json'), 'utf8'));
  writeFileSync(
    join(folder, 'tokenizer_config.json'),
    JSON.stringify({ ...config, chat_template: chatTemplate }),
  );
  return loadTokenizer(folder);
}

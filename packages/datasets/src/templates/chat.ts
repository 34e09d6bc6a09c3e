import { SlimlmError } from '@slimlm/core';
import type { Tokenizer } from '@slimlm/hub';
import { conversationOf } from './conversation';
import type { PromptTemplate } from './template';

/**
 * The model's own chat template (tokenizer_config.json's chat_template): the prompt is the
 * conversation before the answer rendered with the generation prompt, the response what the full
 * conversation adds to it, as TRL separates prompt and completion. The rendered text holds the
 * special tokens the template writes (BOS, turn markers), so it is encoded without adding more.
 */
export function chatTemplate(tokenizer: Tokenizer): PromptTemplate {
  return {
    name: 'chat-template',
    addSpecialTokens: false,
    addEos: false,
    render(record) {
      const conversation = conversationOf(record, 'chatTemplate');
      const prompt = tokenizer.applyChatTemplate(conversation.slice(0, -1), {
        addGenerationPrompt: true,
      });
      const full = tokenizer.applyChatTemplate(conversation);
      if (!full.startsWith(prompt)) {
        throw new SlimlmError(
          'UNSUPPORTED',
          "chatTemplate: the model's chat template renders the whole conversation without the prompt (the turns before the answer, with the generation prompt) at its start, so the answer cannot be told apart; use chatmlTemplate or a customTemplate",
        );
      }
      return { prompt, response: full.slice(prompt.length) };
    },
  };
}

import { Template } from '@huggingface/jinja';
import { SlimlmError } from '@slimlm/core';
import type { ChatMessage } from './tokenizer';

/** The special tokens a chat template may refer to. */
export interface ChatTemplateTokens {
  bos_token?: string;
  eos_token?: string;
  unk_token?: string;
  pad_token?: string;
}

/**
 * A compiled Jinja chat template, rendered with the variables transformers'
 * apply_chat_template passes: messages, add_generation_prompt, the special tokens and
 * raise_exception.
 */
export class ChatTemplate {
  private readonly template: Template;

  /** @param source names the template's origin in errors (e.g. 'tokenizer_config.json'). */
  constructor(
    readonly text: string,
    private readonly source: string,
    private readonly tokens: ChatTemplateTokens = {},
  ) {
    try {
      this.template = new Template(text);
    } catch (error) {
      throw new SlimlmError(
        'INVALID_FILE',
        `${source}: the chat template does not parse: ${(error as Error).message}`,
      );
    }
  }

  /**
   * Renders the template. @huggingface/jinja defines raise_exception itself (a template cannot
   * override it) and its errors carry no type, so a template's own complaint and an engine
   * failure both come out as INVALID_ARGUMENT with the template's message.
   */
  render(messages: ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    try {
      return this.template.render({
        ...this.tokens,
        messages,
        add_generation_prompt: options.addGenerationPrompt ?? false,
      });
    } catch (error) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `rendering the chat template of ${this.source} failed: ${(error as Error).message}`,
      );
    }
  }
}

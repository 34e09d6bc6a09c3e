/** One chat turn for {@link Tokenizer.applyChatTemplate}. */
export interface ChatMessage {
  role: string;
  content: string;
}

export interface EncodeOptions {
  /**
   * Add the special tokens the tokenizer adds around a text (BOS for Llama), as
   * tokenizer_config.json's add_bos_token/add_eos_token and tokenizer.json's post-processor say.
   * Default true. Pass false for text that already holds them, such as a rendered chat template.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, padding, chat markers) from the text. Default false. */
  skipSpecialTokens?: boolean;
}

export interface ChatTemplateOptions {
  /** End with the opening of an assistant turn, so that generation continues as the assistant. */
  addGenerationPrompt?: boolean;
}

/** A Hugging Face tokenizer (tokenizer.json) with its special tokens and chat template. */
export interface Tokenizer {
  /** One more than the largest token id, added tokens included. */
  readonly vocabSize: number;
  readonly bosTokenId?: number;
  /**
   * Every id that ends a sequence: generation_config.json's eos_token_id, else config.json's,
   * plus the id of tokenizer_config.json's eos_token.
   */
  readonly eosTokenIds: number[];
  readonly padTokenId?: number;
  readonly chatTemplate?: string;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /**
   * Renders messages with the chat template. The text usually starts with the BOS token already,
   * so encode it with `{ addSpecialTokens: false }`, as transformers' apply_chat_template does.
   */
  applyChatTemplate(messages: ChatMessage[], options?: ChatTemplateOptions): string;
  /** The id of a token string (special tokens included), or undefined. */
  tokenToId(token: string): number | undefined;
  /** The token string of an id, or undefined. */
  idToToken(id: number): string | undefined;
}

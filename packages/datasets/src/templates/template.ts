import type { DataRecord } from '../records/record';

/** One instruction example as text: the prompt, and the response the model should learn to give. */
export interface InstructionExample {
  prompt: string;
  response: string;
}

/** Turns a record into an instruction example, and says how its text is to be encoded. */
export interface PromptTemplate {
  readonly name: string;
  /**
   * Whether encoding adds the tokenizer's special tokens (BOS for Llama): false where the rendered
   * text holds them already, as a chat template's does.
   */
  readonly addSpecialTokens: boolean;
  /** Whether each example ends with the EOS id: false where the template closes the turn itself. */
  readonly addEos: boolean;
  render(record: DataRecord): InstructionExample;
}

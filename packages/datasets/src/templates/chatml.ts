import { conversationOf } from './conversation';
import type { PromptTemplate } from './template';

const turn = (role: string, content: string) => `<|im_start|>${role}\n${content}<|im_end|>\n`;

/**
 * ChatML (`<|im_start|>role\ncontent<|im_end|>\n` per turn): the prompt is every turn before the
 * answer and the opening of the assistant's, the response is the answer and its closing, so that
 * prompt + response is the conversation as a ChatML chat template renders it. Records: see
 * conversationOf (`messages`, or `instruction`/`input`/`output` with an optional `system`).
 */
export const chatmlTemplate: PromptTemplate = {
  name: 'chatml',
  addSpecialTokens: true,
  addEos: false,
  render(record) {
    const conversation = conversationOf(record, 'chatmlTemplate');
    const answer = conversation.at(-1)!;
    const earlier = conversation.slice(0, -1).map((m) => turn(m.role, m.content));
    return {
      prompt: `${earlier.join('')}<|im_start|>assistant\n`,
      response: `${answer.content}<|im_end|>\n`,
    };
  },
};

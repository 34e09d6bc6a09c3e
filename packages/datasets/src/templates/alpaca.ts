import { fieldText } from '../records/record';
import { fillTemplate, parseTemplate } from './placeholders';
import type { PromptTemplate } from './template';

// Stanford Alpaca's PROMPT_DICT (tatsu-lab/stanford_alpaca, train.py), to the character. The
// response follows "### Response:" directly, and the example ends with EOS.
const WITH_INPUT = parseTemplate(
  'Below is an instruction that describes a task, paired with an input that provides further context. ' +
    'Write a response that appropriately completes the request.\n\n' +
    '### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:',
);
const WITHOUT_INPUT = parseTemplate(
  'Below is an instruction that describes a task. ' +
    'Write a response that appropriately completes the request.\n\n' +
    '### Instruction:\n{instruction}\n\n### Response:',
);

/**
 * The Stanford Alpaca prompt over records `{instruction, input?, output}`: the variant with an
 * input when `input` is present and not empty, as Alpaca chooses.
 */
export const alpacaTemplate: PromptTemplate = {
  name: 'alpaca',
  addSpecialTokens: true,
  addEos: true,
  render(record) {
    const hasInput = record.input !== undefined && record.input !== null && record.input !== '';
    const where = 'alpacaTemplate';
    return {
      prompt: fillTemplate(hasInput ? WITH_INPUT : WITHOUT_INPUT, record, where),
      response: fieldText(record, 'output', where),
    };
  },
};

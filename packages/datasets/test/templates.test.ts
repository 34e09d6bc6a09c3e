import { describe, expect, it } from 'vitest';
import { expectError } from '../../hub/test/helpers/errors';
import {
  alpacaTemplate,
  chatmlTemplate,
  chatTemplate,
  customTemplate,
  readRecords,
} from '../src/index';
import { ALPACA, DATASETS, scratchFolder } from './helpers/fixtures';
import { CHATML_JINJA, LLAMA2_JINJA, wikillamaWithChatTemplate } from './helpers/tokenizers';

const scratch = scratchFolder('templates');

describe('alpacaTemplate', () => {
  it("is Stanford Alpaca's prompt with an input, to the character", () => {
    expect(alpacaTemplate.render(ALPACA[1]!)).toEqual({
      prompt:
        'Below is an instruction that describes a task, paired with an input that provides further context. ' +
        'Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nArrange the following musical notes\n\n' +
        '### Input:\nG, B, E\n\n' +
        '### Response:',
      response: 'E, G, B',
    });
    expect(alpacaTemplate.addEos).toBe(true);
  });

  it('is the prompt without an input when the input is empty or absent', () => {
    const record = ALPACA[4]!;
    expect(record.input).toBe('');
    const expected = {
      prompt:
        'Below is an instruction that describes a task. ' +
        'Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nGenerate a new solution to address the global climate crisis.\n\n' +
        '### Response:',
      response: record.output,
    };
    expect(alpacaTemplate.render(record)).toEqual(expected);
    expect(
      alpacaTemplate.render({ instruction: record.instruction, output: record.output }),
    ).toEqual(expected);
  });

  it('names a missing field', () => {
    expectError(
      () => alpacaTemplate.render({ instruction: 'x' }),
      'INVALID_ARGUMENT',
      /alpacaTemplate: the record has no "output" field \(it has: instruction\)/,
    );
  });
});

describe('chatmlTemplate', () => {
  it('renders the user turn (instruction, blank line, input) and the answer closing its turn', () => {
    expect(chatmlTemplate.render(ALPACA[1]!)).toEqual({
      prompt:
        '<|im_start|>user\nArrange the following musical notes\n\nG, B, E<|im_end|>\n<|im_start|>assistant\n',
      response: 'E, G, B<|im_end|>\n',
    });
    expect(chatmlTemplate.addEos).toBe(false);
  });

  it('takes a system prompt, and multi-turn messages', () => {
    expect(
      chatmlTemplate.render({ system: 'Be brief.', instruction: 'Hi', output: 'Hello' }),
    ).toEqual({
      prompt:
        '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
      response: 'Hello<|im_end|>\n',
    });
    const messages = [
      { role: 'user', content: 'One?' },
      { role: 'assistant', content: '1' },
      { role: 'user', content: 'Two?' },
      { role: 'assistant', content: '2' },
    ];
    expect(chatmlTemplate.render({ messages })).toEqual({
      prompt:
        '<|im_start|>user\nOne?<|im_end|>\n<|im_start|>assistant\n1<|im_end|>\n' +
        '<|im_start|>user\nTwo?<|im_end|>\n<|im_start|>assistant\n',
      response: '2<|im_end|>\n',
    });
    expectError(
      () => chatmlTemplate.render({ messages: messages.slice(0, 3) }),
      'INVALID_ARGUMENT',
      /ends with the assistant's answer/,
    );
  });
});

describe("chatTemplate: the model's own template", () => {
  it('with a ChatML template, splits exactly as chatmlTemplate', async () => {
    const tokenizer = await wikillamaWithChatTemplate(scratch, CHATML_JINJA);
    const template = chatTemplate(tokenizer);
    expect(template.addSpecialTokens).toBe(false);
    for (const record of [...ALPACA.slice(0, 10), { system: 'S', instruction: 'I', output: 'O' }]) {
      expect(template.render(record)).toEqual(chatmlTemplate.render(record));
    }
  });

  it("with Llama 2's template, the answer is what follows [/INST], up to EOS", async () => {
    const tokenizer = await wikillamaWithChatTemplate(scratch, LLAMA2_JINJA);
    expect(chatTemplate(tokenizer).render(ALPACA[2]!)).toEqual({
      prompt:
        '<s>[INST] Categorize the following fruit as either a citrus or a non-citrus fruit.\n\nBanana [/INST]',
      response: ' Non-citrus fruit. </s>',
    });
  });

  it('refuses a template whose prompt is not the start of the conversation', async () => {
    const tokenizer = await wikillamaWithChatTemplate(
      scratch,
      "{% for m in messages %}{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}",
    );
    expectError(
      () => chatTemplate(tokenizer).render(ALPACA[1]!),
      'UNSUPPORTED',
      /cannot be told apart/,
    );
  });
});

describe('customTemplate', () => {
  it('turns product reviews with star ratings into sentiment instructions through labels', async () => {
    const reviews = await readRecords(`${DATASETS}/reviews.csv`);
    const template = customTemplate(
      'Review of a {product}: {review}\nIs this review positive or negative?\nAnswer: {rating}',
      {
        response: 'rating',
        labels: { rating: { '1': 'negative', '2': 'negative', '4': 'positive', '5': 'positive' } },
      },
    );
    const labelled = reviews.filter((r) => r.rating !== '3');
    const examples = labelled.map((r) => template.render(r));
    expect(examples).toHaveLength(11);
    expect(examples[0]).toEqual({
      prompt:
        'Review of a kettle: Boils a full litre in under three minutes and the handle stays cool. Exactly what I wanted.\n' +
        'Is this review positive or negative?\nAnswer: ',
      response: 'positive',
    });
    expect(examples.map((e) => e.response)).toEqual([
      'positive',
      'negative',
      'positive',
      'negative',
      'negative',
      'positive',
      'negative',
      'positive',
      'negative',
      'positive',
      'negative',
    ]);
    expectError(
      () => template.render(reviews[6]!),
      'INVALID_ARGUMENT',
      /field "rating" is "3", which has no label/,
    );
  });

  it('reads {{ }} as braces, text after the response field as response, numbers as text', () => {
    const template = customTemplate('{{"q": "{question}"}} => {answer}.', { response: 'answer' });
    expect(template.render({ question: 'one', answer: 1 })).toEqual({
      prompt: '{"q": "one"} => ',
      response: '1.',
    });
  });

  it('refuses templates it cannot read', () => {
    expectError(
      () => customTemplate('Q: {question}'),
      'INVALID_ARGUMENT',
      /no \{output\} where the response starts/,
    );
    expectError(() => customTemplate('Q: {question'), 'INVALID_ARGUMENT', /opens no \{field\}/);
    expectError(() => customTemplate('Q} {output}'), 'INVALID_ARGUMENT', /closes nothing/);
    expectError(
      () => customTemplate('Q: {question} {output}').render({ output: 'x' }),
      'INVALID_ARGUMENT',
      /template custom: the record has no "question" field/,
    );
    expectError(
      () => customTemplate('{output}').render({ output: ['a'] }),
      'INVALID_ARGUMENT',
      /field "output" is an array/,
    );
  });
});

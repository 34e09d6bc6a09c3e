import { SlimlmError } from '@slimlm/core';
import { type FieldLabels, fillTemplate, parseTemplate } from './placeholders';
import type { PromptTemplate } from './template';

export interface CustomTemplateOptions {
  /** The field that is the response: the template from its `{field}` on. Default `output`. */
  response?: string;
  /** Text to print for raw values of a field, e.g. star ratings as sentiments. */
  labels?: FieldLabels;
  /** Default true. */
  addSpecialTokens?: boolean;
  /** Default true. */
  addEos?: boolean;
  name?: string;
}

/**
 * A template of your own, `{field}` for a record's field (`{{`, `}}` for braces): everything
 * before the response field's `{field}` is the prompt, the rest the response. With `labels` it
 * turns a raw labelled dataset into instructions, e.g. reviews with star ratings:
 *
 *     customTemplate('Review: {text}\nIs this review positive or negative?\nAnswer: {stars}',
 *       { response: 'stars', labels: { stars: { '1': 'negative', '5': 'positive' } } })
 */
export function customTemplate(
  template: string,
  options: CustomTemplateOptions = {},
): PromptTemplate {
  const responseField = options.response ?? 'output';
  const parts = parseTemplate(template);
  const at = parts.findIndex((p) => typeof p !== 'string' && p.field === responseField);
  if (at === -1) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `customTemplate: the template has no {${responseField}} where the response starts (set response to the field that holds it): ${JSON.stringify(template)}`,
    );
  }
  const promptParts = parts.slice(0, at);
  const responseParts = parts.slice(at);
  const name = options.name ?? 'custom';
  const labels = options.labels ?? {};
  return {
    name,
    addSpecialTokens: options.addSpecialTokens ?? true,
    addEos: options.addEos ?? true,
    render(record) {
      const where = `template ${name}`;
      return {
        prompt: fillTemplate(promptParts, record, where, labels),
        response: fillTemplate(responseParts, record, where, labels),
      };
    },
  };
}

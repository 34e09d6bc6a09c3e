import { SlimlmError } from '@slimlm/core';
import { type DataRecord, fieldText } from '../records/record';

/** A template's text and `{field}` slots, in order. */
export type TemplatePart = string | { field: string };

/** Values to print instead of a field's raw value: `{rating: {'1': 'negative', '5': 'positive'}}`. */
export type FieldLabels = Record<string, Record<string, string>>;

/**
 * Parses a template written as Python's str.format_map reads it: `{field}` is a record's field,
 * `{{` and `}}` are literal braces.
 */
export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let text = '';
  for (let i = 0; i < template.length; i++) {
    const char = template[i]!;
    if ((char === '{' || char === '}') && template[i + 1] === char) {
      text += char;
      i++;
    } else if (char === '{') {
      const end = template.indexOf('}', i);
      const field = end === -1 ? '' : template.slice(i + 1, end);
      if (field === '' || field.includes('{')) {
        throw new SlimlmError(
          'INVALID_ARGUMENT',
          `template: the "{" at character ${i} opens no {field} (write {{ for a literal brace): ${JSON.stringify(template)}`,
        );
      }
      if (text !== '') parts.push(text);
      text = '';
      parts.push({ field });
      i = end;
    } else if (char === '}') {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `template: the "}" at character ${i} closes nothing (write }} for a literal brace): ${JSON.stringify(template)}`,
      );
    } else {
      text += char;
    }
  }
  if (text !== '') parts.push(text);
  return parts;
}

/** The parts filled from a record; `where` names the template and record in errors. */
export function fillTemplate(
  parts: readonly TemplatePart[],
  record: DataRecord,
  where: string,
  labels: FieldLabels = {},
): string {
  return parts
    .map((part) => {
      if (typeof part === 'string') return part;
      const value = fieldText(record, part.field, where);
      const names = labels[part.field];
      if (names === undefined) return value;
      const label = names[value];
      if (label === undefined) {
        throw new SlimlmError(
          'INVALID_ARGUMENT',
          `${where}: field "${part.field}" is "${value}", which has no label (labels given for: ${Object.keys(names).join(', ')}); filter such records out or add a label`,
        );
      }
      return label;
    })
    .join('');
}

import { SlimlmError } from '@slimlm/core';
import type { ChatMessage } from '@slimlm/hub';
import { type DataRecord, fieldText, isRecord } from '../records/record';

/**
 * A record as a conversation ending with the assistant's answer: its `messages` (objects with
 * `role` and `content`), or an instruction record's optional `system`, then the user's
 * `instruction` (and `input` after a blank line, when given) and the assistant's `output`.
 */
export function conversationOf(record: DataRecord, where: string): ChatMessage[] {
  if (record.messages !== undefined) {
    const messages = record.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      throw new SlimlmError('INVALID_ARGUMENT', `${where}: "messages" must be a non-empty array`);
    }
    const conversation = messages.map((message, i) => {
      if (!isRecord(message)) {
        throw new SlimlmError('INVALID_ARGUMENT', `${where}: message ${i} is not an object`);
      }
      return {
        role: fieldText(message, 'role', `${where} message ${i}`),
        content: fieldText(message, 'content', `${where} message ${i}`),
      };
    });
    if (conversation.at(-1)!.role !== 'assistant') {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `${where}: the last message is the ${conversation.at(-1)!.role}'s; a training example ends with the assistant's answer`,
      );
    }
    return conversation;
  }
  const instruction = fieldText(record, 'instruction', where);
  const input =
    record.input === undefined || record.input === null ? '' : fieldText(record, 'input', where);
  const system =
    record.system === undefined || record.system === null
      ? []
      : [{ role: 'system', content: fieldText(record, 'system', where) }];
  return [
    ...system,
    { role: 'user', content: input === '' ? instruction : `${instruction}\n\n${input}` },
    { role: 'assistant', content: fieldText(record, 'output', where) },
  ];
}

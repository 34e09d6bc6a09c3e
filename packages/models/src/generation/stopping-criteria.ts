import type { FinishReason, GenerationSettings } from './options';

/**
 * Whether a row is done after its latest token `id`, its `count`-th: a stop token first, then a
 * stop string anywhere in the row's generated `text` (checked every step, so it is found on the
 * token that completes it), then the token budget. The token that stops a row stays in its output,
 * as in transformers (eos and StopStringCriteria alike).
 */
export type StoppingCriteria = (
  id: number,
  count: number,
  text: string,
) => FinishReason | undefined;

export function stoppingCriteria(settings: GenerationSettings): StoppingCriteria {
  const stopIds = new Set(settings.stopTokenIds);
  const { stopStrings, maxNewTokens } = settings;
  return (id, count, text) => {
    if (stopIds.has(id)) return 'stop-token';
    if (stopStrings.some((stop) => text.includes(stop))) return 'stop-string';
    if (count >= maxNewTokens) return 'length';
    return undefined;
  };
}

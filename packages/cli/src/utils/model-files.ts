/**
 * Files of a model folder, besides config.json and the weights, that a model derived from it
 * (merged, fine-tuned) keeps: the tokenizer and the generation settings. Missing ones are skipped.
 */
export const COMPANION_FILES: readonly string[] = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'chat_template.json',
  'chat_template.jinja',
  'generation_config.json',
];

/** saveModel's `copyFiles` for the companion files of `folder`. */
export function companionFilesOf(folder: string): { from: string; names: string[] } {
  return { from: folder, names: [...COMPANION_FILES] };
}

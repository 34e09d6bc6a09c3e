import { type Architecture, getArchitecture, registerArchitecture } from '../registry';
import { gptNeo } from './gpt-neo';
import { gptNeox } from './gpt-neox';
import { gpt2 } from './gpt2';
import { llama } from './llama';
import { opt } from './opt';

/**
 * Every architecture slimlm ships, one per line, all registered when this module loads. A list
 * rather than bare `import './x'` lines: the package is "sideEffects": false, so bundlers would
 * drop those.
 */
export const ARCHITECTURES: readonly Architecture[] = [
  llama, // llama, mistral, qwen2
  gptNeox, // gpt_neox
  opt, // opt
  gpt2, // gpt2
  gptNeo, // gpt_neo
];

for (const architecture of ARCHITECTURES) registerArchitecture(architecture);

/** `getArchitecture` for code that must see the built-in architectures registered first. */
export function findArchitecture(modelType: string, file?: string): Architecture {
  return getArchitecture(modelType, file);
}

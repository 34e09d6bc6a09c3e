import { resolve } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import type { CausalLM } from '@slimlm/models';
import { applyAdapter, type LoraConfig, readAdapter } from '@slimlm/peft-lora';
import type { Output } from '../io';

/** An --adapter folder, checked on its own before any model is loaded. */
export interface AdapterArgument {
  /** The argument as given, for messages. */
  argument: string;
  /** Its folder, absolute. */
  dir: string;
  config: LoraConfig;
  /** How many modules it adapts. */
  modules: number;
}

/**
 * Reads the PEFT adapter folder an --adapter argument names (relative to the working directory)
 * and checks it alone, so that a wrong folder fails before a long model load.
 */
export function readAdapterArgument(argument: string, out: Output): AdapterArgument {
  const dir = resolve(out.io.cwd, argument);
  return withAdapterContext(argument, () => {
    const file = readAdapter(dir);
    try {
      return { argument, dir, config: file.config, modules: file.modules.size };
    } finally {
      file.close();
    }
  });
}

/** Loads the adapter onto `model` as its one active adapter (what generating and merging need). */
export function applyAdapterArgument(model: CausalLM, adapter: AdapterArgument): void {
  withAdapterContext(adapter.argument, () => applyAdapter(model, adapter.dir));
}

/** `r 8, alpha 16 on q_proj, v_proj (12 modules)`, as a summary line shows an adapter. */
export function describeAdapter(adapter: AdapterArgument): string {
  const { r, loraAlpha, targetModules, useRslora } = adapter.config;
  const targets = Array.isArray(targetModules) ? targetModules.join(', ') : String(targetModules);
  return `r ${r}, alpha ${loraAlpha}${useRslora ? ' (rsLoRA)' : ''} on ${targets} (${adapter.modules} modules)`;
}

/** Runs `fn`, naming the option in a SlimlmError's message: the library names the folder at most. */
function withAdapterContext<T>(argument: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof SlimlmError) {
      throw new SlimlmError(error.code, `--adapter ${argument}: ${error.message}`);
    }
    throw error;
  }
}

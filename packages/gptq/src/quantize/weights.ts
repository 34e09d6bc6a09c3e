import { type DType, SlimlmError, type Tensor } from '@slimlm/core';
import type { TensorSource } from '@slimlm/hub';
import type { CausalLM } from '@slimlm/models';

/**
 * The checkpoint name of the parameter at `path`: itself, or without the architecture's
 * base-model prefix (checkpoints saved from the base model), or, for a tied target the checkpoint
 * does not hold, its source's name. Undefined when none is stored.
 */
export function storedName(
  model: CausalLM,
  source: TensorSource,
  path: string,
  tiedTo: ReadonlyMap<string, string>,
): string | undefined {
  const direct = (p: string): string | undefined => {
    if (source.has(p)) return p;
    const prefix = model.baseModelPrefix === undefined ? undefined : `${model.baseModelPrefix}.`;
    if (prefix && p.startsWith(prefix) && source.has(p.slice(prefix.length))) {
      return p.slice(prefix.length);
    }
    return undefined;
  };
  const found = direct(path);
  if (found !== undefined) return found;
  const tied = tiedTo.get(path);
  return tied === undefined ? undefined : direct(tied);
}

/**
 * Reads the parameters at `paths` from `source` into `model` ('stored' keeps the checkpoint's
 * float dtype, f64 read as f32; 'f32' widens f16/bf16 exactly). A tensor named twice (tied
 * parameters) is read once and shared. Missing tensors are NOT_FOUND errors naming them.
 */
export function loadParameters(
  model: CausalLM,
  source: TensorSource,
  paths: readonly string[],
  dtype: 'stored' | 'f32',
): void {
  const tiedTo = new Map(model.tiedParameters());
  const read = new Map<string, Tensor>();
  const missing: string[] = [];
  for (const path of paths) {
    const name = storedName(model, source, path, tiedTo);
    if (name === undefined) {
      missing.push(path);
      continue;
    }
    let value = read.get(name);
    if (!value) {
      const stored = source.info(name).dtype;
      const float = ['F64', 'F32', 'F16', 'BF16'].includes(stored);
      const target: DType | undefined =
        float && (dtype === 'f32' || stored === 'F64') ? 'f32' : undefined;
      value = source.read(name, target ? { dtype: target } : {});
      read.set(name, value);
    }
    model.setParameter(path, value);
  }
  if (missing.length > 0) {
    throw new SlimlmError(
      'INVALID_FILE',
      `${source.location}: ${missing.length} tensor(s) the model needs are missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ' ...' : ''}`,
    );
  }
}

import {
  add,
  cast,
  type DType,
  isFloatDType,
  keep,
  noGrad,
  scope,
  type Tensor,
  zerosLike,
} from '@slimlm/core';
import { invalidArgument } from './check';
import { copyOf, overwrite } from './in-place';

/** Trainable tensors by name: a Map, or [name, tensor] pairs. */
export type ParameterSet = ReadonlyMap<string, Tensor> | Iterable<readonly [string, Tensor]>;

/** The dtype the optimizer works in for a parameter stored as `dtype`. */
function masterDType(dtype: DType): DType {
  return dtype === 'f64' ? 'f64' : 'f32';
}

/**
 * The trainable parameters of a run, in mixed storage: the model keeps computing with its own
 * tensors (f16, bf16 or f32), while the optimizer updates full-precision master copies (the
 * model's tensor itself when it is already f32 or f64), which are rounded back into the model
 * after each step. Gradients of the micro-batches of a step are summed in the masters' dtype, so
 * accumulation loses nothing to half-precision rounding. A tensor listed under several names (tied
 * embeddings) is trained once, under its first name. Marks every parameter as requiring a gradient
 * until `dispose`.
 */
export class TrainableParameters {
  readonly names: readonly string[];
  /** The tensors the model computes with. */
  readonly stored: ReadonlyMap<string, Tensor>;
  /** What the optimizer updates. */
  readonly masters: ReadonlyMap<string, Tensor>;
  /** Summed gradients of the current step, in the masters' dtype. */
  readonly grads: ReadonlyMap<string, Tensor>;
  private readonly requiredGradBefore = new Map<string, boolean>();

  constructor(parameters: ParameterSet) {
    const stored = new Map<string, Tensor>();
    const seen = new Set<Tensor>();
    for (const [name, tensor] of parameters) {
      if (stored.has(name)) throw invalidArgument('Trainer', `parameter '${name}' is given twice`);
      // A tensor under several names (tied embeddings) is one parameter, trained once.
      if (seen.has(tensor)) continue;
      seen.add(tensor);
      tensor.assertAlive(`Trainer (parameter '${name}')`);
      if (!isFloatDType(tensor.dtype)) {
        throw invalidArgument(
          'Trainer',
          `parameter '${name}' is ${tensor.dtype}; only float tensors can be trained`,
        );
      }
      stored.set(name, tensor);
    }
    if (stored.size === 0) throw invalidArgument('Trainer', 'no parameters to train');
    this.names = [...stored.keys()];
    this.stored = stored;
    const masters = new Map<string, Tensor>();
    const grads = new Map<string, Tensor>();
    for (const [name, tensor] of stored) {
      const dtype = masterDType(tensor.dtype);
      const master = tensor.dtype === dtype ? tensor : keep(noGrad(() => cast(tensor, dtype)));
      masters.set(name, master);
      grads.set(name, keep(zerosLike(master)));
      this.requiredGradBefore.set(name, tensor.requiresGrad);
      tensor.requiresGrad = true;
    }
    this.masters = masters;
    this.grads = grads;
  }

  /** True when some parameter is stored in f16, whose narrow range needs loss scaling. */
  get hasF16(): boolean {
    return [...this.stored.values()].some((t) => t.dtype === 'f16');
  }

  /** Adds each parameter's `.grad` (left by backward) into `grads` and frees it. */
  collectGradients(): void {
    noGrad(() => {
      for (const [name, tensor] of this.stored) {
        const g = tensor.grad;
        if (g === null) continue;
        const sum = this.grads.get(name)!;
        scope(() => overwrite(sum, add(sum, cast(g, sum.dtype))));
        g.dispose();
        tensor.grad = null;
      }
    });
  }

  zeroGradients(): void {
    noGrad(() => {
      for (const g of this.grads.values()) scope(() => overwrite(g, zerosLike(g)));
    });
  }

  /** Rounds the masters into the model's tensors (nothing to do where they are the same tensor). */
  writeBack(): void {
    noGrad(() => {
      for (const [name, tensor] of this.stored) {
        const master = this.masters.get(name)!;
        if (master !== tensor) scope(() => overwrite(tensor, cast(master, tensor.dtype)));
      }
    });
  }

  /** Sets the masters from `values` (a checkpoint's, or the best kept ones) and writes them back. */
  loadMasters(values: ReadonlyMap<string, Tensor>): void {
    noGrad(() => {
      for (const [name, master] of this.masters) {
        const value = values.get(name);
        if (!value) throw invalidArgument('Trainer', `no saved value for parameter '${name}'`);
        if (value.shape.join() !== master.shape.join()) {
          throw invalidArgument(
            'Trainer',
            `the saved value of parameter '${name}' is [${value.shape.join(', ')}], the parameter is [${master.shape.join(', ')}]`,
          );
        }
        scope(() => overwrite(master, cast(value, master.dtype)));
      }
    });
    this.writeBack();
  }

  /** Copies of the masters, owned by the caller. */
  snapshot(): Map<string, Tensor> {
    return noGrad(() => new Map([...this.masters].map(([name, t]) => [name, copyOf(t)])));
  }

  /** Frees the masters and sums this object made, and restores each parameter's gradient flag. */
  dispose(): void {
    for (const [name, tensor] of this.stored) {
      tensor.grad?.dispose();
      tensor.grad = null;
      tensor.requiresGrad = this.requiredGradBefore.get(name) ?? false;
      const master = this.masters.get(name)!;
      if (master !== tensor) master.dispose();
      this.grads.get(name)!.dispose();
    }
  }
}

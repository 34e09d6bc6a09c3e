import { SlimlmError, type Tensor } from '@slimlm/core';

/**
 * A node of a model: named parameters and named child modules, addressed by dotted paths that are
 * the Hugging Face weight names (`model.layers.0.self_attn.q_proj.weight`). Quantization and
 * adapters work through these paths: they read a Linear, build a replacement, and swap it in with
 * `setModule`, without the architecture knowing.
 */
export abstract class Module {
  private readonly childModules = new Map<string, Module>();
  /** Declared parameter slots with their expected shapes. */
  private readonly specs = new Map<string, readonly number[]>();
  private readonly params = new Map<string, Tensor>();
  /** Training mode enables dropout; `train()` / `eval()` set it on the whole subtree. */
  training = false;

  /** Registers (or replaces) a child module under `name`, and returns it. */
  protected addModule<M extends Module>(name: string, child: M): M {
    this.childModules.set(name, child);
    return child;
  }

  /**
   * Declares a parameter slot of `shape`, filled later by `setParameter` (usually from a
   * checkpoint). Optional parameters that a config turns off (a Linear without bias) are simply
   * not declared.
   */
  protected declareParameter(name: string, shape: readonly number[]): void {
    this.specs.set(name, [...shape]);
  }

  /** The parameter in slot `name` of this module (not a path); throws if the slot is empty. */
  protected parameter(name: string): Tensor {
    const value = this.params.get(name);
    if (!value) {
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `${this.constructor.name}: parameter '${name}' is not loaded`,
      );
    }
    return value;
  }

  /** The parameter in slot `name`, or null when the slot is not declared. */
  protected optionalParameter(name: string): Tensor | null {
    return this.specs.has(name) ? this.parameter(name) : null;
  }

  /** Direct children, in registration order. */
  children(): [string, Module][] {
    return [...this.childModules];
  }

  /** This module and every descendant, depth first, with their dotted paths ('' for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.childModules) {
      yield* child.namedModules(prefix === '' ? name : `${prefix}.${name}`);
    }
  }

  /** Every present parameter of the subtree with its dotted path. */
  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [path, module] of this.namedModules(prefix)) {
      for (const [name, value] of module.params) {
        yield [path === '' ? name : `${path}.${name}`, value];
      }
    }
  }

  /** Every declared parameter of the subtree with its dotted path and expected shape. */
  *parameterShapes(prefix = ''): Generator<[string, readonly number[]]> {
    for (const [path, module] of this.namedModules(prefix)) {
      for (const [name, shape] of module.specs) {
        yield [path === '' ? name : `${path}.${name}`, shape];
      }
    }
  }

  /** The descendant at `path` ('' is this module). */
  getModule(path: string): Module {
    let module: Module = this;
    if (path === '') return module;
    for (const part of path.split('.')) {
      const child = module.childModules.get(part);
      if (!child) {
        throw new SlimlmError(
          'NOT_FOUND',
          `${this.constructor.name}: no module '${path}' (at '${part}'; children there: ${[...module.childModules.keys()].join(', ') || 'none'})`,
        );
      }
      module = child;
    }
    return module;
  }

  /**
   * Replaces the module at `path` with `replacement` and returns the one it replaced (not
   * disposed: the caller decides, since a wrapper such as a LoRA layer keeps using it).
   */
  setModule(path: string, replacement: Module): Module {
    const cut = path.lastIndexOf('.');
    const parent = this.getModule(cut < 0 ? '' : path.slice(0, cut));
    const name = path.slice(cut + 1);
    const previous = parent.childModules.get(name);
    if (!previous) {
      throw new SlimlmError(
        'NOT_FOUND',
        `${this.constructor.name}: no module '${path}' to replace`,
      );
    }
    parent.childModules.set(name, replacement);
    return previous;
  }

  /** The parameter at a dotted `path`, or undefined. */
  getParameter(path: string): Tensor | undefined {
    const cut = path.lastIndexOf('.');
    const owner = this.getModule(cut < 0 ? '' : path.slice(0, cut));
    return owner.params.get(path.slice(cut + 1)) ?? undefined;
  }

  /**
   * Puts `value` into the declared parameter slot at `path`, disposing the tensor it held. The
   * module now owns `value`. Throws if no such slot exists or the shape differs from the declared one.
   */
  setParameter(path: string, value: Tensor): void {
    const cut = path.lastIndexOf('.');
    const owner = this.getModule(cut < 0 ? '' : path.slice(0, cut));
    const name = path.slice(cut + 1);
    const shape = owner.specs.get(name);
    if (!shape) {
      throw new SlimlmError(
        'NOT_FOUND',
        `${this.constructor.name}: no parameter '${path}' (parameters of '${path.slice(0, Math.max(cut, 0))}': ${[...owner.specs.keys()].join(', ') || 'none'})`,
      );
    }
    if (shape.length !== value.rank || shape.some((d, i) => d !== value.shape[i])) {
      throw new SlimlmError(
        'SHAPE_MISMATCH',
        `${this.constructor.name}: parameter '${path}' must be [${shape.join(', ')}], got [${value.shape.join(', ')}]`,
      );
    }
    const previous = owner.params.get(name);
    if (previous && previous !== value && !previous.isDisposed) previous.dispose();
    owner.params.set(name, value);
  }

  /** Sets training mode on the whole subtree. */
  train(on = true): this {
    for (const [, module] of this.namedModules()) module.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Frees every parameter of the subtree. */
  dispose(): void {
    for (const [, module] of this.namedModules()) {
      for (const value of module.params.values()) {
        if (!value.isDisposed) value.dispose();
      }
      module.params.clear();
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

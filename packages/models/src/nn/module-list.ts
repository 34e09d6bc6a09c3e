import { Module } from './module';

/**
 * Modules under the names '0', '1', … as torch.nn.ModuleList, so that paths read
 * `model.layers.3.self_attn.q_proj`. Items are looked up by path each time, so a module swapped in
 * with `setModule` (quantized, adapted) is the one used.
 */
export class ModuleList<M extends Module = Module> extends Module {
  private count = 0;

  constructor(items: Iterable<M> = []) {
    super();
    for (const item of items) this.push(item);
  }

  /** `count` modules, `make(i)` at index i (torch's ModuleList of a comprehension). */
  static of<M extends Module>(count: number, make: (index: number) => M): ModuleList<M> {
    return new ModuleList(Array.from({ length: count }, (_, i) => make(i)));
  }

  get length(): number {
    return this.count;
  }

  push(item: M): void {
    this.addModule(String(this.count), item);
    this.count++;
  }

  /** The module now at index `i`. */
  at(i: number): M {
    return this.getModule(String(i)) as M;
  }

  *[Symbol.iterator](): Generator<M> {
    for (let i = 0; i < this.count; i++) yield this.at(i);
  }
}

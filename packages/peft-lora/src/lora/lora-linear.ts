import { add, cast, dropout, matmul, mul, SlimlmError, scope, type Tensor } from '@slimlm/core';
import { Linear, type LinearLayer, Module } from '@slimlm/models';

/** One adapter of a LoRA layer: its rank, scaling and dropout. */
export interface AdapterSettings {
  r: number;
  alpha: number;
  /** alpha / r, or alpha / √r with rsLoRA. */
  scaling: number;
  /**
   * Dropout probability on the adapter's input in training mode; masks come from core's global
   * generator (manualSeed), as torch's dropout draws from torch's.
   */
  dropout: number;
}

/** Whether `module` is a linear layer (what LoRA can wrap): Linear, QuantLinear or another LinearLayer. */
export function isLinearLayer(module: Module): module is LinearLayer {
  const candidate = module as Module & Partial<LinearLayer>;
  return (
    typeof candidate.inFeatures === 'number' &&
    typeof candidate.outFeatures === 'number' &&
    typeof candidate.forward === 'function'
  );
}

/** Modules by adapter name (torch's ModuleDict), so that paths read `lora_A.<adapter>.weight`. */
class AdapterMatrices extends Module {
  constructor(entries: Iterable<[string, Linear]> = []) {
    super();
    for (const [name, matrix] of entries) this.addModule(name, matrix);
  }

  with(name: string, matrix: Linear): this {
    this.addModule(name, matrix);
    return this;
  }

  /** The same matrices less `name` (a new container: modules have no removal). */
  without(name: string): AdapterMatrices {
    return new AdapterMatrices(
      this.children().filter(([key]) => key !== name) as [string, Linear][],
    );
  }

  get(name: string): Linear {
    return this.getModule(name) as Linear;
  }
}

/**
 * A linear layer with LoRA adapters, as PEFT's lora.Linear: y = base(x) + Σ over active adapters
 * of B(A(dropout(x))) · scaling. The base (a Linear, a GPTQ QuantLinear, any LinearLayer) is
 * kept unchanged as the child `base_layer`; A [r, in] and B [out, r] are Linear modules at
 * `lora_A.<adapter>` and `lora_B.<adapter>`, so parameter paths are PEFT's own
 * (`q_proj.lora_A.default.weight`). Dropout applies in training mode only.
 */
export class LoraLinear extends Module implements LinearLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** While true the adapters are skipped: the layer computes its base alone. */
  disabled = false;
  private readonly settings = new Map<string, AdapterSettings>();
  private active: string[] = [];

  constructor(base: LinearLayer) {
    super();
    if (base instanceof LoraLinear) {
      throw new SlimlmError('INVALID_ARGUMENT', 'LoraLinear: the base is a LoRA layer already');
    }
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.training = base.training;
    this.addModule('base_layer', base);
    this.addModule('lora_A', new AdapterMatrices());
    this.addModule('lora_B', new AdapterMatrices());
  }

  get base(): LinearLayer {
    return this.getModule('base_layer') as LinearLayer;
  }

  /** Adapter names in the order they were added. */
  get adapterNames(): string[] {
    return [...this.settings.keys()];
  }

  /** The adapters the forward pass adds (names this layer lacks are skipped). */
  get activeAdapters(): readonly string[] {
    return this.active;
  }

  set activeAdapters(names: readonly string[]) {
    this.active = [...names];
  }

  hasAdapter(name: string): boolean {
    return this.settings.has(name);
  }

  settingsOf(name: string): AdapterSettings {
    const settings = this.settings.get(name);
    if (!settings) {
      throw new SlimlmError(
        'NOT_FOUND',
        `LoraLinear: no adapter '${name}' (adapters here: ${this.adapterNames.join(', ') || 'none'})`,
      );
    }
    return settings;
  }

  /** A [r, in] of adapter `name`, as a Linear (its weight is the parameter). */
  loraA(name: string): Linear {
    this.settingsOf(name);
    return (this.getModule('lora_A') as AdapterMatrices).get(name);
  }

  /** B [out, r] of adapter `name`, as a Linear. */
  loraB(name: string): Linear {
    this.settingsOf(name);
    return (this.getModule('lora_B') as AdapterMatrices).get(name);
  }

  /** Adds adapter `name` with A [r, in] and B [out, r], which the layer then owns. */
  addAdapter(name: string, settings: AdapterSettings, a: Tensor, b: Tensor): void {
    if (this.settings.has(name)) {
      throw new SlimlmError('INVALID_ARGUMENT', `LoraLinear: adapter '${name}' exists already`);
    }
    const { r } = settings;
    const matrixA = new Linear(this.inFeatures, r);
    const matrixB = new Linear(r, this.outFeatures);
    matrixA.setParameter('weight', a);
    matrixB.setParameter('weight', b);
    matrixA.train(this.training);
    matrixB.train(this.training);
    (this.getModule('lora_A') as AdapterMatrices).with(name, matrixA);
    (this.getModule('lora_B') as AdapterMatrices).with(name, matrixB);
    this.settings.set(name, settings);
  }

  /** Removes adapter `name` and frees its matrices. */
  deleteAdapter(name: string): void {
    const a = this.loraA(name);
    const b = this.loraB(name);
    this.addModule('lora_A', (this.getModule('lora_A') as AdapterMatrices).without(name));
    this.addModule('lora_B', (this.getModule('lora_B') as AdapterMatrices).without(name));
    a.dispose();
    b.dispose();
    this.settings.delete(name);
    this.active = this.active.filter((n) => n !== name);
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      let y = this.base.forward(x);
      if (this.disabled) return y;
      for (const name of this.active) {
        const settings = this.settings.get(name);
        if (!settings) continue;
        const input = this.training && settings.dropout > 0 ? dropout(x, settings.dropout) : x;
        const update = this.loraB(name).forward(this.loraA(name).forward(input));
        y = add(y, mul(update, settings.scaling));
      }
      return y;
    });
  }

  /**
   * scaling · B · A [out, in] of adapter `name`, in f32 (f64 when the matrices are f64): what
   * merging adds to the base weight.
   */
  deltaWeight(name: string): Tensor {
    const { scaling } = this.settingsOf(name);
    const a = this.loraA(name).weight;
    const b = this.loraB(name).weight;
    const dtype = a.dtype === 'f64' && b.dtype === 'f64' ? 'f64' : 'f32';
    return scope(() => {
      const wide = (t: Tensor) => (t.dtype === dtype ? t : cast(t, dtype));
      return mul(matmul(wide(b), wide(a)), scaling);
    });
  }
}

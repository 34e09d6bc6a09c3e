import {
  add,
  div,
  isFloatDType,
  keep,
  mul,
  noGrad,
  scope,
  sqrt,
  square,
  sub,
  type Tensor,
  zerosLike,
} from '@slimlm/core';
import { checkNumber, invalidArgument } from './check';
import { overwrite } from './in-place';

export interface AdamWOptions {
  /** Default 1e-3 (torch's default; the trainer passes its own schedule's rate to each step). */
  lr?: number;
  /** Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the square root of the second moment (outside it, as torch). Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay: each step multiplies a decaying parameter by 1 - lr·weightDecay. Default 0.01. */
  weightDecay?: number;
  /** Which parameters decay (default all). */
  decays?: (name: string, parameter: Tensor) => boolean;
}

/** The optimizer's state: steps taken and both moments of every parameter, by name. */
export interface AdamWState {
  step: number;
  expAvg: ReadonlyMap<string, Tensor>;
  expAvgSq: ReadonlyMap<string, Tensor>;
}

function checkBeta(name: string, value: number): number {
  if (!(value >= 0 && value < 1))
    throw invalidArgument('AdamW', `${name} must be in [0, 1), got ${value}`);
  return value;
}

/**
 * AdamW as torch.optim.AdamW (Loshchilov & Hutter): with bias-corrected moments m̂ = m/(1-β1ᵗ)
 * and v̂ = v/(1-β2ᵗ), each step does p ← p·(1 - lr·λ) - lr·m̂/(√v̂ + ε). Parameters are updated in
 * place, so whoever holds them (a model, a trainer's master copies) sees the new values. The
 * arithmetic is core ops, so it runs on the parameters' backend.
 */
export class AdamW {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  lr: number;
  private stepCount = 0;
  private readonly expAvg = new Map<string, Tensor>();
  private readonly expAvgSq = new Map<string, Tensor>();
  private readonly decaying = new Set<string>();

  constructor(
    private readonly params: ReadonlyMap<string, Tensor>,
    options: AdamWOptions = {},
  ) {
    const where = 'AdamW';
    this.lr = checkNumber(where, 'lr', options.lr ?? 1e-3, 0);
    const [beta1, beta2] = options.betas ?? [0.9, 0.999];
    this.betas = [checkBeta('beta1', beta1), checkBeta('beta2', beta2)];
    this.eps = checkNumber(where, 'eps', options.eps ?? 1e-8, 0);
    this.weightDecay = checkNumber(where, 'weightDecay', options.weightDecay ?? 0.01, 0);
    for (const [name, p] of params) {
      if (!isFloatDType(p.dtype))
        throw invalidArgument(where, `parameter '${name}' is ${p.dtype}, not a float tensor`);
      if (options.decays?.(name, p) ?? true) this.decaying.add(name);
      this.expAvg.set(name, keep(zerosLike(p)));
      this.expAvgSq.set(name, keep(zerosLike(p)));
    }
  }

  /** Steps taken so far (t in the bias corrections). */
  get steps(): number {
    return this.stepCount;
  }

  /**
   * One update of every parameter from its gradient in `grads` (same names, shapes and dtypes),
   * at learning rate `lr` (default the optimizer's own).
   */
  step(grads: ReadonlyMap<string, Tensor>, lr = this.lr): void {
    checkNumber('AdamW.step', 'lr', lr, 0);
    this.stepCount++;
    const [beta1, beta2] = this.betas;
    const stepSize = lr / (1 - beta1 ** this.stepCount);
    const correction2Sqrt = Math.sqrt(1 - beta2 ** this.stepCount);
    noGrad(() => {
      for (const [name, p] of this.params) {
        const g = grads.get(name);
        if (!g) throw invalidArgument('AdamW.step', `no gradient for parameter '${name}'`);
        const m = this.expAvg.get(name)!;
        const v = this.expAvgSq.get(name)!;
        scope(() => {
          const nextM = add(mul(m, beta1), mul(g, 1 - beta1));
          const nextV = add(mul(v, beta2), mul(square(g), 1 - beta2));
          const denom = add(div(sqrt(nextV), correction2Sqrt), this.eps);
          const decayed = this.decaying.has(name) ? mul(p, 1 - lr * this.weightDecay) : p;
          overwrite(p, sub(decayed, mul(div(nextM, denom), stepSize)));
          overwrite(m, nextM);
          overwrite(v, nextV);
        });
      }
    });
  }

  /** The live state (not copies), for saving. */
  state(): AdamWState {
    return { step: this.stepCount, expAvg: this.expAvg, expAvgSq: this.expAvgSq };
  }

  /** Restores a saved state: step count and moments (copied in, so `state` stays the caller's). */
  loadState(state: AdamWState): void {
    checkNumber('AdamW.loadState', 'step', state.step, 0);
    for (const [name] of this.params) {
      const m = state.expAvg.get(name);
      const v = state.expAvgSq.get(name);
      if (!m || !v) throw invalidArgument('AdamW.loadState', `no moments for parameter '${name}'`);
      noGrad(() => {
        overwrite(this.expAvg.get(name)!, m);
        overwrite(this.expAvgSq.get(name)!, v);
      });
    }
    this.stepCount = state.step;
  }

  /** Frees the moments (the parameters belong to the caller). */
  dispose(): void {
    for (const t of [...this.expAvg.values(), ...this.expAvgSq.values()]) t.dispose();
    this.expAvg.clear();
    this.expAvgSq.clear();
  }
}

import { checkNumber } from './check';

/** Where a dynamic loss scale stands, for checkpoints. */
export interface LossScalerState {
  scale: number;
  /** Finite steps in a row since the scale last changed. */
  growthTracker: number;
}

export interface LossScalerOptions {
  /** Default 2^16, as torch's GradScaler. */
  initScale?: number;
  /** Default 2. */
  growthFactor?: number;
  /** Default 0.5. */
  backoffFactor?: number;
  /** Finite steps before the scale grows. Default 2000. */
  growthInterval?: number;
}

/**
 * Dynamic loss scaling as torch.cuda.amp.GradScaler: the loss is multiplied by `scale` before
 * backward so that small gradients survive f16 storage; a step whose gradients overflow is
 * skipped and the scale halves, and after `growthInterval` clean steps it doubles.
 */
export class DynamicLossScaler {
  scale: number;
  growthTracker = 0;
  private readonly growthFactor: number;
  private readonly backoffFactor: number;
  private readonly growthInterval: number;

  constructor(options: LossScalerOptions = {}) {
    const where = 'DynamicLossScaler';
    this.scale = checkNumber(where, 'initScale', options.initScale ?? 2 ** 16, Number.MIN_VALUE);
    this.growthFactor = checkNumber(where, 'growthFactor', options.growthFactor ?? 2, 1);
    this.backoffFactor = checkNumber(
      where,
      'backoffFactor',
      options.backoffFactor ?? 0.5,
      Number.MIN_VALUE,
      1,
    );
    this.growthInterval = checkNumber(where, 'growthInterval', options.growthInterval ?? 2000, 1);
  }

  /** Updates the scale after a step whose unscaled gradients were `finite` (or not). */
  update(finite: boolean): void {
    if (!finite) {
      this.scale *= this.backoffFactor;
      this.growthTracker = 0;
      return;
    }
    this.growthTracker++;
    if (this.growthTracker === this.growthInterval) {
      this.scale *= this.growthFactor;
      this.growthTracker = 0;
    }
  }

  state(): LossScalerState {
    return { scale: this.scale, growthTracker: this.growthTracker };
  }

  loadState(state: LossScalerState): void {
    this.scale = checkNumber('DynamicLossScaler.loadState', 'scale', state.scale, Number.MIN_VALUE);
    this.growthTracker = state.growthTracker;
  }
}

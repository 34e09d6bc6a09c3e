import {
  add,
  cast,
  formatShape,
  keep,
  matmul,
  mul,
  reshape,
  SlimlmError,
  scope,
  type Tensor,
  transpose,
  zeros,
} from '@slimlm/core';

/**
 * The GPTQ Hessian of one Linear, H = (2/n) Σ XᵀX over the calibration sequences seen so far,
 * kept as a running average in f32 exactly like the reference's add_batch: per call,
 * H *= n / (n + m); n += m; X *= sqrt(2 / n); H += XᵀX, with m the call's batch size. Computed
 * with core ops on the active backend (where the accumulator was created).
 */
export class HessianAccumulator {
  readonly columns: number;
  private h: Tensor | null;
  private n = 0;

  constructor(columns: number) {
    if (!(Number.isSafeInteger(columns) && columns > 0))
      throw new SlimlmError(
        'INVALID_ARGUMENT',
        `HessianAccumulator: columns must be a positive integer, got ${columns}`,
      );
    this.columns = columns;
    this.h = keep(zeros([columns, columns], { dtype: 'f32' }));
  }

  /** Calibration sequences seen so far (the reference's nsamples). */
  get samples(): number {
    return this.n;
  }

  /**
   * Adds the Linear's inputs for one call: [T, K] counts as one sequence, [B, T, K] (or more
   * leading axes) as B sequences, like the reference.
   */
  add(x: Tensor): void {
    const h = this.live('add');
    const k = this.columns;
    if (x.rank < 1 || x.shape[x.rank - 1] !== k)
      throw new SlimlmError(
        'SHAPE_MISMATCH',
        `HessianAccumulator.add: inputs must be [..., ${k}], got ${formatShape(x.shape)}`,
      );
    const m = x.rank <= 2 ? 1 : x.shape[0]!;
    if (x.size === 0 || m === 0) return;
    const next = scope(() => {
      // Python scalars meet f32 tensors as f32 values, so each factor is rounded first.
      const decay = Math.fround(this.n / (this.n + m));
      const factor = Math.fround(Math.sqrt(2 / (this.n + m)));
      const rows = mul(reshape(x.dtype === 'f32' ? x : cast(x, 'f32'), [-1, k]), factor);
      return add(mul(h, decay), matmul(transpose(rows), rows));
    });
    this.n += m;
    h.dispose();
    this.h = keep(next);
  }

  /** H as it stands (a new f32 [K, K] tensor the caller owns). */
  hessian(): Tensor {
    return mul(this.live('hessian'), 1);
  }

  dispose(): void {
    this.h?.dispose();
    this.h = null;
  }

  private live(method: string): Tensor {
    if (this.h === null)
      throw new SlimlmError(
        'DISPOSED',
        `HessianAccumulator.${method}: the accumulator was disposed`,
      );
    return this.h;
  }
}

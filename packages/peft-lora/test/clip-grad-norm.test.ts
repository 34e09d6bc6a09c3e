import '@slimlm/kernels-cpu';
import { tensor } from '@slimlm/core';
import { describe, expect, test } from 'vitest';
import { clipGradNorm, DynamicLossScaler, globalGradNorm } from '../src/index';

describe('clipGradNorm (torch.nn.utils.clip_grad_norm_)', () => {
  test('scales by maxNorm / (norm + 1e-6) when the global norm is larger', () => {
    // ‖[3, 4, 12]‖ = 13 across two tensors.
    using a = tensor([3, 4], { dtype: 'f64', backend: 'reference' });
    using b = tensor([12], { dtype: 'f64', backend: 'reference' });
    expect(clipGradNorm([a, b], 6.5)).toBe(13);
    const coefficient = 6.5 / (13 + 1e-6);
    expect([...a.dataSync()]).toEqual([3 * coefficient, 4 * coefficient]);
    expect(b.item()).toBeCloseTo(12 * coefficient, 15);
    expect(globalGradNorm([a, b])).toBeCloseTo(6.5, 5);
  });

  test('leaves smaller and non-finite gradients alone', () => {
    using a = tensor([3, 4]);
    expect(clipGradNorm([a], 20)).toBeCloseTo(5, 6);
    expect([...a.dataSync()]).toEqual([3, 4]);
    using bad = tensor([Number.NaN, 1]);
    expect(clipGradNorm([a, bad], 1)).toBeNaN();
    expect([...a.dataSync()]).toEqual([3, 4]);
  });
});

describe('DynamicLossScaler (torch GradScaler rules)', () => {
  test('halves on overflow and doubles after growthInterval finite steps', () => {
    const scaler = new DynamicLossScaler({ initScale: 1024, growthInterval: 3 });
    scaler.update(false);
    expect(scaler.state()).toEqual({ scale: 512, growthTracker: 0 });
    scaler.update(true);
    scaler.update(true);
    expect(scaler.state()).toEqual({ scale: 512, growthTracker: 2 });
    scaler.update(true);
    expect(scaler.state()).toEqual({ scale: 1024, growthTracker: 0 });
    const restored = new DynamicLossScaler();
    restored.loadState({ scale: 8, growthTracker: 1 });
    expect(restored.scale).toBe(8);
  });
});

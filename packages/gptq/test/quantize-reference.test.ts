import '@slimlm/kernels-cpu';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calibrationWindows } from '@slimlm/datasets';
import { loadTokenizer } from '@slimlm/hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/index';
import { quantizeModel } from '../src/quantize/quantize-model';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WIKILLAMA = join(ROOT, 'packages', 'models', 'assets', 'wikillama-7m');
const reference = JSON.parse(
  readFileSync(join(ROOT, 'fixtures', 'gptq', 'gptq-reference.json'), 'utf8'),
);
const model = reference.models['wikillama-7m-hf'];

let work: string;
let calibration: number[][];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'slimlm-quantize-reference-'));
  // Protocol P: c4-sample encoded once with BOS, windows of seqlen from the start. A prefix cut at
  // a line end encodes to the same leading ids (checked against the reference's first ids).
  const tokenizer = await loadTokenizer(WIKILLAMA);
  const text = readFileSync(join(ROOT, 'fixtures', 'c4', 'c4-sample.utf8'), 'utf8');
  const ids = tokenizer.encode(text.slice(0, text.lastIndexOf('\n', 200_000) + 1));
  expect(ids.slice(0, 8)).toEqual(model.tokens.c4.first);
  calibration = calibrationWindows(ids, model.nsamples, model.seqlen, 'first');
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * The losses of block 0 (its inputs are the embeddings, exactly the reference's), stopping the
 * run once the block is done.
 */
async function blockZeroLosses(name: string): Promise<Map<string, number>> {
  const setting = model.settings.find((s: { name: string }) => s.name === name);
  const losses = new Map<string, number>();
  const run = quantizeModel(WIKILLAMA, join(work, name), {
    bits: setting.bits,
    groupSize: setting.group,
    sym: setting.sym,
    descAct: setting.desc_act,
    staticGroups: setting.static_groups,
    dampPercent: 0.01,
    method: 'gptq',
    format: 'gptq',
    calibration,
    onProgress: (e) => {
      if (e.phase === 'module') losses.set(`model.layers.${e.block}.${e.module}`, e.loss!);
      if (e.phase === 'block') throw new Error('block 0 done');
    },
  });
  await expect(run).rejects.toThrow('block 0 done');
  return losses;
}

describe('quantizeModel against the reference GPTQ (protocol P, wikillama-7m block 0)', () => {
  /**
   * Relative tolerance per setting. w4_g128_asym matches to ~1e-7 everywhere in block 0. With
   * act-order the first group (k, v, q: inputs are the embeddings) matches as closely, but later
   * groups drift by up to ~2e-3: gptqQuantize's act-order loss on the golden down_proj Hessian is
   * already 2.7e-5 below the reference's (2643.3245 vs 2643.3970), and each group's inputs
   * depend on the earlier groups' quantized weights.
   */
  const tolerance: Record<string, (module: string) => number> = {
    w4_g128_asym: () => 1e-5,
    w4_g128_sym_descact: (module) => (/[kvq]_proj$/.test(module) ? 1e-5 : 5e-3),
  };
  for (const name of Object.keys(tolerance)) {
    it(`${name}: every Linear's loss matches the reference's`, async () => {
      const losses = await blockZeroLosses(name);
      const expected = model.settings.find((s: { name: string }) => s.name === name).gptq
        .loss_per_linear as Record<string, number>;
      const order = Object.keys(expected).filter((k) => k.startsWith('model.layers.0.'));
      expect([...losses.keys()]).toEqual(order);
      for (const path of order) {
        const relative = Math.abs(losses.get(path)! / expected[path]! - 1);
        expect(relative, path).toBeLessThan(tolerance[name]!(path));
      }
    }, 300_000);
  }
});

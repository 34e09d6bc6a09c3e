import '@slimlm/kernels-cpu';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Tensor, tensor } from '@slimlm/core';
import { readJsonFile, saveCheckpoint } from '@slimlm/hub';
import { type CausalLM, Linear, modelFromFolder, stateDict } from '@slimlm/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Bits,
  dynamicSkips,
  type GptqConfig,
  type GptqFormat,
  gptqConfigJson,
  gptqLoadInfo,
  isPackable,
  QuantLinear,
  readGptqConfig,
} from '../src/index';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const stories = join(root, 'fixtures/stories260K-hf');
const folders: string[] = [];
let fp: CausalLM;

beforeAll(() => {
  fp = modelFromFolder(stories);
});

afterAll(() => {
  fp.dispose();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Round half to even, as torch.round. */
function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const toF16 = (values: Float32Array) =>
  Float32Array.from(tensor(values, { dtype: 'f16' }).dataSync());

/**
 * Per-group min/max RTN of weight [N, K] (the reference quantizer without GPTQ updates): asym
 * zero = round(-xmin / scale), sym zero = 2^(b-1). Groups follow gIdx (shuffled for desc_act).
 */
function rtn(
  weight: Float32Array,
  N: number,
  K: number,
  bits: Bits,
  gIdx: Int32Array,
  G: number,
  sym: boolean,
) {
  const maxq = (1 << bits) - 1;
  const scales = new Float32Array(G * N);
  const zeros = new Float32Array(G * N);
  const codes = new Uint8Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      let lo = 0;
      let hi = 0;
      for (let k = 0; k < K; k++) {
        if (gIdx[k] !== g) continue;
        lo = Math.min(lo, weight[n * K + k]!);
        hi = Math.max(hi, weight[n * K + k]!);
      }
      if (sym) {
        hi = Math.max(-lo, hi);
        lo = -hi;
      }
      if (lo === 0 && hi === 0) {
        lo = -1;
        hi = 1;
      }
      const scale = (hi - lo) / maxq;
      scales[g * N + n] = scale;
      zeros[g * N + n] = sym ? (maxq + 1) / 2 : roundEven(-lo / scale);
    }
    for (let k = 0; k < K; k++) {
      const g = gIdx[k]!;
      const q = roundEven(weight[n * K + k]! / scales[g * N + n]!) + zeros[g * N + n]!;
      codes[n * K + k] = Math.min(maxq, Math.max(0, q));
    }
  }
  return { scales, zeros, codes };
}

interface Variant {
  bits: Bits;
  groupSize: number;
  descAct: boolean;
  format: GptqFormat;
  sym?: boolean;
  /** The format config.json states (a mislabelled checkpoint says 'gptq' for v2 words). */
  declared?: GptqFormat;
  style?: 'autogptq' | 'gptqmodel';
}

/**
 * Writes a GPTQ checkpoint of stories260K (attention projections quantized; the MLP, whose 172
 * features do not pack, stays fp and is listed in `dynamic`) and returns its folder and the fp
 * model with the same dequantized weights.
 */
function buildCheckpoint(variant: Variant): {
  folder: string;
  reference: CausalLM;
  skipped: string[];
} {
  const { bits, groupSize, descAct, format } = variant;
  const sym = variant.sym ?? false;
  const folder = mkdtempSync(join(tmpdir(), 'slimlm-gptq-model-'));
  folders.push(folder);
  const reference = modelFromFolder(stories);
  const tensors = new Map<string, Tensor>(stateDict(fp));
  const owned: Tensor[] = [];
  const skipped: string[] = [];
  const rand = lcg(bits * 100 + groupSize + (descAct ? 1 : 0));
  for (const { path, block, linearGroups } of fp.decoderBlocks()) {
    for (const name of linearGroups.flat()) {
      const layer = block.getModule(name) as Linear;
      const full = `${path}.${name}`;
      const K = layer.inFeatures;
      const N = layer.outFeatures;
      if (!isPackable(K, N)) {
        skipped.push(full);
        continue;
      }
      const gs = groupSize === -1 ? K : groupSize;
      const G = Math.ceil(K / gs);
      const order = Array.from({ length: K }, (_, k) => k);
      if (descAct) {
        for (let i = K - 1; i > 0; i--) {
          const j = Math.floor(rand() * (i + 1));
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
      }
      const gIdx = new Int32Array(K);
      order.forEach((k, i) => {
        gIdx[k] = Math.floor(i / gs);
      });
      const weight = Float32Array.from(layer.weight.dataSync());
      const { scales, zeros, codes } = rtn(weight, N, K, bits, gIdx, G, sym);
      const q = QuantLinear.fromQuantization({
        codes,
        scales,
        zeros,
        gIdx,
        bits,
        groupSize,
        format,
      });
      tensors.delete(`${full}.weight`);
      for (const [key, value] of Object.entries(q.toCheckpointTensors({ prefix: full }))) {
        tensors.set(key, value);
      }
      owned.push(...Object.values(q.toCheckpointTensors()));
      // The same weights, dequantized, in the fp reference model.
      const s16 = toF16(scales);
      const dequantized = new Float32Array(N * K);
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < K; k++) {
          const g = gIdx[k]!;
          dequantized[n * K + k] = s16[g * N + n]! * (codes[n * K + k]! - zeros[g * N + n]!);
        }
      }
      reference.setParameter(`${full}.weight`, tensor(dequantized, { shape: [N, K] }));
    }
  }
  saveCheckpoint(folder, [...tensors]);
  for (const t of owned) t.dispose();
  const config: GptqConfig = {
    bits,
    groupSize,
    descAct,
    sym,
    staticGroups: false,
    dampPercent: 0.01,
    trueSequential: true,
    checkpointFormat: variant.declared ?? format,
    quantMethod: 'gptq',
    lmHead: false,
    dynamic: dynamicSkips(skipped),
    raw: {},
  };
  const quantization = gptqConfigJson(config, variant.style ?? 'autogptq');
  const base = readJsonFile(join(stories, 'config.json')) as Record<string, unknown>;
  writeFileSync(
    join(folder, 'config.json'),
    JSON.stringify({ ...base, quantization_config: quantization }),
  );
  writeFileSync(join(folder, 'quantize_config.json'), JSON.stringify(quantization));
  copyFileSync(join(stories, 'tokenizer.json'), join(folder, 'tokenizer.json'));
  return { folder, reference, skipped };
}

function logits(model: CausalLM): Float32Array {
  const ids = tensor(Int32Array.from([1, 403, 407, 261, 378, 300, 33, 71, 400, 11, 2, 5]), {
    dtype: 'i32',
    shape: [2, 6],
  });
  const out = model.forward(ids);
  const values = Float32Array.from(out.dataSync());
  out.dispose();
  ids.dispose();
  return values;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('loading GPTQ checkpoints through @slimlm/models', () => {
  const variants: Variant[] = [
    { bits: 4, groupSize: 32, descAct: false, format: 'gptq' },
    { bits: 4, groupSize: 32, descAct: true, format: 'gptq' },
    { bits: 4, groupSize: 32, descAct: false, format: 'gptq_v2', style: 'gptqmodel' },
    { bits: 4, groupSize: 32, descAct: true, format: 'gptq_v2', style: 'gptqmodel' },
    { bits: 4, groupSize: -1, descAct: false, format: 'gptq' },
    { bits: 3, groupSize: 32, descAct: false, format: 'gptq' },
    { bits: 3, groupSize: 32, descAct: true, format: 'gptq_v2' },
    { bits: 3, groupSize: 32, descAct: true, format: 'gptq' },
    { bits: 2, groupSize: 16, descAct: true, format: 'gptq' },
    { bits: 8, groupSize: 32, descAct: false, format: 'gptq_v2' },
  ];
  for (const variant of variants) {
    const name = `${variant.bits}-bit g${variant.groupSize} ${variant.format}${variant.descAct ? ' desc_act' : ''} (${variant.style ?? 'autogptq'} config)`;
    it(`gives the logits of the dequantized fp model: ${name}`, () => {
      const { folder, reference, skipped } = buildCheckpoint(variant);
      expect(readGptqConfig(folder)).toMatchObject({
        bits: variant.bits,
        checkpointFormat: variant.format,
      });
      const model = modelFromFolder(folder);
      try {
        const info = gptqLoadInfo(model)!;
        expect(info.format).toBe(variant.format);
        expect(info.detection?.mislabelled).toBe(false);
        expect(info.quantized).toHaveLength(5 * 4);
        expect([...info.unquantized].sort()).toEqual([...skipped, 'lm_head'].sort());
        const q = model.getModule('model.layers.0.self_attn.q_proj');
        expect(q).toBeInstanceOf(QuantLinear);
        expect((q as QuantLinear).actOrder).toBe(variant.descAct && variant.groupSize !== -1);
        expect(model.getModule('model.layers.0.mlp.down_proj')).toBeInstanceOf(Linear);
        const diff = maxDiff(logits(model), logits(reference));
        expect(diff).toBeLessThan(1e-4);
        // ...and the quantization is real: the fp model differs more.
        expect(maxDiff(logits(fp), logits(reference))).toBeGreaterThan(1e-3);
      } finally {
        model.dispose();
        reference.dispose();
      }
    });
  }

  it('reads v2 zero points mislabelled as gptq (v1) as v2', () => {
    const { folder, reference } = buildCheckpoint({
      bits: 4,
      groupSize: 32,
      descAct: false,
      format: 'gptq_v2',
      sym: true,
      declared: 'gptq',
    });
    const model = modelFromFolder(folder);
    try {
      const info = gptqLoadInfo(model)!;
      expect(info.config.checkpointFormat).toBe('gptq');
      expect(info.format).toBe('gptq_v2');
      expect(info.detection).toMatchObject({
        declared: 'gptq',
        format: 'gptq_v2',
        mislabelled: true,
      });
      expect(info.detection!.reason).toContain('0x88888888');
      expect(info.detection!.reason).toContain('model.layers.0.self_attn.q_proj.qzeros');
      expect(maxDiff(logits(model), logits(reference))).toBeLessThan(1e-4);
    } finally {
      model.dispose();
      reference.dispose();
    }
  });

  it('keeps honest symmetric v1 checkpoints as v1', () => {
    const { folder, reference } = buildCheckpoint({
      bits: 3,
      groupSize: 32,
      descAct: false,
      format: 'gptq',
      sym: true,
    });
    const model = modelFromFolder(folder);
    try {
      expect(gptqLoadInfo(model)).toMatchObject({
        format: 'gptq',
        detection: { mislabelled: false },
      });
      expect(maxDiff(logits(model), logits(reference))).toBeLessThan(1e-4);
    } finally {
      model.dispose();
      reference.dispose();
    }
  });

  it('loads under an f16 compute dtype (scales read as f16)', () => {
    const { folder, reference } = buildCheckpoint({
      bits: 4,
      groupSize: 32,
      descAct: true,
      format: 'gptq',
    });
    const model = modelFromFolder(folder, { computeDType: 'f16' });
    try {
      const q = model.getModule('model.layers.1.self_attn.o_proj') as QuantLinear;
      expect(q.scales.dtype).toBe('f16');
      expect(q.qweight.dtype).toBe('i32');
      expect(maxDiff(logits(model), logits(reference))).toBeLessThan(5e-2);
    } finally {
      model.dispose();
      reference.dispose();
    }
  });

  it('says which tensor is wrong when the config bits do not match the tensors', () => {
    const { folder, reference } = buildCheckpoint({
      bits: 4,
      groupSize: 32,
      descAct: false,
      format: 'gptq',
    });
    reference.dispose();
    const config = readJsonFile(join(folder, 'config.json')) as Record<
      string,
      Record<string, unknown>
    >;
    config.quantization_config!.bits = 8;
    writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
    expect(() => modelFromFolder(folder)).toThrow(
      /model\.layers\.0\.self_attn\.q_proj\.qweight' is \[8, 64\], but a 64→64 Linear at 8 bits packs to \[16, 64\]/,
    );
  });
});

import '@slimlm/kernels-cpu';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  contiguous,
  dequantize,
  Generator,
  scope,
  type Tensor,
  tensor,
  transpose,
} from '@slimlm/core';
import { calibrationWindows } from '@slimlm/datasets';
import { loadTokenizer, openCheckpoint, saveCheckpoint } from '@slimlm/hub';
import { type CausalLM, type Linear, modelFromFolder } from '@slimlm/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/index';
import type { QuantizeOptions, QuantizeSummary } from '../src/quantize/options';
import { quantizeModel, unsupportedReason } from '../src/quantize/quantize-model';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const STORIES = join(ROOT, 'fixtures', 'stories260K-hf');
const C4 = join(ROOT, 'fixtures', 'c4', 'c4-sample.utf8');

let work: string;
let calibration: number[][];
/** A held-out batch the logits are compared on. */
let probe: number[][];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'slimlm-quantize-'));
  const tokenizer = await loadTokenizer(STORIES);
  const text = readFileSync(C4, 'utf8');
  // A prefix cut at a line end is plenty for 8 windows of 64 tokens plus the probe.
  const ids = tokenizer.encode(text.slice(0, text.indexOf('\n', 6000)));
  calibration = calibrationWindows(ids, 8, 64, 'first');
  probe = [ids.slice(8 * 64, 8 * 64 + 48), ids.slice(9 * 64, 9 * 64 + 48)];
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

function options(overrides: Partial<QuantizeOptions> = {}): QuantizeOptions {
  return {
    bits: 4,
    groupSize: 32,
    sym: false,
    descAct: false,
    staticGroups: false,
    dampPercent: 0.01,
    method: 'gptq',
    format: 'gptq',
    calibration,
    ...overrides,
  };
}

function logitsOf(model: CausalLM, rows: number[][]): Float32Array {
  return scope(() => {
    const ids = tensor(rows.flat(), { dtype: 'i32', shape: [rows.length, rows[0]!.length] });
    return Float32Array.from(model.forward(ids).dataSync());
  });
}

/**
 * The source model with every quantized Linear of `quantized` holding its dequantized weight
 * (core's dequantize of the packed tensors), the rest as loaded.
 */
function dequantizedReference(source: string, quantized: string): CausalLM {
  const model = modelFromFolder(source);
  const config = JSON.parse(readFileSync(join(quantized, 'config.json'), 'utf8'))
    .quantization_config as Record<string, unknown>;
  const weights = openCheckpoint(quantized);
  try {
    for (const name of weights.names().filter((n) => n.endsWith('.qweight'))) {
      const path = name.slice(0, -'.qweight'.length);
      const read = (field: string) => weights.read(`${path}.${field}`);
      const qweight = read('qweight');
      const K = (qweight.shape[0]! * 32) / (config.bits as number);
      const g = config.group_size as number;
      const weight = scope(() =>
        dequantize(
          { qweight, qzeros: read('qzeros'), scales: read('scales') },
          {
            bits: config.bits as 2 | 3 | 4 | 8,
            groupSize: g === -1 ? K : g,
            zeroOffset: config.checkpoint_format === 'gptq_v2' ? 0 : 1,
          },
          read('g_idx'),
        ),
      );
      const layer = model.getModule(path) as Linear;
      model.setParameter(
        `${path}.weight`,
        layer.layout === 'out-in' ? weight : scope(() => contiguous(transpose(weight))),
      );
      // Checkpoints store the bias as float16.
      if (weights.has(`${path}.bias`)) model.setParameter(`${path}.bias`, read('bias'));
    }
  } finally {
    weights.close();
  }
  return model;
}

function expectClose(actual: Float32Array, expected: Float32Array, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  expect(worst).toBeLessThanOrEqual(tolerance * Math.max(1, scale));
}

/** Quantizes into a fresh folder under the test's work folder. */
async function run(
  name: string,
  overrides: Partial<QuantizeOptions> = {},
  model = STORIES,
): Promise<{ out: string; summary: QuantizeSummary }> {
  const out = join(work, name);
  const summary = await quantizeModel(model, out, options(overrides));
  return { out, summary };
}

function checkLoadsAsDequantized(source: string, out: string): void {
  const quantized = modelFromFolder(out);
  const reference = dequantizedReference(source, out);
  const original = modelFromFolder(source);
  try {
    const logits = logitsOf(quantized, probe);
    expectClose(logits, logitsOf(reference, probe), 1e-4);
    // Not trivially so: quantization moved the logits.
    expect(() => expectClose(logits, logitsOf(original, probe), 1e-4)).toThrow();
  } finally {
    quantized.dispose();
    reference.dispose();
    original.dispose();
  }
}

describe('unsupportedReason', () => {
  it('names what the packing or the groups cannot hold', () => {
    expect(unsupportedReason(64, 64, { groupSize: 32 })).toBeUndefined();
    expect(unsupportedReason(172, 64, { groupSize: -1 })).toMatch(/multiples of 32/);
    expect(unsupportedReason(96, 64, { groupSize: 64 })).toMatch(/group_size 64/);
  });
});

describe('quantizeModel on stories260K', () => {
  let gptq: { out: string; summary: QuantizeSummary };
  let rtn: { out: string; summary: QuantizeSummary };

  beforeAll(async () => {
    gptq = await run('gptq-w4-g32');
    rtn = await run('rtn-w4-g32', { method: 'rtn' });
  }, 120_000);

  it('writes a GPTQ folder that loads and computes what its dequantized weights compute', () => {
    for (const { out } of [gptq, rtn]) {
      expect(existsSync(`${out}.partial`)).toBe(false);
      const files = readdirSync(out).sort();
      for (const name of [
        'config.json',
        'generation_config.json',
        'model.safetensors',
        'quant_log.csv',
        'quant_log.json',
        'quantize_config.json',
        'tokenizer.json',
        'tokenizer_config.json',
      ]) {
        expect(files).toContain(name);
      }
      checkLoadsAsDequantized(STORIES, out);
    }
  });

  it('reports a positive loss per module, and GPTQ loses less than RTN', () => {
    const { summary } = gptq;
    // 5 blocks × 4 attention projections; the MLP (172 wide) cannot be packed.
    expect(summary.modules).toHaveLength(20);
    expect(summary.modules.slice(0, 4).map((m) => m.module)).toEqual([
      'self_attn.k_proj',
      'self_attn.v_proj',
      'self_attn.q_proj',
      'self_attn.o_proj',
    ]);
    for (const m of [...summary.modules, ...rtn.summary.modules]) {
      expect(m.loss).toBeGreaterThan(0);
      expect(m.time).toBeGreaterThanOrEqual(0);
    }
    expect(summary.modules.every((m) => m.damp >= 0.01)).toBe(true);
    expect(summary.totalLoss).toBeLessThan(rtn.summary.totalLoss);
    expect(summary.blockSeconds).toHaveLength(5);
    const log = JSON.parse(readFileSync(join(gptq.out, 'quant_log.json'), 'utf8'));
    expect(log.filter((row: { skipped?: string }) => !row.skipped)).toHaveLength(20);
  });

  it('lists the modules it cannot pack as GPTQModel dynamic skip rules and in the log', () => {
    const { summary, out } = gptq;
    expect(summary.skipped.map((s) => s.module).slice(0, 3)).toEqual([
      'model.layers.0.mlp.up_proj',
      'model.layers.0.mlp.gate_proj',
      'model.layers.0.mlp.down_proj',
    ]);
    expect(summary.skipped).toHaveLength(15);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    const dynamic = config.quantization_config.dynamic as Record<string, unknown>;
    expect(Object.keys(dynamic)).toHaveLength(15);
    expect(dynamic['-:model\\.layers\\.0\\.mlp\\.down_proj$']).toEqual({});
    const csv = readFileSync(join(out, 'quant_log.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('layer,module,loss,damp,time,skipped');
    expect(csv.filter((line) => line.includes('mlp.down_proj'))).toHaveLength(5);
    const weights = openCheckpoint(out);
    try {
      expect(weights.has('model.layers.0.mlp.down_proj.weight')).toBe(true);
      expect(weights.has('model.layers.0.self_attn.q_proj.qweight')).toBe(true);
      expect(weights.has('model.layers.0.self_attn.q_proj.weight')).toBe(false);
      // Tied lm_head is not saved; everything fp is stored as the source stores it.
      expect(weights.has('lm_head.weight')).toBe(false);
      expect(weights.info('model.layers.0.mlp.down_proj.weight').dtype).toBe('F32');
      expect(weights.info('model.layers.0.self_attn.q_proj.scales').dtype).toBe('F16');
    } finally {
      weights.close();
    }
  });

  it('handles 3 bits, symmetric act-order, static groups and gptq_v2', async () => {
    const cases: [string, Partial<QuantizeOptions>][] = [
      ['w3', { bits: 3, groupSize: -1 }],
      ['w4-descact', { sym: true, descAct: true }],
      ['w4-descact-static-v2', { sym: true, descAct: true, staticGroups: true, format: 'gptq_v2' }],
      ['w8-rtn-nocal', { bits: 8, sym: true, method: 'rtn', calibration: [] }],
    ];
    for (const [name, overrides] of cases) {
      const { out, summary } = await run(name, overrides);
      expect(summary.modules).toHaveLength(20);
      checkLoadsAsDequantized(STORIES, out);
    }
    const descAct = JSON.parse(readFileSync(join(work, 'w4-descact', 'config.json'), 'utf8'));
    expect(descAct.quantization_config.desc_act).toBe(true);
    const weights = openCheckpoint(join(work, 'w4-descact'));
    try {
      const gIdx = Array.from(weights.read('model.layers.1.self_attn.q_proj.g_idx').dataSync());
      expect(gIdx.some((g, k) => g !== Math.floor(k / 32))).toBe(true);
    } finally {
      weights.close();
    }
  }, 180_000);
});

describe('resume', () => {
  it('continues an interrupted run and writes the same bytes as an uninterrupted one', async () => {
    const whole = await run('whole');
    const out = join(work, 'interrupted');
    const interrupt = options({
      onProgress: (e) => {
        if (e.phase === 'block' && e.block === 2) throw new Error('interrupted');
      },
    });
    await expect(quantizeModel(STORIES, out, interrupt)).rejects.toThrow('interrupted');
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.partial`)).toBe(true);

    // Other settings cannot continue this run.
    await expect(quantizeModel(STORIES, out, options({ resume: true, sym: true }))).rejects.toThrow(
      /other settings/,
    );

    const phases: string[] = [];
    const resumed = await quantizeModel(
      STORIES,
      out,
      options({ resume: true, onProgress: (e) => phases.push(`${e.phase}:${e.block}`) }),
    );
    expect(resumed.resumedBlocks).toBe(3);
    expect(phases).not.toContain('block:2');
    expect(phases).toContain('block:3');
    expect(existsSync(`${out}.partial`)).toBe(false);
    for (const name of ['model.safetensors', 'config.json', 'quantize_config.json']) {
      expect(readFileSync(join(out, name)).equals(readFileSync(join(whole.out, name)))).toBe(true);
    }
    expect(resumed.modules.map((m) => m.loss)).toEqual(whole.summary.modules.map((m) => m.loss));
  }, 120_000);

  it('refuses to replace an existing folder unless told to', async () => {
    const { out } = await run('existing', { method: 'rtn', calibration: [] });
    await expect(
      quantizeModel(STORIES, out, options({ method: 'rtn', calibration: [] })),
    ).rejects.toThrow(/already exists/);
    await quantizeModel(STORIES, out, options({ method: 'rtn', calibration: [], overwrite: true }));
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
  });
});

describe('quantizeModel on a model with an MLP it can pack', () => {
  /** A random 2-block llama: hidden 64, intermediate 96 (packable; 96 % 64 leaves down_proj fp at g64). */
  function tinyModel(): string {
    const folder = join(work, 'tiny-src');
    mkdirSync(folder, { recursive: true });
    const config = JSON.parse(readFileSync(join(STORIES, 'config.json'), 'utf8'));
    Object.assign(config, {
      intermediate_size: 96,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 16,
    });
    writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
    const generator = new Generator(7);
    const random = (shape: number[], std: number): [number[], Tensor] => [
      shape,
      tensor(
        Float32Array.from(
          { length: shape.reduce((a, b) => a * b, 1) },
          () => generator.nextNormal() * std,
        ),
        { shape, dtype: 'f32' },
      ),
    ];
    const tensors: [string, Tensor][] = [['model.embed_tokens.weight', random([512, 64], 1)[1]]];
    for (let i = 0; i < 2; i++) {
      const p = `model.layers.${i}`;
      for (const [name, shape] of [
        ['self_attn.q_proj', [64, 64]],
        ['self_attn.k_proj', [32, 64]],
        ['self_attn.v_proj', [32, 64]],
        ['self_attn.o_proj', [64, 64]],
        ['mlp.gate_proj', [96, 64]],
        ['mlp.up_proj', [96, 64]],
        ['mlp.down_proj', [64, 96]],
      ] as const) {
        tensors.push([`${p}.${name}.weight`, random([...shape], 0.1)[1]]);
      }
      tensors.push([
        `${p}.input_layernorm.weight`,
        tensor(new Float32Array(64).fill(1), { shape: [64] }),
      ]);
      tensors.push([
        `${p}.post_attention_layernorm.weight`,
        tensor(new Float32Array(64).fill(1), { shape: [64] }),
      ]);
    }
    tensors.push(['model.norm.weight', tensor(new Float32Array(64).fill(1), { shape: [64] })]);
    saveCheckpoint(folder, tensors);
    for (const [, t] of tensors) t.dispose();
    return folder;
  }

  it('quantizes gate/up and skips down_proj whose inputs do not fill whole groups', async () => {
    const source = tinyModel();
    for (const trueSequential of [true, false]) {
      const { out, summary } = await run(
        `tiny-${trueSequential}`,
        { groupSize: 64, trueSequential },
        source,
      );
      expect(summary.modules.map((m) => `${m.layer}.${m.module}`)).toEqual(
        [0, 1].flatMap((i) =>
          [
            'self_attn.k_proj',
            'self_attn.v_proj',
            'self_attn.q_proj',
            'self_attn.o_proj',
            'mlp.up_proj',
            'mlp.gate_proj',
          ].map((m) => `${i}.${m}`),
        ),
      );
      expect(summary.skipped).toEqual([
        {
          module: 'model.layers.0.mlp.down_proj',
          reason: 'in_features 96 is not a multiple of group_size 64',
        },
        {
          module: 'model.layers.1.mlp.down_proj',
          reason: 'in_features 96 is not a multiple of group_size 64',
        },
      ]);
      checkLoadsAsDequantized(source, out);
    }
  });
});

describe('quantizeModel on GPT-2 (Conv1D weights, biases, names without the base prefix)', () => {
  /** A random 2-block GPT-2 saved as the original GPT-2 files name tensors (h.0..., no 'transformer.'). */
  function tinyGpt2(): string {
    const folder = join(work, 'gpt2-src');
    mkdirSync(folder, { recursive: true });
    const config = {
      model_type: 'gpt2',
      n_embd: 64,
      n_head: 4,
      n_layer: 2,
      n_positions: 128,
      n_inner: 128,
      vocab_size: 512,
    };
    writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
    const generator = new Generator(11);
    const random = (shape: number[], std: number, mean = 0): Tensor =>
      tensor(
        Float32Array.from(
          { length: shape.reduce((a, b) => a * b, 1) },
          () => mean + generator.nextNormal() * std,
        ),
        { shape, dtype: 'f32' },
      );
    const tensors: [string, Tensor][] = [
      ['wte.weight', random([512, 64], 0.5)],
      ['wpe.weight', random([128, 64], 0.1)],
      ['ln_f.weight', random([64], 0.1, 1)],
      ['ln_f.bias', random([64], 0.1)],
    ];
    for (let i = 0; i < 2; i++) {
      for (const [name, shape] of [
        ['ln_1', [64]],
        ['ln_2', [64]],
        ['attn.c_attn', [64, 192]],
        ['attn.c_proj', [64, 64]],
        ['mlp.c_fc', [64, 128]],
        ['mlp.c_proj', [128, 64]],
      ] as const) {
        const norm = name.startsWith('ln');
        tensors.push([`h.${i}.${name}.weight`, random([...shape], 0.1, norm ? 1 : 0)]);
        tensors.push([`h.${i}.${name}.bias`, random([shape.at(-1)!], 0.1)]);
      }
    }
    saveCheckpoint(folder, tensors);
    for (const [, t] of tensors) t.dispose();
    return folder;
  }

  it('quantizes the transposed weights and keeps the biases', async () => {
    const source = tinyGpt2();
    const { out, summary } = await run('gpt2-w4', { groupSize: 32, descAct: true }, source);
    expect(summary.skipped).toEqual([]);
    expect(summary.modules.map((m) => m.module)).toEqual(
      [0, 1].flatMap(() => ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']),
    );
    const weights = openCheckpoint(out);
    try {
      expect(weights.info('transformer.h.0.attn.c_attn.qweight').shape).toEqual([8, 192]);
      expect(weights.info('transformer.h.0.attn.c_attn.bias').dtype).toBe('F16');
      expect(weights.info('transformer.wte.weight').dtype).toBe('F32');
    } finally {
      weights.close();
    }
    checkLoadsAsDequantized(source, out);
  }, 60_000);
});

import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, narrow, randn, SlimlmError, type Tensor, tensor } from '@slimlm/core';
import '@slimlm/kernels-cpu';
import { openCheckpoint, saveCheckpoint } from '@slimlm/hub';
import { afterAll, describe, expect, it } from 'vitest';
import { type CausalLM, getArchitecture, modelFromFolder } from '../src/index';

const GOLDEN = fileURLToPath(new URL('./golden/', import.meta.url));

/** The tiny configs of the golden folders, one per architecture variant. */
const VARIANTS = ['gpt2', 'gpt_neo', 'gpt_neox', 'gpt_neox-sequential', 'opt', 'opt-postln'];

function readConfig(variant: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(GOLDEN, variant, 'config.json'), 'utf8'));
}

/** A model of `variant`'s config with seeded random weights (no checkpoint involved). */
function randomModel(variant: string, overrides: Record<string, unknown> = {}, seed = 1): CausalLM {
  const config = { ...readConfig(variant), ...overrides };
  const model = getArchitecture(String(config.model_type)).create(config, `${variant}/config.json`);
  const generator = new Generator(seed);
  const tied = new Map(model.tiedParameters());
  for (const [path, shape] of model.parameterShapes()) {
    if (tied.has(path)) continue;
    const norm = /(norm|ln_\w)\.weight$/.test(path);
    const std = shape.length === 1 ? 0.1 : 0.3;
    model.setParameter(path, randn(shape, { generator, std, mean: norm ? 1 : 0 }));
  }
  for (const [target, source] of tied) model.setParameter(target, model.getParameter(source)!);
  return model;
}

const ids = (rows: number[][]) =>
  tensor(Int32Array.from(rows.flat()), { shape: [rows.length, rows[0]!.length], dtype: 'i32' });

/** logits [1, T, V] → the row at t as a plain array. */
function rowAt(logits: Tensor, b: number, t: number): Float32Array {
  const vocab = logits.shape[2]!;
  using row = narrow(narrow(logits, 0, b, 1), 1, t, 1);
  return Float32Array.from(row.dataSync()).subarray(0, vocab);
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  }
  expect(worst).toBeLessThan(tolerance);
}

const PROMPT = [5, 17, 42, 8, 9, 60, 25, 33, 11, 2];

describe.each(VARIANTS)('%s (random init)', (variant) => {
  const model = randomModel(variant);
  afterAll(() => model.dispose());

  it('decodes with a KV cache exactly as a full recompute', () => {
    using full = model.forward(ids([PROMPT]));
    using cache = model.createCache(1, 4);
    const prefill = 6;
    using first = model.forward(ids([PROMPT.slice(0, prefill)]), { cache });
    for (let t = 0; t < prefill; t++) expectClose(rowAt(first, 0, t), rowAt(full, 0, t), 1e-4);
    for (let t = prefill; t < PROMPT.length; t++) {
      using step = model.forward(ids([[PROMPT[t]!]]), { cache });
      expectClose(rowAt(step, 0, 0), rowAt(full, 0, t), 1e-4);
    }
    expect(cache.length(0)).toBe(PROMPT.length);
  });

  it('gives each row of a left-padded batch the logits it has alone', () => {
    const short = PROMPT.slice(3);
    const padding = PROMPT.length - short.length;
    const rows = [[...Array(padding).fill(0), ...short], PROMPT];
    const mask = rows.map((row, b) => row.map((_, t) => (b === 0 && t < padding ? 0 : 1)));
    using batch = model.forward(ids(rows), { attentionMask: ids(mask) });
    using alone = model.forward(ids([short]));
    using full = model.forward(ids([PROMPT]));
    for (let t = 0; t < short.length; t++) {
      expectClose(rowAt(batch, 0, padding + t), rowAt(alone, 0, t), 1e-4);
    }
    for (let t = 0; t < PROMPT.length; t++)
      expectClose(rowAt(batch, 1, t), rowAt(full, 0, t), 1e-4);

    // Then decode two tokens for both rows with a cache and a growing mask.
    using cache = model.createCache(2);
    model.forward(ids(rows), { cache, attentionMask: ids(mask) }).dispose();
    const next = [7, 40];
    const grown = mask.map((row) => [...row, 1]);
    using step = model.forward(ids(next.map((id) => [id])), { cache, attentionMask: ids(grown) });
    using aloneNext = model.forward(ids([[...short, next[0]!]]));
    using fullNext = model.forward(ids([[...PROMPT, next[1]!]]));
    expectClose(rowAt(step, 0, 0), rowAt(aloneNext, 0, short.length), 1e-4);
    expectClose(rowAt(step, 1, 0), rowAt(fullNext, 0, PROMPT.length), 1e-4);
  });

  it('lists every Linear of each block exactly once in its sequential groups', () => {
    const blocks = model.decoderBlocks();
    expect(blocks.length).toBe(model.config.numLayers);
    const isLinear = (m: object) => 'inFeatures' in m && 'outFeatures' in m;
    for (const { path, block, linearGroups } of blocks) {
      expect(model.getModule(path)).toBe(block);
      const listed = linearGroups.flat();
      const present = [...block.namedModules()].filter(([, m]) => isLinear(m)).map(([p]) => p);
      expect(new Set(listed).size).toBe(listed.length);
      expect([...listed].sort()).toEqual([...present].sort());
    }
    const inBlocks = blocks.reduce((n, b) => n + b.linearGroups.flat().length, 0);
    const outside = model.linearLayers().length - inBlocks;
    // The LM head, plus OPT's project_in/out where the embedding width differs.
    expect(outside).toBe(variant === 'opt-postln' ? 3 : 1);
  });

  it('computes in bf16 close to f32, with a bf16 cache', () => {
    using reference = model.forward(ids([PROMPT]));
    model.computeDType = 'bf16';
    try {
      using cache = model.createCache(1);
      using narrowed = model.forward(ids([PROMPT]), { cache });
      expect(narrowed.dtype).toBe('bf16');
      const last = PROMPT.length - 1;
      const expected = rowAt(reference, 0, last);
      const actual = rowAt(narrowed, 0, last);
      const scale = Math.max(...expected.map(Math.abs));
      expectClose(actual, expected, 0.1 * scale + 0.05);
    } finally {
      model.computeDType = 'f32';
    }
  });
});

describe('GPT-Neo local attention', () => {
  it('masks keys window_size or more positions back on local layers only', () => {
    // With a window wider than the sequence the local layer sees what a global one does.
    const narrowWindow = randomModel('gpt_neo', { window_size: 2 });
    const wideWindow = randomModel('gpt_neo', { window_size: 64 });
    const allGlobal = randomModel('gpt_neo', {
      attention_types: [[['global'], 2]],
      attention_layers: ['global', 'global'],
    });
    try {
      using a = narrowWindow.forward(ids([PROMPT]));
      using b = wideWindow.forward(ids([PROMPT]));
      using c = allGlobal.forward(ids([PROMPT]));
      // Positions 0 and 1 have at most 2 keys: the window changes nothing there.
      expectClose(rowAt(a, 0, 1), rowAt(b, 0, 1), 1e-5);
      expectClose(rowAt(b, 0, 9), rowAt(c, 0, 9), 1e-5);
      const differs = rowAt(a, 0, 9).some((x, i) => Math.abs(x - rowAt(b, 0, 9)[i]!) > 1e-3);
      expect(differs).toBe(true);
    } finally {
      for (const m of [narrowWindow, wideWindow, allGlobal]) m.dispose();
    }
  });
});

describe('GPT-NeoX residuals and rotary', () => {
  it('reads rotary_pct into the rotating channels and errors on an odd count', () => {
    const model = randomModel('gpt_neox', { rotary_pct: 0.25 });
    expect((model.config as unknown as { rotaryDim: number }).rotaryDim).toBe(2);
    model.dispose();
    expect(() => randomModel('gpt_neox', { rotary_pct: 0.125 })).toThrow(/rotary_pct/);
  });

  it('rejects rope scaling it does not implement', () => {
    const run = () => randomModel('gpt_neox', { rope_scaling: { type: 'linear', factor: 2 } });
    expect(run).toThrow(SlimlmError);
    expect(run).toThrow(/rope_scaling|type/);
  });

  it('differs between parallel and sequential residuals with the same weights', () => {
    const parallel = randomModel('gpt_neox', {}, 3);
    const sequential = randomModel('gpt_neox', { use_parallel_residual: false }, 3);
    try {
      using a = parallel.forward(ids([PROMPT.slice(0, 4)]));
      using b = sequential.forward(ids([PROMPT.slice(0, 4)]));
      const gap = rowAt(a, 0, 3).reduce(
        (m, x, i) => Math.max(m, Math.abs(x - rowAt(b, 0, 3)[i]!)),
        0,
      );
      expect(gap).toBeGreaterThan(1e-3);
    } finally {
      parallel.dispose();
      sequential.dispose();
    }
  });
});

describe('config errors name the file and field', () => {
  it('gpt_neo attention_types must cover num_layers', () => {
    expect(() => randomModel('gpt_neo', { attention_types: [[['global', 'local'], 2]] })).toThrow(
      /gpt_neo\/config\.json: field 'attention_types'/,
    );
  });

  it('an unknown activation is UNSUPPORTED', () => {
    try {
      randomModel('gpt2', { activation_function: 'mish' });
      expect.unreachable();
    } catch (error) {
      expect((error as SlimlmError).code).toBe('UNSUPPORTED');
      expect((error as Error).message).toMatch(/activation_function.*mish/);
    }
  });

  it('OPT without LayerNorm weights is UNSUPPORTED', () => {
    expect(() => randomModel('opt', { layer_norm_elementwise_affine: false })).toThrow(
      /layer_norm_elementwise_affine/,
    );
  });
});

describe('loading', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'slimlm-architectures-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it.each(VARIANTS)('%s: a missing tensor is an INVALID_FILE error naming it', (variant) => {
    const folder = join(scratch, variant);
    const source = openCheckpoint(join(GOLDEN, variant));
    const dropped = source
      .names()
      .find((name) => /\.1\.(mlp\.c_proj|mlp\.dense_4h_to_h|fc2)\.weight$/.test(name));
    expect(dropped).toBeDefined();
    try {
      saveCheckpoint(
        folder,
        source
          .names()
          .filter((name) => name !== dropped)
          .map((name) => [name, source.read(name)] as const),
      );
    } finally {
      source.close();
    }
    copyFileSync(join(GOLDEN, variant, 'config.json'), join(folder, 'config.json'));
    try {
      modelFromFolder(folder).dispose();
      expect.unreachable();
    } catch (error) {
      expect((error as SlimlmError).code).toBe('INVALID_FILE');
      expect((error as Error).message).toContain(dropped);
    }
  });

  it('ties the LM head to the token embedding when the checkpoint has no head', () => {
    const model = modelFromFolder(join(GOLDEN, 'gpt2'));
    try {
      const head = model.getParameter('lm_head.weight')!;
      const embedding = model.getParameter('transformer.wte.weight')!;
      expect(Array.from(head.dataSync())).toEqual(Array.from(embedding.dataSync()));
    } finally {
      model.dispose();
    }
  });
});

import '@slimlm/kernels-cpu';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type SlimlmError, type Tensor, withBackend, zeros } from '@slimlm/core';
import { openSafetensors, saveCheckpoint, saveSafetensors } from '@slimlm/hub';
import { describe, expect, test } from 'vitest';
import { BUILTIN_MODELS } from '../src/builtin';
import { loadModel, modelFromFolder, resolveModelFolder } from '../src/load';
import {
  copyFolder,
  editConfig,
  logitRows,
  logitsDiff,
  STORIES,
  WIKILLAMA,
  wikillamaReference,
} from './helpers';

/** A copy of stories260K whose checkpoint is rewritten through `change` (name → tensor). */
function withCheckpoint(change: (tensors: Map<string, Tensor>) => void) {
  return copyFolder(STORIES, (path) => {
    const file = join(path, 'model.safetensors');
    const source = openSafetensors(file);
    const tensors = new Map(source.names().map((name) => [name, source.read(name)] as const));
    source.close();
    change(tensors);
    rmSync(file);
    saveSafetensors(file, [...tensors]);
    for (const t of tensors.values()) t.dispose();
  });
}

function errorOf(fn: () => unknown): SlimlmError {
  try {
    fn();
  } catch (error) {
    return error as SlimlmError;
  }
  throw new Error('expected an error');
}

describe('modelFromFolder', () => {
  test('ties lm_head to embed_tokens when the checkpoint has no lm_head', () => {
    const model = modelFromFolder(STORIES);
    expect(model.getParameter('lm_head.weight')).toBe(
      model.getParameter('model.embed_tokens.weight'),
    );
    expect(model.config).toMatchObject({
      modelType: 'llama',
      numKvHeads: 4,
      headDim: 8,
      tieWordEmbeddings: true,
    });
    model.dispose();
  });

  test('reports progress in bytes, tensor by tensor', () => {
    const events: { loaded: number; total: number; name: string }[] = [];
    const model = modelFromFolder(WIKILLAMA, { onProgress: (p) => events.push(p) });
    expect(events).toHaveLength(6 * 9 + 3);
    expect(events.at(-1)!.loaded).toBe(events.at(-1)!.total);
    expect(events.every((e, i) => i === 0 || e.loaded > events[i - 1]!.loaded)).toBe(true);
    // Weights keep their stored dtype by default: f32 activations read f16 weights as stored.
    expect(model.getParameter('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('f16');
    model.dispose();
  });

  test('converts weights to an f16/bf16 compute dtype by default, f64 to f32 when stored', () => {
    const half = modelFromFolder(STORIES, { computeDType: 'f16' });
    const bf16 = modelFromFolder(WIKILLAMA, { computeDType: 'bf16' });
    try {
      expect(half.getParameter('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('f16');
      expect(bf16.getParameter('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('bf16');
    } finally {
      half.dispose();
      bf16.dispose();
    }
  });

  test("keeps f16 weights by default ('stored') and computes the logits of f32 weights", () => {
    const converted = modelFromFolder(WIKILLAMA, { weightsDType: 'f32' });
    const stored = modelFromFolder(WIKILLAMA);
    try {
      expect(converted.getParameter('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('f32');
      expect(stored.getParameter('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('f16');
      const explicit = modelFromFolder(WIKILLAMA, { weightsDType: 'stored' });
      expect(explicit.getParameter('model.layers.0.mlp.up_proj.weight')!.dtype).toBe('f16');
      explicit.dispose();
      expect(logitsDiff(converted, stored, [1, 620, 358, 3574, 286])).toBe(0);
    } finally {
      converted.dispose();
      stored.dispose();
    }
  });

  test('reads a sharded checkpoint as the single file', () => {
    const copy = copyFolder(STORIES, (path) => {
      const file = join(path, 'model.safetensors');
      const source = openSafetensors(file);
      const tensors = source.names().map((name) => [name, source.read(name)] as const);
      source.close();
      rmSync(file);
      expect(saveCheckpoint(path, tensors, { maxShardSize: 200_000 }).length).toBeGreaterThan(2);
      for (const [, t] of tensors) t.dispose();
    });
    const single = modelFromFolder(STORIES);
    const sharded = modelFromFolder(copy.path);
    try {
      expect(logitsDiff(single, sharded, [1, 403, 407, 261, 378])).toBe(0);
    } finally {
      single.dispose();
      sharded.dispose();
      copy.remove();
    }
  });

  test('reads a checkpoint saved from the base model (names without model.)', () => {
    const copy = withCheckpoint((t) => {
      for (const [name, value] of [...t]) {
        t.delete(name);
        t.set(name.replace(/^model\./, ''), value);
      }
    });
    const model = modelFromFolder(copy.path);
    try {
      expect(logitRows(model, [1])[0]![403]).toBeCloseTo(17.02352, 4);
    } finally {
      model.dispose();
      copy.remove();
    }
  });

  test('loads weights into the backend asked for', () => {
    const model = modelFromFolder(STORIES, { backend: 'reference' });
    try {
      expect(model.getParameter('model.norm.weight')!.backend.name).toBe('reference');
      const [row] = withBackend('reference', () => logitRows(model, [1]));
      expect(row![403]).toBeCloseTo(17.02352, 4);
    } finally {
      model.dispose();
    }
  });

  test('a missing tensor is named', () => {
    const copy = withCheckpoint((t) => {
      t.get('model.layers.2.mlp.up_proj.weight')!.dispose();
      t.delete('model.layers.2.mlp.up_proj.weight');
    });
    try {
      const error = errorOf(() => modelFromFolder(copy.path));
      expect(error.code).toBe('INVALID_FILE');
      expect(error.message).toMatch(/missing: model\.layers\.2\.mlp\.up_proj\.weight/);
    } finally {
      copy.remove();
    }
  });

  test('a mis-shaped tensor is named with both shapes', () => {
    const copy = withCheckpoint((t) => {
      t.get('model.norm.weight')!.dispose();
      t.set('model.norm.weight', zeros([32]));
    });
    try {
      const error = errorOf(() => modelFromFolder(copy.path));
      expect(error.code).toBe('SHAPE_MISMATCH');
      expect(error.message).toMatch(/llama.*'model\.norm\.weight'.*\[64\].*\[32\]/);
    } finally {
      copy.remove();
    }
  });

  test('unexpected tensors are refused, known buffers ignored', () => {
    const extra = withCheckpoint((t) => t.set('model.layers.0.self_attn.extra.weight', zeros([2])));
    const buffer = withCheckpoint((t) =>
      t.set('model.layers.0.self_attn.rotary_emb.inv_freq', zeros([4])),
    );
    try {
      expect(() => modelFromFolder(extra.path)).toThrow(
        /not parameters of llama.*self_attn\.extra\.weight/,
      );
      modelFromFolder(buffer.path).dispose();
    } finally {
      extra.remove();
      buffer.remove();
    }
  });

  test('an unknown model_type lists the supported ones', () => {
    const copy = copyFolder(STORIES, (path) => editConfig(path, (c) => (c.model_type = 'mamba')));
    try {
      const error = errorOf(() => modelFromFolder(copy.path));
      expect(error.code).toBe('UNSUPPORTED');
      expect(error.message).toMatch(
        /config\.json: model_type 'mamba' is not supported; supported types: .*llama.*mistral.*qwen2/,
      );
    } finally {
      copy.remove();
    }
  });

  test('a bad config field is named', () => {
    const copy = copyFolder(STORIES, (path) =>
      editConfig(path, (c) => (c.num_key_value_heads = 3)),
    );
    try {
      const error = errorOf(() => modelFromFolder(copy.path));
      expect(error.code).toBe('INVALID_CONFIG');
      expect(error.message).toMatch(/config\.json.*num_key_value_heads/);
    } finally {
      copy.remove();
    }
  });

  test('quantization_config needs its method registered', () => {
    const gptq = copyFolder(STORIES, (path) =>
      editConfig(path, (c) => (c.quantization_config = { quant_method: 'gptq', bits: 4 })),
    );
    const awq = copyFolder(STORIES, (path) =>
      editConfig(path, (c) => (c.quantization_config = { quant_method: 'awq' })),
    );
    try {
      const error = errorOf(() => modelFromFolder(gptq.path));
      expect(error.code).toBe('UNSUPPORTED');
      expect(error.message).toMatch(/quant_method 'gptq' needs @slimlm\/gptq/);
      expect(() => modelFromFolder(awq.path)).toThrow(/quant_method 'awq' is not supported/);
    } finally {
      gptq.remove();
      awq.remove();
    }
  });
});

describe('resolveModelFolder and loadModel', () => {
  test('resolves the built-in name, a local folder, and refuses anything else', async () => {
    expect(BUILTIN_MODELS.wikillama!.folder).toBe(WIKILLAMA.replace(/\/$/, ''));
    expect(await resolveModelFolder('wikillama')).toBe(BUILTIN_MODELS.wikillama!.folder);
    expect(await resolveModelFolder(STORIES)).toBe(resolve(STORIES));
    await expect(resolveModelFolder('no such model')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(resolveModelFolder(join(STORIES, 'config.json'))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  test('loadModel gives weights, tokenizer and generation config', async () => {
    const reference = wikillamaReference();
    const loaded = await loadModel('wikillama');
    try {
      expect(loaded.folder).toBe(BUILTIN_MODELS.wikillama!.folder);
      expect(loaded.config.vocabSize).toBe(4096);
      expect(loaded.tokenizer.encode(reference.fixed_prompt_logits.text)).toEqual(
        reference.fixed_prompt_logits.input_ids,
      );
      expect(loaded.generationConfig?.eosTokenIds).toEqual([2]);
    } finally {
      loaded.dispose();
    }
    expect(loaded.model.getParameter('lm_head.weight')).toBeUndefined();
  });
});

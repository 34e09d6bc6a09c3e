import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QuantLinear } from '@slimlm/gptq';
import { modelFromFolder } from '@slimlm/models';
import { applyAdapter } from '@slimlm/peft-lora';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MergeJson } from '../src/commands/merge';
import { REPO_ROOT, runCli, STORIES, WIKILLAMA } from './helpers';
import { maxAbsDiff, promptLogits, saveRandomAdapter, temporaryFolder } from './merge-helpers';

const work = temporaryFolder('slimlm-merge-');
afterAll(() => work.remove());

const adapter = join(work.path, 'adapter');
/** wikillama quantized by `slimlm quantize --method rtn` (4 bits, group 128): a GPTQ base. */
const gptqBase = join(work.path, 'wikillama-rtn4');
/** The start of the C4 sample: enough for 4 calibration windows of 64 tokens. */
const calib = join(work.path, 'c4-start.txt');

/** Logits of the prompt: the GPTQ base alone and with the adapter on its packed weights. */
let packed: { base: Float64Array; adapted: Float64Array };

beforeAll(async () => {
  saveRandomAdapter(WIKILLAMA, adapter, { targetModules: ['q_proj', 'v_proj', 'down_proj'] });
  writeFileSync(
    calib,
    readFileSync(`${REPO_ROOT}fixtures/c4/c4-sample.utf8`, 'utf8').slice(0, 20_000),
  );
  const quantize = await runCli(['quantize', 'wikillama', '--out', gptqBase, '--method', 'rtn']);
  expect(quantize.code).toBe(0);
  const model = modelFromFolder(gptqBase);
  const base = await promptLogits(model);
  applyAdapter(model, adapter);
  packed = { base, adapted: await promptLogits(model) };
  model.dispose();
}, 60_000);

async function mergeJson(argv: string[]): Promise<MergeJson> {
  const { code, stdout, stderr } = await runCli(['merge', ...argv, '--json']);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  return JSON.parse(stdout) as MergeJson;
}

/** The prompt's logits of the model in `folder`. */
async function logitsOf(folder: string): Promise<Float64Array> {
  const model = modelFromFolder(folder);
  try {
    return await promptLogits(model);
  } finally {
    model.dispose();
  }
}

const readConfig = (folder: string) =>
  JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));

describe('slimlm merge, full-precision base', () => {
  it("writes the merged model in the base's dtype and says so", async () => {
    const out = join(work.path, 'merged-f16');
    const { code, stdout, stderr } = await runCli([
      'merge',
      'wikillama',
      '--adapter',
      adapter,
      '--out',
      out,
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^merged +18 layers, W \+= scaling · B·A computed in f32$/m);
    expect(stdout).toMatch(/^written +full precision \(f16\)$/m);
    expect(stdout).toContain('r 8, alpha 16 on ');
    expect(readConfig(out).torch_dtype).toBe('float16');
    // The f32 sums rounded once to f16: close to the adapter's logits (measured 1.6e-3), not equal.
    const model = modelFromFolder(WIKILLAMA);
    applyAdapter(model, adapter);
    const adapted = await promptLogits(model);
    model.dispose();
    expect(maxAbsDiff(await logitsOf(out), adapted)).toBeLessThan(1e-2);
  });

  it('refuses --requantize and calibration options for a full-precision base', async () => {
    const out = join(work.path, 'never');
    const requantize = await runCli([
      'merge',
      'wikillama',
      '--adapter',
      adapter,
      '--out',
      out,
      '--requantize',
      'rtn',
    ]);
    expect(requantize.code).toBe(2);
    expect(requantize.stderr).toMatch(
      /^slimlm: error: option '--requantize' applies to a GPTQ base; wikillama is full precision/,
    );
    const calibOnly = await runCli(
      ['merge', 'wikillama', '--adapter', adapter, '--out', out].concat(['--calib', calib]),
    );
    expect(calibOnly.code).toBe(2);
    expect(calibOnly.stderr).toMatch(/option '--calib' applies to --requantize gptq only/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('slimlm merge, GPTQ base', () => {
  it('refuses a GPTQ base without --requantize, saying what to pass', async () => {
    const out = join(work.path, 'never');
    const { code, stdout, stderr } = await runCli([
      'merge',
      gptqBase,
      '--adapter',
      adapter,
      '--out',
      out,
    ]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(
      `slimlm: error: ${gptqBase} is a GPTQ checkpoint: pass --requantize rtn`,
    );
    expect(stderr).toContain('--requantize gptq --calib <file|name>');
    expect(stderr).toContain('--requantize none');
    expect(stderr).toContain('usage: slimlm merge <model> --adapter <dir> --out <dir>');
    const noCalib = await runCli(
      ['merge', gptqBase, '--adapter', adapter, '--out', out].concat(['--requantize', 'gptq']),
    );
    expect(noCalib.code).toBe(2);
    expect(noCalib.stderr).toContain("option '--requantize gptq' needs calibration text: --calib");
    expect(existsSync(out)).toBe(false);
  });

  it('--requantize none: the dequantized merged model, what the adapter on the packed base computes', async () => {
    const out = join(work.path, 'merged-none');
    const summary = await mergeJson(
      [gptqBase, '--adapter', adapter, '--out', out].concat(['--requantize', 'none']),
    );
    expect(summary).toMatchObject({ base: 'gptq', requantize: 'none', merged_modules: 18 });
    expect(summary.dtype).toBe('f32');
    expect(readConfig(out).quantization_config).toBeUndefined();
    expect(maxAbsDiff(await logitsOf(out), packed.adapted)).toBeLessThan(1e-4);
  });

  it('--requantize rtn: a GPTQ checkpoint again, near the adapter, and the text says RTN', async () => {
    const out = join(work.path, 'merged-rtn');
    const { code, stdout, stderr } = await runCli([
      'merge',
      gptqBase,
      '--adapter',
      adapter,
      '--out',
      out,
      '--requantize',
      'rtn',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^written +GPTQ 4-bit, group size 128, requantized with RTN \(round-to-nearest, no calibration\)$/m,
    );
    expect(readConfig(out).quantization_config).toEqual(readConfig(gptqBase).quantization_config);
    const model = modelFromFolder(out);
    expect(model.getModule('model.layers.0.self_attn.q_proj')).toBeInstanceOf(QuantLinear);
    const logits = await promptLogits(model);
    model.dispose();
    // Requantizing costs some of what the adapter changed (measured: 0.73 of 5.9), far from all.
    const changed = maxAbsDiff(packed.adapted, packed.base);
    expect(changed).toBeGreaterThan(1);
    expect(maxAbsDiff(logits, packed.adapted)).toBeLessThan(changed / 2);
  });

  it('--requantize gptq: requantized with GPTQ on the calibration text, reported in the JSON', async () => {
    const out = join(work.path, 'merged-gptq');
    const summary = await mergeJson([
      gptqBase,
      '--adapter',
      adapter,
      '--out',
      out,
      '--requantize',
      'gptq',
      '--calib',
      calib,
      '--nsamples',
      '4',
      '--seqlen',
      '64',
      '--calib-mode',
      'first',
    ]);
    expect(summary).toMatchObject({
      out,
      base: 'gptq',
      requantize: 'gptq',
      merged_modules: 18,
      dtype: null,
    });
    const q = summary.quantization!;
    expect(q.settings).toMatchObject({
      method: 'gptq',
      bits: 4,
      group_size: 128,
      calib,
      nsamples: 4,
      seqlen: 64,
      calib_mode: 'first',
    });
    expect(q.modules).toHaveLength(42);
    expect(q.total_loss).toBeGreaterThan(0);
    const config = readConfig(out).quantization_config;
    expect(config).toMatchObject({ quant_method: 'gptq', bits: 4, group_size: 128 });
    const logits = await logitsOf(out);
    // Measured: 1.25 of 5.9 with these 4 short windows.
    expect(maxAbsDiff(logits, packed.adapted)).toBeLessThan(
      maxAbsDiff(packed.adapted, packed.base) / 2,
    );
    // The merged fp model it was quantized from is gone.
    expect(readdirSync(work.path).filter((name) => name.includes('.merged-'))).toEqual([]);
  });

  it('--requantize gptq says so in the summary a person reads', async () => {
    const out = join(work.path, 'merged-gptq-text');
    const { code, stdout, stderr } = await runCli([
      'merge',
      gptqBase,
      '--adapter',
      adapter,
      '--out',
      out,
      '--requantize',
      'gptq',
      '--calib',
      calib,
      '--nsamples',
      '2',
      '--seqlen',
      '32',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^written +GPTQ 4-bit, group size 128, requantized with GPTQ on 2 windows of 32 tokens of .*c4-start\.txt \(random\), total loss \d/m,
    );
  });
});

describe('slimlm merge output', () => {
  it('leaves an existing --out alone unless --overwrite', async () => {
    const out = join(work.path, 'taken');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'mine');
    const refused = await runCli(['merge', 'wikillama', '--adapter', adapter, '--out', out]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('already exists');
    expect(readdirSync(out)).toEqual(['keep.txt']);
    const replaced = await mergeJson(
      ['wikillama', '--adapter', adapter, '--out', out].concat(['--overwrite']),
    );
    expect(replaced.merged_modules).toBe(18);
    expect(existsSync(join(out, 'keep.txt'))).toBe(false);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
  });

  it('writes nothing when the adapter does not fit the model', async () => {
    const other = join(work.path, 'stories-adapter');
    saveRandomAdapter(STORIES, other, { targetModules: ['q_proj', 'v_proj'] });
    const out = join(work.path, 'mismatch');
    const before = readdirSync(work.path);
    const { code, stdout, stderr } = await runCli([
      'merge',
      'wikillama',
      '--adapter',
      other,
      '--out',
      out,
    ]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^slimlm: error: --adapter .*stories-adapter: .*q_proj/);
    // No output and no temporary folder left beside it.
    expect(readdirSync(work.path).sort()).toEqual(before.sort());
    expect(existsSync(out)).toBe(false);
  });

  it('--help says which requantization each choice means', async () => {
    const { code, stdout } = await runCli(['merge', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('rtn   requantized with round-to-nearest');
    expect(stdout).toContain('gptq  requantized with GPTQ on --calib text');
    expect(stdout).toContain('none  not requantized');
    expect(stdout).toContain('--requantize gptq|rtn|none');
  });
});

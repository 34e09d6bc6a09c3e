import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@slimlm/kernels-cpu';
import { perplexity } from '@slimlm/eval-metrics';
import { generateText, loadModel } from '@slimlm/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMBEDDED_TEXTS } from '../src/assets';
import type { WorkflowJson } from '../src/commands/workflow';
import type { ModelInfo } from '../src/index';
import { ensureBuilt, runBin, runCli, STORIES } from './helpers';

/** Small enough for seconds: 4 calibration and 4 perplexity windows of 64 tokens, 8-token samples. */
const TINY = ['--nsamples', '4', '--seqlen', '64', '--windows', '4', '--max-new-tokens', '8'];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'slimlm-workflow-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('slimlm workflow through bin/slimlm.mjs', () => {
  beforeAll(ensureBuilt, 120_000);

  it('quantizes wikillama, measures both models the same way and prints one JSON document', async () => {
    const { code, stdout, stderr } = runBin(['workflow', ...TINY, '--json'], {
      timeoutMs: 180_000,
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trimEnd().split('\n')).toHaveLength(1);
    const json = JSON.parse(stdout) as WorkflowJson;

    expect(json.model).toBe('wikillama');
    expect(json.out).toBeNull();
    // Not kept: the temporary checkpoint is gone.
    expect(existsSync(json.quantize.out)).toBe(false);
    expect(json.quantize.settings).toEqual({
      method: 'gptq',
      format: 'gptq',
      bits: 4,
      group_size: 128,
      sym: true,
      desc_act: false,
      static_groups: false,
      damp_percent: 0.01,
      true_sequential: true,
      calib: EMBEDDED_TEXTS.calibration.label,
      nsamples: 4,
      seqlen: 64,
      calib_mode: 'random',
      seed: 0,
    });
    expect(json.quantize.calib_source).toBe(EMBEDDED_TEXTS.calibration.path);
    // Every Linear of wikillama's 6 blocks has 256 or 768 inputs: all 42 are quantized.
    expect(json.quantize.modules).toHaveLength(42);
    expect(json.quantize.skipped).toEqual([]);

    const text = readFileSync(EMBEDDED_TEXTS.evaluation.path, 'utf8');
    using loaded = await loadModel('wikillama', { backend: 'cpu' });
    const ids = loaded.tokenizer.encode(text);
    expect(json.perplexity).toEqual({
      text: null,
      source: EMBEDDED_TEXTS.evaluation.label,
      seqlen: 64,
      windows: 4,
      tokens: 4 * 63,
      text_tokens: ids.length,
      protocol: 'gptq-non-overlapping',
    });
    expect(json.sample).toEqual({ prompt: 'The river flows through', max_new_tokens: 8 });
    expect(json.speed).toEqual({ prompt_length: 64, new_tokens: 64, repeats: 3, backend: 'cpu' });

    const [fp, gptq] = json.rows as [WorkflowJson['rows'][0], WorkflowJson['rows'][0]];
    // The original's figures are those of the library called directly on the same windows.
    const reference = perplexity(loaded.model, ids, { seqlen: 64, maxWindows: 4 });
    const sample = generateText(loaded, 'The river flows through', {
      maxNewTokens: 8,
      temperature: 0,
    });
    expect(fp).toMatchObject({ model: 'wikillama', method: 'fp', bits: 16, bytes: 13_644_256 });
    expect(fp.ppl).toBeCloseTo(reference.ppl, 6);
    expect(fp.mean_nll).toBeCloseTo(reference.meanNll, 9);
    expect(fp.sample).toBe(sample.text);
    expect(gptq).toMatchObject({ model: 'wikillama GPTQ 4-bit g128', method: 'gptq', bits: 4 });
    // 4-bit blocks (embeddings and head stay f16): about half the bytes.
    expect(gptq.bytes).toBeLessThan(fp.bytes * 0.55);
    expect(gptq.bytes).toBeGreaterThan(fp.bytes * 0.4);
    // 4-bit GPTQ costs a little perplexity, never much.
    expect(gptq.ppl).toBeGreaterThan(fp.ppl * 0.97);
    expect(gptq.ppl).toBeLessThan(fp.ppl * 1.1);
    expect(gptq.sample.length).toBeGreaterThan(0);
    for (const row of json.rows) expect(row.tokens_per_second).toBeGreaterThan(0);
    expect(json.seconds).toBeGreaterThan(json.quantize.seconds);
  }, 180_000);
});

describe('slimlm workflow', () => {
  const out = () => join(dir, 'stories-4bit');
  /** stories260K's attention Linears have 64 inputs: group size 32 quantizes them. */
  const STORIES_ARGS = () => ['workflow', STORIES, '--group-size', '32', ...TINY, '--out', out()];

  it('keeps the checkpoint with --out, prints a report, and shows its steps on a terminal', async () => {
    const { code, stdout, stderr } = await runCli(STORIES_ARGS(), { tty: true });
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^model +.*stories260K-hf \(\d+(\.\d+)?K parameters, float32\)$/);
    expect(stdout).toMatch(/^quantized +GPTQ 4-bit, group size 32, sym, damp 0\.01: \d+ Linears/m);
    expect(stdout).toMatch(
      /^calibration +4 windows of 64 tokens at random offsets \(seed 0\) in the [\d,]+ tokens of the embedded C4 excerpt/m,
    );
    expect(stdout).toMatch(
      /^perplexity +first 4 windows of 64 tokens of the embedded WikiText-2 test excerpt .*: 252 predictions \(gptq-non-overlapping\)$/m,
    );
    const table = lines.filter((line) => line.startsWith('|'));
    expect(table[0]).toBe('| model | bits | size on disk | ppl | tokens/s | sample |');
    expect(table).toHaveLength(4);
    expect(table[2]).toMatch(
      /^\| .*stories260K-hf \| 32 \| 1\.\d\d MB \| \d+\.\d\d \| \d+\.\d \| .+ \|$/,
    );
    expect(table[3]).toMatch(/^\| .*stories260K-hf GPTQ 4-bit g32 \| 4 \| /);
    expect(stdout).toMatch(/^result +\d+\.\d\d× smaller on disk, perplexity [+-]\d+\.\d\d% /m);
    expect(stdout).toContain(`checkpoint  ${out()}\n`);
    expect(stderr).toContain('[1/3] measuring');
    expect(stderr).toContain('[2/3] quantizing');
    expect(stderr).toContain('[3/3] measuring the 4-bit model');
    expect(stderr).toContain('quantizing ');

    // The kept checkpoint is a GPTQ checkpoint like quantize's.
    const info = await runCli(['info', out(), '--json']);
    const described = JSON.parse(info.stdout) as ModelInfo;
    expect(described.quantization_config).toMatchObject({ bits: 4, group_size: 32 });
  });

  it('refuses an existing --out unless --overwrite, and a quantized model', async () => {
    const again = await runCli(STORIES_ARGS());
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^slimlm: error: --out .* already exists: .*--overwrite/);
    const replaced = await runCli([...STORIES_ARGS(), '--overwrite', '--json']);
    expect(replaced.code).toBe(0);
    expect((JSON.parse(replaced.stdout) as WorkflowJson).out).toBe(out());

    const quantized = await runCli(['workflow', out(), ...TINY]);
    expect(quantized.code).toBe(1);
    expect(quantized.stderr).toMatch(
      /is already quantized .*: quantize its full-precision original/,
    );
  });

  it('exits 2 on usage errors and 1 on missing files, naming the flag', async () => {
    const usage: [string[], RegExp][] = [
      [['workflow', '--bits', '5'], /'--bits' must be one of 2, 3, 4, 8, got '5'/],
      [['workflow', '--group-size', '0'], /'--group-size' expects a positive integer or -1/],
      [['workflow', '--seqlen', '1024'], /'--seqlen' is 1024, more than the model's 512 positions/],
      [['workflow', '--overwrite'], /'--overwrite' applies to --out only/],
      [['workflow', 'wikillama', 'extra'], /unexpected argument 'extra'/],
    ];
    for (const [argv, message] of usage) {
      const { code, stdout, stderr } = await runCli(argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(message);
      expect(stderr).toContain('usage: slimlm workflow [model] [options]');
    }
    const text = await runCli(['workflow', '--text', 'no/such.txt']);
    expect(text.code).toBe(1);
    expect(text.stderr).toBe('slimlm: error: --text: no such file: no/such.txt\n');
    const calib = await runCli(['workflow', '--calib', 'no/such.txt']);
    expect(calib.code).toBe(1);
    expect(calib.stderr).toMatch(/^slimlm: error: --calib no\/such\.txt: no such file/);
  });
});

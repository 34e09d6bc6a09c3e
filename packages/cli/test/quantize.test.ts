import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadTokenizer } from '@slimlm/hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubServer } from '../../hub/test/helpers/hub-server';
import type { EvalPplJson } from '../src/commands/eval';
import type { QuantizeJson } from '../src/commands/quantize';
import type { GenerateJson, ModelInfo } from '../src/index';
import { REPO_ROOT, runCli, STORIES } from './helpers';

const C4 = `${REPO_ROOT}fixtures/c4/c4-sample.utf8`;
const WIKITEXT = `${REPO_ROOT}fixtures/wikitext-2-raw/wiki.test.raw`;

let dir: string;
/** The start of the C4 sample: plenty for 4 windows of 64 tokens, quick to tokenize. */
let calib: string;
let evalText: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'slimlm-quantize-'));
  calib = join(dir, 'c4-start.txt');
  writeFileSync(calib, readFileSync(C4, 'utf8').slice(0, 20_000));
  evalText = join(dir, 'wiki-start.txt');
  writeFileSync(evalText, readFileSync(WIKITEXT, 'utf8').slice(0, 20_000));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** stories260K's Linears have 64 or 172 inputs: group size 32 quantizes the attention ones. */
const SMALL = ['--group-size', '32', '--nsamples', '4', '--seqlen', '64'];

describe('slimlm quantize', () => {
  let out: string;
  let summary: QuantizeJson;

  it('quantizes stories260K with GPTQ and prints a JSON summary', async () => {
    out = join(dir, 'stories-gptq');
    const { code, stdout, stderr } = await runCli([
      'quantize',
      STORIES,
      '--out',
      out,
      ...SMALL,
      '--calib',
      calib,
      '--calib-mode',
      'first',
      '--json',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trimEnd().split('\n')).toHaveLength(1);
    summary = JSON.parse(stdout) as QuantizeJson;
    expect(summary.out).toBe(out);
    expect(summary.model).toBe(STORIES);
    expect(summary.settings).toEqual({
      method: 'gptq',
      format: 'gptq',
      bits: 4,
      group_size: 32,
      sym: true,
      desc_act: false,
      static_groups: false,
      damp_percent: 0.01,
      true_sequential: true,
      calib,
      nsamples: 4,
      seqlen: 64,
      calib_mode: 'first',
      seed: 0,
    });
    expect(summary.calib_source).toBe(calib);
    expect(summary.calib_tokens).toBeGreaterThan(4 * 64);
    // 5 blocks × 7 Linears: the attention ones quantized, the MLP ones (172 wide) kept.
    expect(summary.modules.length + summary.skipped.length).toBe(35);
    expect(summary.modules.length).toBeGreaterThanOrEqual(20);
    for (const m of summary.modules) {
      expect(m.block).toBeGreaterThanOrEqual(0);
      expect(m.block).toBeLessThan(5);
      expect(m.module).toMatch(/^(self_attn|mlp)\.\w+_proj$/);
      expect(Number.isFinite(m.loss) && m.loss >= 0).toBe(true);
      expect(m.damp).toBeGreaterThan(0);
      expect(m.seconds).toBeGreaterThanOrEqual(0);
    }
    for (const s of summary.skipped) expect(s.reason).toEqual(expect.any(String));
    expect(summary.total_loss).toBeCloseTo(
      summary.modules.reduce((a, m) => a + m.loss, 0),
      6,
    );
    expect(summary.resumed_blocks).toBe(0);
    expect(summary.seconds).toBeGreaterThan(0);
    expect(summary.peak_rss_mb).toBeGreaterThan(10);
    expect(existsSync(join(out, 'config.json'))).toBe(true);
  });

  it('writes a checkpoint that info, eval ppl and generate load', async () => {
    const info = await runCli(['info', out, '--json']);
    expect(info.code).toBe(0);
    const described = JSON.parse(info.stdout) as ModelInfo;
    expect(described.quantization_config).toMatchObject({ bits: 4, group_size: 32 });

    const evalArgs = ['--text', evalText, '--seqlen', '256', '--max-windows', '4', '--json'];
    const quantized = await runCli(['eval', 'ppl', out, ...evalArgs]);
    expect(quantized.stderr).toBe('');
    expect(quantized.code).toBe(0);
    const original = await runCli(['eval', 'ppl', STORIES, ...evalArgs]);
    const q = JSON.parse(quantized.stdout) as EvalPplJson;
    const fp = JSON.parse(original.stdout) as EvalPplJson;
    expect(q.windows).toBe(4);
    expect(Number.isFinite(q.ppl)).toBe(true);
    // 4-bit costs some perplexity, not an order of magnitude.
    expect(q.ppl).toBeGreaterThan(fp.ppl * 0.9);
    expect(q.ppl).toBeLessThan(fp.ppl * 2);

    const generated = await runCli([
      'generate',
      out,
      '--prompt',
      'Once upon a time',
      '--max-new-tokens',
      '12',
      '--json',
    ]);
    expect(generated.code).toBe(0);
    const json = JSON.parse(generated.stdout) as GenerateJson;
    expect(json.tokens.length).toBeGreaterThan(0);
    expect(json.text.length).toBeGreaterThan(0);
  });

  it('refuses an existing --out, and replaces it with --overwrite', async () => {
    const again = await runCli(['quantize', STORIES, '--out', out, '--method', 'rtn', ...SMALL]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^slimlm: error: --out .* already exists: .*--overwrite/);

    const replaced = await runCli([
      'quantize',
      STORIES,
      '--out',
      out,
      '--method',
      'rtn',
      '--format',
      'gptq_v2',
      '--no-sym',
      '--bits',
      '8',
      '--group-size',
      '-1',
      '--overwrite',
      '--json',
    ]);
    expect(replaced.stderr).toBe('');
    expect(replaced.code).toBe(0);
    const rtn = JSON.parse(replaced.stdout) as QuantizeJson;
    expect(rtn.settings).toMatchObject({
      method: 'rtn',
      format: 'gptq_v2',
      bits: 8,
      group_size: -1,
      sym: false,
      calib: null,
      nsamples: 0,
    });
    expect(rtn.calib_tokens).toBeNull();
    const evaluated = await runCli([
      'eval',
      'ppl',
      out,
      '--text',
      evalText,
      '--seqlen',
      '128',
      '--max-windows',
      '2',
      '--json',
    ]);
    expect(evaluated.code).toBe(0);

    const twice = await runCli(['quantize', out, '--out', join(dir, 'twice'), '--method', 'rtn']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/is already quantized .*: quantize its full-precision original/);
  });

  it('accepts an empty existing folder and .jsonl calibration; shows progress on a terminal', async () => {
    const target = join(dir, 'empty-target');
    mkdirSync(target);
    const jsonl = join(dir, 'calib.jsonl');
    const text = readFileSync(calib, 'utf8');
    writeFileSync(
      jsonl,
      `${JSON.stringify({ text: text.slice(0, 10_000) })}\n${JSON.stringify({ text: text.slice(10_000) })}\n`,
    );
    const { code, stdout, stderr } = await runCli(
      [
        'quantize',
        STORIES,
        '--out',
        target,
        ...SMALL,
        '--calib',
        jsonl,
        '--seed',
        '3',
        '--desc-act',
        '--static-groups',
        '--format',
        'gptq_v2',
      ],
      { tty: true },
    );
    expect(code).toBe(0);
    expect(stderr).toContain('quantizing ');
    expect(stderr).toMatch(/block 5\/5/);
    expect(stdout).toMatch(/^out +.*empty-target$/m);
    expect(stdout).toMatch(
      /^calibration +4 windows of 64 tokens \(random, seed 3\) from calib\.jsonl/m,
    );
    expect(stdout).toMatch(/^peak RSS +[\d.]+ MB$/m);
    expect(stdout).toMatch(
      /^method +gptq, 4-bit, group size 32, sym, desc_act, static groups, damp 0\.01$/m,
    );
    expect(stdout).toMatch(/^format +gptq_v2$/m);
    // An act-order v2 checkpoint loads and runs.
    const evaluated = await runCli([
      'eval',
      'ppl',
      target,
      '--text',
      evalText,
      '--seqlen',
      '128',
      '--max-windows',
      '2',
      '--json',
    ]);
    expect(evaluated.stderr).toBe('');
    expect(evaluated.code).toBe(0);
    expect(Number.isFinite((JSON.parse(evaluated.stdout) as EvalPplJson).ppl)).toBe(true);
  });

  it('exits 2 on usage errors, naming the flag', async () => {
    const out2 = join(dir, 'never');
    const base = ['quantize', STORIES, '--out', out2];
    const cases: [string[], RegExp][] = [
      [['quantize', STORIES, '--calib', calib], /missing option '--out <dir>'/],
      [[...base, '--calib', calib, '--bits', '5'], /'--bits' must be one of 2, 3, 4, 8, got '5'/],
      [
        [...base, '--calib', calib, '--group-size', '0'],
        /'--group-size' expects a positive integer or -1/,
      ],
      [
        [...base, '--calib', calib, '--group-size', '-2'],
        /'--group-size' expects an integer >= -1/,
      ],
      [[...base, '--calib', calib, '--damp', '0'], /'--damp' expects a number > 0/],
      [[...base, '--calib', calib, '--damp', '1'], /'--damp' expects a number > 0 and < 1/],
      [[...base, '--calib', calib, '--sym', '--no-sym'], /'--sym' and '--no-sym' contradict/],
      [[...base, '--method', 'rtn', '--desc-act'], /'--desc-act' applies to --method gptq only/],
      [[...base, '--method', 'awq'], /'--method' must be one of gptq, rtn/],
      [[...base, '--calib', calib, '--format', 'exl2'], /'--format' must be one of gptq, gptq_v2/],
      [
        [...base, '--calib', calib, '--calib-mode', 'last'],
        /'--calib-mode' must be one of random, first/,
      ],
      [
        base,
        /missing option '--calib <file\|name>' \(GPTQ needs calibration text: a text file, or wikitext2, c4\)/,
      ],
      [
        [...base, '--calib', calib, '--seqlen', '1024'],
        /'--seqlen' is 1024, more than the model's 512 positions/,
      ],
      [
        [...base, '--calib', calib, '--resume', '--overwrite'],
        /'--resume' and '--overwrite' contradict/,
      ],
    ];
    for (const [argv, message] of cases) {
      const { code, stdout, stderr } = await runCli(argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(message);
      expect(stderr).toContain('usage: slimlm quantize <model> --out <dir> [options]');
    }
    expect(existsSync(out2)).toBe(false);
  });

  it('exits 1 naming a missing calibration file or too little text', async () => {
    const missing = await runCli([
      'quantize',
      STORIES,
      '--out',
      join(dir, 'x'),
      '--calib',
      'no/such.txt',
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      'slimlm: error: --calib no/such.txt: no such file, and not a calibration set name (wikitext2, c4)\n',
    );

    const tiny = join(dir, 'tiny.txt');
    writeFileSync(tiny, 'Once upon a time there was a cat.');
    const short = await runCli([
      'quantize',
      STORIES,
      '--out',
      join(dir, 'x'),
      ...SMALL,
      '--calib',
      tiny,
      '--calib-mode',
      'first',
    ]);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(
      /--calib .*tiny\.txt encodes to \d+ tokens, fewer than --nsamples 4 × --seqlen 64 = 256/,
    );
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });
});

describe('slimlm quantize --calib <name>', () => {
  it('downloads a named set from the Hub into the cache once, then calibrates offline', async () => {
    const hub = await startHubServer();
    try {
      // allenai/c4's first training shard as the Hub serves it: gzipped JSON lines.
      const documents = readFileSync(C4, 'utf8').split('\n').filter(Boolean).slice(0, 12);
      const shard = documents
        .map((text) => JSON.stringify({ text, timestamp: '2019-04-25T00:00:00Z', url: 'x' }))
        .join('\n');
      hub.addRepo('datasets/allenai/c4', {
        'en/c4-train.00000-of-01024.json.gz': gzipSync(`${shard}\n`),
      });
      const env = { HF_HOME: join(dir, 'hf-home'), HF_ENDPOINT: hub.url };
      const argv = (name: string) => [
        'quantize',
        STORIES,
        '--out',
        join(dir, name),
        ...SMALL,
        '--calib',
        'c4',
        '--json',
      ];
      const online = await runCli(argv('c4-online'), { env });
      expect(online.stderr).toBe('');
      expect(online.code).toBe(0);
      const summary = JSON.parse(online.stdout) as QuantizeJson;
      expect(summary.calib_source).toBe(
        'allenai/c4/en/c4-train.00000-of-01024.json.gz (first 12 documents)',
      );
      // GPTQ's C4 text: the documents joined by spaces, encoded once.
      const tokenizer = await loadTokenizer(STORIES);
      expect(summary.calib_tokens).toBe(tokenizer.encode(documents.join(' ')).length);
      expect(summary.settings.calib).toBe('c4');

      const requests = hub.requests.length;
      const offline = await runCli(argv('c4-offline'), { env: { ...env, HF_HUB_OFFLINE: '1' } });
      expect(offline.code).toBe(0);
      expect(hub.requests.length).toBe(requests);
      expect((JSON.parse(offline.stdout) as QuantizeJson).total_loss).toBe(summary.total_loss);
    } finally {
      await hub.close();
    }
  });

  it('says what to do when a named set is neither cached nor reachable', async () => {
    const env = { HF_HOME: join(dir, 'empty-home'), HF_HUB_OFFLINE: '1' };
    const { code, stderr } = await runCli(
      ['quantize', STORIES, '--out', join(dir, 'never'), '--calib', 'wikitext2'],
      { env },
    );
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^slimlm: error: --calib wikitext2: Offline mode .*Salesforce\/wikitext/,
    );
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });
});

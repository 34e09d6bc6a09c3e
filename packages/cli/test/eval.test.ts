import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvalPplJson } from '../src/commands/eval';
import { REPO_ROOT, runCli, STORIES, WIKILLAMA } from './helpers';

const WIKITEXT = `${REPO_ROOT}fixtures/wikitext-2-raw/wiki.test.raw`;
const reference = JSON.parse(
  readFileSync(`${REPO_ROOT}fixtures/wikillama-7m-reference.json`, 'utf8'),
) as { heldout_ppl: { first_64_windows: { ppl: number; predicted_tokens: number } } };

let dir: string;
/** A prefix of wiki.test.raw cut at a line boundary: it encodes to the whole file's first ids. */
let wikiPrefix: string;
let shortText: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'slimlm-eval-'));
  const text = readFileSync(WIKITEXT, 'utf8');
  wikiPrefix = join(dir, 'wiki-prefix.txt');
  writeFileSync(wikiPrefix, text.slice(0, text.lastIndexOf('\n', 6 * 64 * 256) + 1));
  shortText = join(dir, 'short.txt');
  writeFileSync(shortText, 'Once upon a time, there was a little girl named Lily.');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('slimlm eval ppl', () => {
  it('reproduces the reference perplexity of wikillama on the first 64 windows of 256', async () => {
    const { code, stdout, stderr } = await runCli([
      'eval',
      'ppl',
      WIKILLAMA,
      '--text',
      wikiPrefix,
      '--seqlen',
      '256',
      '--max-windows',
      '64',
      '--batch',
      '8',
      '--json',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.endsWith('}\n')).toBe(true);
    expect(stdout.trimEnd().split('\n')).toHaveLength(1);
    const json = JSON.parse(stdout) as EvalPplJson;
    const expected = reference.heldout_ppl.first_64_windows;
    expect(Object.keys(json).sort()).toEqual(
      [
        'model',
        'text',
        'ppl',
        'mean_nll',
        'windows',
        'tokens',
        'text_tokens',
        'seqlen',
        'protocol',
      ].sort(),
    );
    expect(json).toMatchObject({
      model: WIKILLAMA,
      text: wikiPrefix,
      windows: 64,
      tokens: expected.predicted_tokens,
      seqlen: 256,
      protocol: 'gptq-non-overlapping',
    });
    expect(json.text_tokens).toBeGreaterThanOrEqual(64 * 256);
    expect(Math.abs(json.ppl - expected.ppl) / expected.ppl).toBeLessThan(2e-5);
    expect(json.mean_nll).toBeCloseTo(Math.log(json.ppl), 10);
  });

  it('prints a table for people, a progress bar on a terminal, and a note when the default seqlen is capped', async () => {
    const plain = await runCli([
      'eval',
      'ppl',
      STORIES,
      '--text',
      wikiPrefix,
      '--max-windows',
      '3',
    ]);
    expect(plain.code).toBe(0);
    // stories260K has 512 positions: the default 2048 is capped, and said so.
    expect(plain.stderr).toBe(
      'slimlm: --seqlen 512: the model has 512 positions, fewer than the default 2048\n',
    );
    expect(plain.stdout).toMatch(/^perplexity +\d+\.\d{4}$/m);
    expect(plain.stdout).toMatch(/^windows +3 of 512 tokens \(1,533 predictions\)$/m);
    expect(plain.stdout).toMatch(/^protocol +gptq-non-overlapping$/m);

    const tty = await runCli(
      ['eval', 'ppl', STORIES, '--text', wikiPrefix, '--max-windows', '3', '--seqlen', '128'],
      { tty: true },
    );
    expect(tty.code).toBe(0);
    expect(tty.stderr).toContain('scoring ');
    expect(tty.stderr).toContain('3/3 windows');
    expect(tty.stderr).toMatch(/tokenized [\d,]+ characters into [\d,]+ tokens/);
    expect(tty.stdout).toMatch(/^windows +3 of 128 tokens \(381 predictions\)$/m);
  });

  it('gives the same perplexity whatever the batch', async () => {
    const run = async (batch: string) => {
      const { code, stdout } = await runCli([
        'eval',
        'ppl',
        STORIES,
        '--text',
        wikiPrefix,
        '--seqlen',
        '64',
        '--max-windows',
        '10',
        '--batch',
        batch,
        '--json',
      ]);
      expect(code).toBe(0);
      return JSON.parse(stdout) as EvalPplJson;
    };
    const one = await run('1');
    const four = await run('4');
    expect(one.windows).toBe(10);
    expect(Math.abs(four.ppl - one.ppl) / one.ppl).toBeLessThan(1e-6);
  });

  it('scores by the optimum and llama.cpp protocols, named in the output', async () => {
    const run = async (protocol: string, extra: string[] = []) => {
      const { code, stdout, stderr } = await runCli([
        'eval',
        'ppl',
        WIKILLAMA,
        '--text',
        wikiPrefix,
        '--protocol',
        protocol,
        '--max-windows',
        '3',
        '--batch',
        '3',
        '--json',
        ...extra,
      ]);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      return JSON.parse(stdout) as EvalPplJson;
    };
    const optimum = await run('optimum');
    expect(optimum).toMatchObject({
      protocol: 'optimum',
      seqlen: 512,
      windows: 3,
      tokens: 3 * 511,
    });
    const gptq = await run('gptq', ['--seqlen', '512']);
    expect(gptq.protocol).toBe('gptq-non-overlapping');
    expect(Math.abs(gptq.mean_nll - optimum.mean_nll)).toBeLessThan(1e-5);
    // llama.cpp scores the second half of each chunk, with BOS put first (the tokenizer adds one).
    const llamaCpp = await run('llama.cpp');
    expect(llamaCpp).toMatchObject({
      protocol: 'llama.cpp',
      seqlen: 512,
      windows: 3,
      tokens: 3 * 255,
    });
    expect(llamaCpp.text_tokens).toBe(optimum.text_tokens);
    expect(llamaCpp.ppl).not.toBeCloseTo(optimum.ppl, 3);

    const short = await runCli([
      'eval',
      'ppl',
      STORIES,
      '--text',
      shortText,
      '--protocol',
      'llama.cpp',
      '--seqlen',
      '64',
    ]);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(
      /encodes to \d+ tokens, fewer than the 2 windows the llama\.cpp protocol needs of --seqlen 64/,
    );
  });

  it('exits 2 on usage errors, naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['eval', 'bleu', STORIES, '--text', shortText],
        /unknown metric 'bleu' \(metrics: ppl, task\)/,
      ],
      [['eval', 'ppl', STORIES], /missing option '--text <file>'/],
      [['eval', 'ppl', '--text', shortText], /missing argument <model>/],
      [
        ['eval', 'ppl', STORIES, '--text', shortText, '--seqlen', '1'],
        /'--seqlen' expects an integer >= 2, got 1/,
      ],
      [
        ['eval', 'ppl', STORIES, '--text', shortText, '--batch', '0'],
        /'--batch' expects an integer >= 1/,
      ],
      [
        ['eval', 'ppl', STORIES, '--text', shortText, '--max-windows', 'x'],
        /'--max-windows' expects an integer/,
      ],
      [
        ['eval', 'ppl', STORIES, '--text', shortText, '--seqlen', '4096'],
        /'--seqlen' is 4096, more than the model's 512 positions/,
      ],
      [
        ['eval', 'ppl', STORIES, '--text', shortText, '--protocol', 'hf'],
        /'--protocol' must be one of gptq, optimum, llama\.cpp, got 'hf'/,
      ],
      [
        ['eval', 'ppl', STORIES, '--text', shortText, '--protocol', 'optimum', '--seqlen', '256'],
        /'--seqlen' is 256, but the optimum protocol scores windows of 512 tokens only/,
      ],
      [
        ['eval', 'ppl', STORIES, '--text', shortText, '--data', shortText],
        /option '--data' does not apply to eval ppl/,
      ],
    ];
    for (const [argv, message] of cases) {
      const { code, stdout, stderr } = await runCli(argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(message);
      expect(stderr).toContain('usage: slimlm eval <metric> <model> [options]');
    }
  });

  it('runs GPTQ layers with int8 activations on --activations int8', async () => {
    const quantized = join(dir, 'stories-rtn');
    const made = await runCli([
      'quantize',
      STORIES,
      '--out',
      quantized,
      '--method',
      'rtn',
      '--group-size',
      '32',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const ppl = async (model: string, activations: string) => {
      const args = ['eval', 'ppl', model, '--text', wikiPrefix, '--seqlen', '128'];
      const run = await runCli([
        ...args,
        '--max-windows',
        '8',
        '--activations',
        activations,
        '--json',
      ]);
      expect(run.code, run.stderr).toBe(0);
      return { ppl: (JSON.parse(run.stdout) as EvalPplJson).ppl, stderr: run.stderr };
    };
    const exact = await ppl(quantized, 'f32');
    const int8 = await ppl(quantized, 'int8');
    expect(int8.stderr).toBe('');
    expect(int8.ppl).not.toBe(exact.ppl);
    expect(Math.abs(int8.ppl / exact.ppl - 1)).toBeLessThan(0.01);
    // A full-precision model has nothing to switch: said once, the result unchanged.
    const fp = await ppl(STORIES, 'int8');
    expect(fp.stderr).toBe(
      'slimlm: --activations int8: the model has no GPTQ layer that takes them; it runs in f32\n',
    );
    expect(fp.ppl).toBe((await ppl(STORIES, 'f32')).ppl);
  });

  it('exits 1 naming a missing file, and a text shorter than one window', async () => {
    const missing = await runCli(['eval', 'ppl', STORIES, '--text', 'no/such/file.txt', '--json']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toBe('slimlm: error: --text: no such file: no/such/file.txt\n');

    const short = await runCli(['eval', 'ppl', STORIES, '--text', shortText, '--seqlen', '256']);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(
      /^slimlm: error: .*short\.txt encodes to \d+ tokens, fewer than one window of --seqlen 256/,
    );
  });
});

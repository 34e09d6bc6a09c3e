import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FinetuneJson } from '../src/commands/finetune';
import { REPO_ROOT, runCli, STORIES } from './helpers';

const ALPACA = `${REPO_ROOT}fixtures/datasets/alpaca-100.json`;
/** stories260K on 100 Alpaca records cut to 160 tokens (its tokenizer has 512 pieces): quick steps. */
const SMALL = ['--data', ALPACA, '--seqlen', '160', '--batch', '4', '--val-split', '8', '--json'];

const PACKAGE = fileURLToPath(new URL('../', import.meta.url));
const BIN = `${PACKAGE}bin/slimlm.mjs`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'slimlm-finetune-'));
  // The resume test runs the built command in a child process: build it when dist lacks it
  // (`nx run @slimlm/cli:test` builds first).
  const dist = `${PACKAGE}dist/index.js`;
  if (!existsSync(dist) || !readFileSync(dist, 'utf8').includes('finetune')) {
    const build = spawnSync('npx', ['tsup'], { cwd: PACKAGE, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`building @slimlm/cli failed:\n${build.stderr}`);
  }
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('slimlm finetune', () => {
  it('trains a LoRA adapter and writes it in PEFT format', async () => {
    const out = join(dir, 'lora');
    const args = ['finetune', STORIES, ...SMALL, '--max-steps', '4', '--lr', '1e-2', '--out', out];
    const { code, stdout, stderr } = await runCli(args);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const json = JSON.parse(stdout) as FinetuneJson;
    expect(json.steps).toBe(4);
    expect(json.out).toBe(out);
    expect(json.val_loss_after!).toBeLessThan(json.val_loss_before!);
    expect(json.train_tokens_per_s).toBeGreaterThan(0);
    expect(json.peak_memory_mb).toBeGreaterThan(0);
    expect(readdirSync(out).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(config.r).toBe(8);
    expect(config.lora_alpha).toBe(16);
    expect([...config.target_modules].sort()).toEqual(['q_proj', 'v_proj']);
  });

  it('fine-tunes every weight and writes a model folder', async () => {
    const out = join(dir, 'full');
    const args = [
      'finetune',
      STORIES,
      ...SMALL,
      '--method',
      'full',
      '--max-steps',
      '2',
      '--lr',
      '1e-3',
      '--out',
      out,
    ];
    const { code, stdout } = await runCli(args);
    expect(code).toBe(0);
    const json = JSON.parse(stdout) as FinetuneJson;
    expect(json.steps).toBe(2);
    expect(json.val_loss_after!).toBeLessThan(json.val_loss_before!);
    for (const file of ['config.json', 'model.safetensors', 'tokenizer.json']) {
      expect(existsSync(join(out, file))).toBe(true);
    }
    expect(existsSync(join(out, 'checkpoints'))).toBe(false);
    const info = await runCli(['info', out, '--json']);
    expect(info.code).toBe(0);
  });

  it('resumes a killed run from its last checkpoint to the same adapter, byte for byte', async () => {
    const args = [...SMALL, '--max-steps', '6', '--eval-steps', '1', '--lr', '1e-2'];
    const whole = join(dir, 'whole');
    const expected = await runCli(['finetune', STORIES, ...args, '--out', whole]);
    expect(expected.code).toBe(0);
    // The same run in a child process, killed (SIGKILL) once its second checkpoint exists.
    const killed = join(dir, 'killed');
    const checkpoint = join(killed, 'checkpoints', 'checkpoint-2');
    const child = spawn(process.execPath, [BIN, 'finetune', STORIES, ...args, '--out', killed], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    });
    const exited = new Promise((done) => child.on('exit', done));
    while (!existsSync(checkpoint) && child.exitCode === null) {
      await new Promise((wait) => setTimeout(wait, 20));
    }
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(join(killed, 'adapter_model.safetensors'))).toBe(false);
    const { code, stdout } = await runCli([
      'finetune',
      STORIES,
      ...args,
      '--out',
      killed,
      '--resume',
    ]);
    expect(code).toBe(0);
    const resumed = JSON.parse(stdout) as FinetuneJson;
    const reference = JSON.parse(expected.stdout) as FinetuneJson;
    expect(resumed.steps).toBe(6);
    expect(resumed.val_loss_before).toBe(reference.val_loss_before);
    expect(resumed.val_loss_after).toBe(reference.val_loss_after);
    const weights = (folder: string) => readFileSync(join(folder, 'adapter_model.safetensors'));
    expect(weights(killed).equals(weights(whole))).toBe(true);
  });

  it('refuses what cannot work, saying what to do', async () => {
    const usage = await runCli([
      'finetune',
      STORIES,
      '--data',
      ALPACA,
      '--method',
      'full',
      '--r',
      '4',
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("option '--r' applies to --method lora only");
    const taken = await runCli(['finetune', STORIES, ...SMALL, '--out', join(dir, 'lora')]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('already exists and is not empty');
    const missing = await runCli(['finetune', STORIES]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--data');
  });
});

import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GenerateJson, ModelInfo } from '../src/index';
import { GENERATE_STORIES, REPO_ROOT, runCli, STORIES, WIKILLAMA } from './helpers';

interface StoriesReference {
  greedy_from_bos: { output_ids: number[] };
  llama2c_golden: { prompt_ids_with_bos: number[]; text: string };
}
const reference = JSON.parse(
  readFileSync(`${REPO_ROOT}fixtures/stories260K-reference.json`, 'utf8'),
) as StoriesReference;

describe('slimlm info', () => {
  it('reports wikillama-7m from its headers', async () => {
    const { code, stdout, stderr } = await runCli(['info', WIKILLAMA, '--json']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.endsWith('}\n')).toBe(true);
    const info = JSON.parse(stdout) as ModelInfo;
    expect(info).toMatchObject({
      folder: WIKILLAMA,
      model_type: 'llama',
      parameters: 6819072,
      tensors: 57,
      dtypes: { f16: { tensors: 57, elements: 6819072, bytes: 2 * 6819072 } },
      total_bytes: 2 * 6819072,
      quantization_config: null,
      vocab_size: 4096,
      hidden_size: 256,
      num_layers: 6,
      num_heads: 8,
      num_kv_heads: 4,
      head_dim: 32,
      max_positions: 512,
      tie_word_embeddings: false,
      torch_dtype: 'float16',
      tokenizer: true,
      chat_template: false,
    });
    expect(info.architecture).toEqual(expect.any(String));
  });

  it('reports stories260K with tied embeddings and f32 weights', async () => {
    const { code, stdout } = await runCli(['info', 'fixtures/stories260K-hf', '--json']);
    expect(code).toBe(0);
    const info = JSON.parse(stdout) as ModelInfo;
    expect(info).toMatchObject({
      folder: STORIES,
      model_type: 'llama',
      vocab_size: 512,
      hidden_size: 64,
      num_layers: 5,
      num_heads: 8,
      num_kv_heads: 4,
      head_dim: 8,
      tie_word_embeddings: true,
      tokenizer: true,
    });
    expect(Object.keys(info.dtypes)).toEqual(['f32']);
    expect(info.total_bytes).toBe(4 * info.parameters);
  });

  it('prints an aligned table for people', async () => {
    const { code, stdout } = await runCli(['info', 'wikillama']);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    const valueColumn = lines[0]!.search(/ {2}\S/) + 2;
    for (const line of lines) expect(line[valueColumn - 1]).toBe(' ');
    expect(stdout).toMatch(/^parameters +6\.82M \(6,819,072\)$/m);
    expect(stdout).toMatch(/^dtypes +f16 \(57 tensors, 13\.6 MB\)$/m);
    expect(stdout).toMatch(/^kv heads +4$/m);
    expect(stdout).toMatch(/^model +wikillama \(.*wikillama-7m\)$/m);
  });
});

describe('slimlm generate', () => {
  const prompt = reference.llama2c_golden.prompt_ids_with_bos;
  const greedy = reference.greedy_from_bos.output_ids.slice(prompt.length, prompt.length + 20);

  it('--json gives the greedy tokens of stories260K', async () => {
    const { code, stdout } = await runCli([...GENERATE_STORIES, '--json']);
    expect(code).toBe(0);
    expect(stdout.split('\n')).toHaveLength(2);
    const result = JSON.parse(stdout) as GenerateJson;
    expect(Object.keys(result)).toEqual(['prompt_tokens', 'tokens', 'text']);
    expect(result.prompt_tokens).toEqual(prompt);
    expect(result.tokens).toEqual(greedy);
    expect(result.text.startsWith(', there was a little girl named Lily')).toBe(true);
    expect(`Once upon a time${result.text}`).toBe(
      reference.llama2c_golden.text.slice(0, 16 + result.text.length),
    );
  });

  it('streams the prompt and the new text to stdout, and the same text as --json', async () => {
    const streamed = await runCli([...GENERATE_STORIES, '--backend', 'reference']);
    const json = await runCli([...GENERATE_STORIES, '--json']);
    expect(streamed.code).toBe(0);
    const { text } = JSON.parse(json.stdout) as GenerateJson;
    expect(streamed.stdout).toBe(`Once upon a time${text}\n`);
    // stderr is not a terminal here: no progress, no timings.
    expect(streamed.stderr).toBe('');
  });

  it('shows load time and speed on a terminal, never on stdout', async () => {
    const { code, stdout, stderr } = await runCli(
      ['generate', STORIES, '--prompt', 'Once', '--max-new-tokens', '3'],
      { tty: true },
    );
    expect(code).toBe(0);
    expect(stdout.startsWith('Once')).toBe(true);
    expect(stderr).toMatch(/loaded .* in /);
    expect(stderr).toMatch(/3 tokens in .* tokens\/s/);
  });

  it('runs the built-in wikillama', async () => {
    const { code, stdout } = await runCli([
      'generate',
      'wikillama',
      '--prompt',
      'The history of',
      '--max-new-tokens',
      '8',
      '--json',
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as GenerateJson;
    expect(result.prompt_tokens[0]).toBe(1);
    expect(result.tokens).toHaveLength(8);
    expect(result.text.length).toBeGreaterThan(0);
  });

  it('stops at a --stop string and samples reproducibly with --seed', async () => {
    const base = ['generate', STORIES, '--prompt', 'Once upon a time', '--json'];
    const stopped = await runCli([...base, '--max-new-tokens', '40', '--stop', 'Lily']);
    expect(stopped.code).toBe(0);
    const { text } = JSON.parse(stopped.stdout) as GenerateJson;
    expect(text.endsWith('Lily')).toBe(true);

    const sampling = [...base, '--max-new-tokens', '12', '--temperature', '1', '--top-k', '0'];
    const first = await runCli([...sampling, '--top-p', '0.9', '--seed', '7']);
    const second = await runCli([...sampling, '--top-p', '0.9', '--seed', '7']);
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(second.stdout);
  });
});

describe('Hub ids', () => {
  it('resolve through the Hugging Face cache (offline here)', async () => {
    const hfHome = mkdtempSync(join(tmpdir(), 'slimlm-cli-hf-'));
    try {
      const commit = 'a'.repeat(40);
      const storage = join(hfHome, 'hub', 'models--tiny--stories260K');
      const snapshot = join(storage, 'snapshots', commit);
      mkdirSync(join(storage, 'refs'), { recursive: true });
      writeFileSync(join(storage, 'refs', 'main'), commit);
      cpSync(STORIES, snapshot, { recursive: true });
      const env = { HF_HOME: hfHome, HF_HUB_OFFLINE: '1' };

      const info = await runCli(['info', 'tiny/stories260K', '--json'], { env });
      expect(info.code).toBe(0);
      expect((JSON.parse(info.stdout) as ModelInfo).folder).toBe(snapshot);

      const generated = await runCli(
        ['generate', 'tiny/stories260K', '--prompt', 'Once upon a time', '--max-new-tokens', '5'],
        { env },
      );
      expect(generated.code).toBe(0);
      expect(generated.stdout).toBe('Once upon a time, there was a little\n');

      const absent = await runCli(['info', 'tiny/absent'], { env });
      expect(absent.code).toBe(1);
      expect(absent.stderr).toMatch(/^slimlm: error: .*tiny\/absent.*not in the cache/);
    } finally {
      rmSync(hfHome, { recursive: true, force: true });
    }
  });
});

describe('errors and exit codes', () => {
  it('exits 2 on usage errors, naming the flag and the expected value', async () => {
    const bad = await runCli(['generate', STORIES, '--prompt', 'x', '--max-new-tokens', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(
      /^slimlm: error: option '--max-new-tokens' expects an integer >= 1, got 'lots'\nusage: slimlm generate <model> --prompt <text> \[options\]\n/,
    );

    const unknown = await runCli(['generate', STORIES, '--prompt', 'x', '--temprature', '1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--temprature'/);

    const choice = await runCli(['generate', STORIES, '--prompt', 'x', '--backend', 'gpu']);
    expect(choice.code).toBe(2);
    expect(choice.stderr).toMatch(/option '--backend' must be one of cpu, reference, got 'gpu'/);

    const missing = await runCli(['generate', STORIES]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing option '--prompt <text>'/);

    const noModel = await runCli(['info']);
    expect(noModel.code).toBe(2);
    expect(noModel.stderr).toMatch(/missing argument <model>/);

    const command = await runCli(['quantise', 'wikillama']);
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(
      /unknown command 'quantise' \(commands: workflow, info, generate/,
    );

    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/usage: slimlm <command>/);
  });

  it('exits 1 with a clear message and no stack for a missing model folder', async () => {
    const { code, stdout, stderr } = await runCli(['info', './no/such/model']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^slimlm: error: model folder '.*no\/such\/model' does not exist/);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(/\n\s+at /);

    const debug = await runCli(['generate', './no/such/model', '--prompt', 'x'], {
      env: { SLIMLM_DEBUG: '1' },
    });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it('explains a folder that is not a model', async () => {
    const { code, stderr } = await runCli(['info', 'fixtures/wikitext-2-raw']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^slimlm: error: .*config\.json/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe('help and version', () => {
  it('lists the commands', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: slimlm <command> \[options\]$/m);
    expect(stdout).toMatch(/^ {2}info +Show/m);
    expect(stdout).toMatch(/^ {2}generate +Generate/m);
  });

  it('documents every option of a command, even on an otherwise bad line', async () => {
    for (const argv of [
      ['generate', '--help'],
      ['help', 'generate'],
      ['generate', '-h', '--nope'],
    ]) {
      const { code, stdout } = await runCli(argv);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^usage: slimlm generate <model> --prompt <text> \[options\]$/m);
      for (const flag of [
        '--prompt <text>',
        '--max-new-tokens <n>',
        '--temperature <t>',
        '--top-k <k>',
        '--top-p <p>',
        '--repetition-penalty <r>',
        '--seed <s>',
        '--stop <text>',
        '--backend cpu|reference',
        '--json',
        '-h, --help',
      ]) {
        expect(stdout).toContain(flag);
      }
    }
  });

  it('prints the version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const { code, stdout } = await runCli(['--version']);
    expect(code).toBe(0);
    expect(stdout).toBe(`${pkg.version}\n`);
  });
});

import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type HubServer,
  readFolder,
  startHubServer,
  stubHubEnv,
} from '../../hub/test/helpers/hub-server';
import type { PullJson } from '../src/commands/pull';
import type { PushJson } from '../src/commands/push';
import { runCli, STORIES } from './helpers';

const TOKEN = 'hf_cliTestTokenNeverPrinted0123';
const REPO = 'slimlm/stories260K';

let hub: HubServer;
let stories: Record<string, Buffer>;
let mainSha: string;
let devSha: string;
let home: string;
let env: Record<string, string>;

beforeAll(async () => {
  hub = await startHubServer();
  hub.tokens.add(TOKEN);
  stories = readFolder(STORIES);
  mainSha = hub.addRepo(REPO, stories);
  devSha = hub.addRepo(
    REPO,
    { ...stories, 'config.json': Buffer.from('{"dev": true}\n') },
    { branch: 'dev' },
  );
});
afterAll(() => hub.close());

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'slimlm-cli-hub-'));
  // The command reads its io.env; push's client also checks process.env for offline mode.
  stubHubEnv(home, hub.url, TOKEN);
  env = { HF_HOME: home, HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN };
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(home, { recursive: true, force: true });
});

const sizes = (files: Record<string, Buffer>) =>
  Object.entries(files)
    .map(([path, bytes]) => ({ path, size: bytes.byteLength }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));

async function pullJson(args: string[], extraEnv: Record<string, string> = {}) {
  const { code, stdout, stderr } = await runCli(['pull', ...args, '--json'], {
    env: { ...env, ...extraEnv },
  });
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(stdout.trimEnd().split('\n')).toHaveLength(1);
  return JSON.parse(stdout) as PullJson;
}

describe('slimlm pull', () => {
  it('pulls a model into the Hugging Face cache and lists what it holds', async () => {
    const json = await pullJson([REPO]);
    const folder = join(home, 'hub', 'models--slimlm--stories260K', 'snapshots', mainSha);
    expect(json).toEqual({
      repo: REPO,
      repo_type: 'model',
      revision: 'main',
      commit: mainSha,
      folder,
      files: sizes(stories),
      bytes: Object.values(stories).reduce((sum, b) => sum + b.byteLength, 0),
    });
    for (const [path, bytes] of Object.entries(stories)) {
      expect(readFileSync(join(folder, path)).equals(bytes), path).toBe(true);
    }
  });

  it('prints a table, and a progress bar only on a terminal', async () => {
    const plain = await runCli(['pull', REPO, '--include', 'config.json'], { env });
    expect(plain.code).toBe(0);
    expect(plain.stderr).toBe('');
    expect(plain.stdout).toMatch(/^repo {6}slimlm\/stories260K \(model\)\n/);
    expect(plain.stdout).toContain(`revision  main (commit ${mainSha})`);
    expect(plain.stdout).toMatch(/files {5}1 \(\d+ B\)/);

    const tty = await runCli(['pull', REPO, '--include', '*.safetensors'], { env, tty: true });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toContain('pulling slimlm/stories260K');
    expect(tty.stderr).toContain('(1/1 files) model.safete');
  });

  it('keeps the files --include selects and --exclude does not drop', async () => {
    const json = await pullJson([REPO, '--include', '*.json', '--exclude', 'tokenizer*']);
    expect(json.files.map((f) => f.path)).toEqual([
      'config.json',
      'generation_config.json',
      'special_tokens_map.json',
    ]);
    // The same snapshot now also holds the weights, but a later pull lists only what it selects.
    await pullJson([REPO, '--include', 'model.safetensors']);
    const again = await pullJson([REPO, '--include', 'config.json']);
    expect(again.files.map((f) => f.path)).toEqual(['config.json']);
  });

  it('pulls a branch or a commit sha', async () => {
    const dev = await pullJson([REPO, '--revision', 'dev', '--include', 'config.json']);
    expect(dev.commit).toBe(devSha);
    expect(readFileSync(join(dev.folder, 'config.json'), 'utf8')).toBe('{"dev": true}\n');
    const pinned = await pullJson([REPO, '--revision', mainSha, '--include', 'config.json']);
    expect(pinned.commit).toBe(mainSha);
    expect(pinned.revision).toBe(mainSha);
  });

  it('pulls a dataset repository', async () => {
    const sha = hub.addRepo('datasets/slimlm/texts', {
      'train.jsonl': Buffer.from('{"text": "a"}\n'),
    });
    const json = await pullJson(['slimlm/texts', '--repo-type', 'dataset']);
    expect(json.repo_type).toBe('dataset');
    expect(json.folder).toBe(join(home, 'hub', 'datasets--slimlm--texts', 'snapshots', sha));
    expect(json.files).toEqual([{ path: 'train.jsonl', size: 14 }]);
  });

  it('answers from the cache alone with HF_HUB_OFFLINE=1', async () => {
    const online = await pullJson([REPO, '--include', '*.json']);
    const before = hub.requests.length;
    const offline = await pullJson([REPO, '--include', '*.json'], { HF_HUB_OFFLINE: '1' });
    expect(hub.requests.length).toBe(before);
    expect(offline).toEqual(online);
  });

  it('fails with what to fix: unknown repo, globs that match nothing, bad flags', async () => {
    const missing = await runCli(['pull', 'slimlm/nope'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^slimlm: error: Repository "slimlm\/nope"/);
    expect(missing.stderr).not.toContain(TOKEN);

    const offline = await runCli(['pull', REPO], { env: { ...env, HF_HUB_OFFLINE: '1' } });
    expect(offline.code).toBe(1);
    expect(offline.stderr).toContain('is not in the cache');

    const nothing = await runCli(['pull', REPO, '--include', '*.gguf'], { env });
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('has no file matching --include *.gguf: check the globs');

    const usage = await runCli(['pull', REPO, '--repo-type', 'space'], { env });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("option '--repo-type' must be one of model, dataset");
  });
});

describe('slimlm push', () => {
  let folder: string;
  beforeEach(() => {
    folder = join(home, 'model');
    cpSync(STORIES, folder, { recursive: true });
  });

  it('creates a private repo, commits the folder with the message, and pulls back equal bytes', async () => {
    const { code, stdout, stderr } = await runCli(
      ['push', folder, 'me/stories', '--private', '--message', 'First upload', '--json'],
      { env },
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const json = JSON.parse(stdout) as PushJson;
    expect(json).toEqual({
      folder,
      repo: 'me/stories',
      repo_type: 'model',
      revision: 'main',
      commit: expect.stringMatching(/^[0-9a-f]{40}$/),
      url: `${hub.url}/me/stories/commit/${json.commit}`,
      files: sizes(stories),
      bytes: Object.values(stories).reduce((sum, b) => sum + b.byteLength, 0),
    });
    expect(hub.commitTitle('me/stories')).toBe('First upload');
    // Private: without the token the repository is invisible.
    vi.stubEnv('HF_TOKEN', '');
    const anonymous = await runCli(['pull', 'me/stories'], { env: { ...env, HF_TOKEN: '' } });
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain('no token was given');
    vi.stubEnv('HF_TOKEN', TOKEN);
    const pulled = await pullJson(['me/stories']);
    for (const [path, bytes] of Object.entries(stories)) {
      expect(readFileSync(join(pulled.folder, path)).equals(bytes), path).toBe(true);
    }
  });

  it('commits to a branch made from main and prints a table', async () => {
    await runCli(['push', folder, 'me/branches'], { env });
    writeFileSync(join(folder, 'config.json'), '{"experiment": 1}\n');
    const { code, stdout } = await runCli(['push', folder, 'me/branches', '--revision', 'exp'], {
      env,
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^repo {6}me\/branches \(model\)\nrevision {2}exp \(commit [0-9a-f]{40}\)\n/,
    );
    expect(stdout).toMatch(/files {5}6 \(1\.\d\d MB\)/);
    expect(stdout).toMatch(new RegExp(`url {7}${hub.url}/me/branches/commit/[0-9a-f]{40}\\n$`));
    expect(hub.files('me/branches', 'exp')!.get('config.json')!.toString()).toBe(
      '{"experiment": 1}\n',
    );
    expect(hub.files('me/branches', 'main')!.get('config.json')!.toString()).not.toContain(
      'experiment',
    );
  });

  it('round-trips a dataset repository', async () => {
    const data = join(home, 'data');
    mkdirSync(data);
    cpSync(join(STORIES, 'config.json'), join(data, 'train.json'));
    const pushed = await runCli(['push', data, 'me/data', '--repo-type', 'dataset', '--json'], {
      env,
    });
    expect(pushed.code).toBe(0);
    expect((JSON.parse(pushed.stdout) as PushJson).url).toContain('/datasets/me/data/commit/');
    const pulled = await pullJson(['me/data', '--repo-type', 'dataset']);
    // A new repository starts with the Hub's .gitattributes.
    expect(pulled.files.map((f) => f.path)).toEqual(['.gitattributes', 'train.json']);
    expect(readFileSync(join(pulled.folder, 'train.json')).equals(stories['config.json']!)).toBe(
      true,
    );
  });

  it('fails with what to fix: no token, a missing folder, a bad repo id', async () => {
    vi.stubEnv('HF_TOKEN', '');
    const noToken = await runCli(['push', folder, 'me/x'], { env: { ...env, HF_TOKEN: '' } });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('needs a token with write access; set HF_TOKEN');

    const missing = await runCli(['push', join(home, 'nope'), 'me/x'], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^slimlm: error: push: the folder .*nope does not exist/);

    const bare = await runCli(['push', folder, 'no-namespace'], { env });
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain('expected "<namespace>/<name>"');

    const usage = await runCli(['push', folder], { env });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('missing argument <repo>');
  });
});

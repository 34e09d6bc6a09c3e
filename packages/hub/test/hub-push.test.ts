import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { pull, push } from '../src/index';
import { rejection } from './helpers/errors';
import { type HubServer, readFolder, startHubServer, stubHubEnv } from './helpers/hub-server';

const FIXTURE = fileURLToPath(new URL('../../../fixtures/stories260K-hf/', import.meta.url));
// Not an `hf_` token: mirrors behind HF_ENDPOINT issue their own, and push must still send it.
const TOKEN = 'mirror-write-token-0123456789';

let hub: HubServer;
let home: string;
let folder: string;

beforeAll(async () => {
  hub = await startHubServer();
  hub.tokens.add(TOKEN);
});

afterAll(() => hub.close());

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'slimlm-push-'));
  folder = join(home, 'model');
  cpSync(FIXTURE, folder, { recursive: true });
  mkdirSync(join(folder, 'extra'));
  writeFileSync(join(folder, 'extra', 'notes.txt'), 'trained with slimlm\n');
  mkdirSync(join(folder, '.git'));
  writeFileSync(join(folder, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  stubHubEnv(home, hub.url, TOKEN);
});

afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(home, { recursive: true, force: true });
});

describe('push', () => {
  it('creates a private repo, uploads the folder in one commit, and pulls back equal bytes', async () => {
    const before = hub.requests.length;
    const result = await push(folder, 'me/round-trip', { private: true, commitMessage: 'First' });
    expect(result.commitOid).toMatch(/^[0-9a-f]{40}$/);
    expect(result.url).toBe(`${hub.url}/me/round-trip/commit/${result.commitOid}`);
    expect(hub.commitTitle('me/round-trip')).toBe('First');
    const paths = hub.requests.slice(before).map((r) => `${r.method} ${r.path.split('?')[0]}`);
    expect(paths.filter((p) => p.includes('/commit/'))).toHaveLength(1);
    expect(paths).toContain('POST /api/repos/create');
    // The weights go through LFS, as on the Hub.
    expect(paths.some((p) => p.startsWith('PUT /__lfs/'))).toBe(true);

    const local = readFolder(folder);
    delete local['.git/HEAD'];
    const remote = hub.files('me/round-trip')!;
    for (const [path, bytes] of Object.entries(local)) {
      expect(remote.get(path)?.equals(bytes), path).toBe(true);
    }
    expect(remote.has('.git/HEAD')).toBe(false);
    expect(result.files).toEqual(
      Object.entries(local)
        .map(([path, bytes]) => ({ path, size: bytes.byteLength }))
        .sort((a, b) => (a.path < b.path ? -1 : 1)),
    );

    vi.stubEnv('HF_TOKEN', '');
    expect((await rejection(pull('me/round-trip'))).code).toBe('UNAUTHORIZED');
    const snapshot = await pull('me/round-trip', { token: TOKEN, revision: result.commitOid! });
    for (const [path, bytes] of Object.entries(local)) {
      expect(readFileSync(join(snapshot, path)).equals(bytes), path).toBe(true);
    }
  });

  it('adds a commit to a repository that exists already', async () => {
    const first = await push(folder, 'me/twice');
    writeFileSync(join(folder, 'config.json'), '{"changed": true}\n');
    const second = await push(folder, 'me/twice', { commitMessage: 'Change the config' });
    expect(second.commitOid).not.toBe(first.commitOid);
    expect(hub.files('me/twice')!.get('config.json')!.toString()).toBe('{"changed": true}\n');
  });

  it('commits to a new branch made from main, leaving main as it was', async () => {
    const first = await push(folder, 'me/branched');
    writeFileSync(join(folder, 'config.json'), '{"branch": true}\n');
    const dev = await push(folder, 'me/branched', { branch: 'dev' });
    expect(dev.url).toBe(`${hub.url}/me/branched/commit/${dev.commitOid}`);
    expect(hub.files('me/branched', 'dev')!.get('config.json')!.toString()).toBe(
      '{"branch": true}\n',
    );
    expect(hub.files('me/branched', 'main')!.get('config.json')!.toString()).not.toContain(
      'branch',
    );
    expect(hub.files('me/branched', first.commitOid!)).toBeDefined();
    // A second push to the branch finds it there and adds a commit on top.
    writeFileSync(join(folder, 'config.json'), '{"branch": 2}\n');
    await push(folder, 'me/branched', { branch: 'dev' });
    expect(hub.files('me/branched', 'dev')!.get('config.json')!.toString()).toBe('{"branch": 2}\n');
  });

  it('creates and fills a dataset repository', async () => {
    const result = await push(folder, 'me/texts', { repoType: 'dataset' });
    expect(result.url).toBe(`${hub.url}/datasets/me/texts/commit/${result.commitOid}`);
    expect(hub.files('datasets/me/texts')!.get('extra/notes.txt')!.toString()).toBe(
      'trained with slimlm\n',
    );
    expect(hub.files('me/texts')).toBeUndefined();
  });

  it('asks for a token with write access and never shows it', async () => {
    vi.stubEnv('HF_TOKEN', '');
    const missing = await rejection(push(folder, 'me/no-token'));
    expect(missing.code).toBe('UNAUTHORIZED');
    expect(missing.message).toContain('HF_TOKEN');
    const wrong = 'hf_badWriteTokenNeverPrinted42';
    const refused = await rejection(push(folder, 'me/no-token', { token: wrong }));
    expect(refused.code).toBe('UNAUTHORIZED');
    expect(refused.message).toContain('me/no-token');
    expect(refused.message).toContain('write');
    expect(refused.message).not.toContain(wrong);
  });

  it('refuses a missing folder, an empty one and a bare repository name', async () => {
    expect((await rejection(push(join(home, 'nope'), 'me/x'))).code).toBe('NOT_FOUND');
    const empty = join(home, 'empty');
    mkdirSync(empty);
    expect((await rejection(push(empty, 'me/x'))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(push(folder, 'no-namespace'))).code).toBe('INVALID_ARGUMENT');
    const sha = 'a'.repeat(40);
    const pinned = await rejection(push(folder, 'me/x', { branch: sha }));
    expect(pinned.code).toBe('INVALID_ARGUMENT');
    expect(pinned.message).toContain('not a branch name');
  });
});

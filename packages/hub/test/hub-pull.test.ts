import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type PullProgress, pull } from '../src/index';
import { rejection } from './helpers/errors';
import {
  gitBlobOid,
  type HubServer,
  readFolder,
  sha256,
  startHubServer,
  stubHubEnv,
} from './helpers/hub-server';

const FIXTURE = fileURLToPath(new URL('../../../fixtures/stories260K-hf/', import.meta.url));
const REPO = 'slimlm/stories260K';
const PRIVATE = 'slimlm/private-model';
const TOKEN = 'hf_localTestTokenDoNotLeak123';

let hub: HubServer;
let files: Record<string, Buffer>;
let mainSha: string;
let devSha: string;
let home: string;

const storage = () => join(home, 'hub', 'models--slimlm--stories260K');
const resolves = (from = 0) => hub.requests.slice(from).filter((r) => r.path.includes('/resolve/'));

beforeAll(async () => {
  hub = await startHubServer();
  hub.tokens.add(TOKEN);
  files = readFolder(FIXTURE);
  mainSha = hub.addRepo(REPO, files);
  devSha = hub.addRepo(
    REPO,
    { ...files, 'config.json': Buffer.from('{"dev": true}\n') },
    { branch: 'dev' },
  );
  hub.addRepo(PRIVATE, { 'config.json': Buffer.from('{"private": true}\n') }, { private: true });
});

afterAll(() => hub.close());

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'slimlm-hub-'));
  stubHubEnv(home, hub.url);
});

afterEach(() => {
  vi.unstubAllEnvs();
  hub.dropOnce.clear();
  hub.corrupt.clear();
  rmSync(home, { recursive: true, force: true });
});

describe('pull', () => {
  it('lays the cache out like huggingface_hub: blobs by etag, refs/main, relative symlinks', async () => {
    const before = hub.requests.length;
    const snapshot = await pull(REPO);
    expect(snapshot).toBe(join(storage(), 'snapshots', mainSha));
    expect(readFileSync(join(storage(), 'refs', 'main'), 'utf8')).toBe(mainSha);
    for (const [path, bytes] of Object.entries(files)) {
      const pointer = join(snapshot, path);
      expect(lstatSync(pointer).isSymbolicLink()).toBe(true);
      const etag = path.endsWith('.safetensors') ? sha256(bytes) : gitBlobOid(bytes);
      expect(readlinkSync(pointer)).toBe(`../../blobs/${etag}`);
      expect(readFileSync(pointer).equals(bytes)).toBe(true);
    }
    const blobs = readdirSync(join(storage(), 'blobs'));
    expect(blobs).toHaveLength(Object.keys(files).length);
    expect(blobs.some((name) => name.endsWith('.incomplete'))).toBe(false);
    const tree = hub.requests.slice(before).filter((r) => r.path.includes('/tree/'));
    expect(tree.length).toBeGreaterThan(1);
    expect(tree[1]!.path).toContain('cursor=');
  });

  it('asks only for the revision on a second pull and downloads nothing', async () => {
    await pull(REPO);
    const before = hub.requests.length;
    expect(await pull(REPO)).toBe(join(storage(), 'snapshots', mainSha));
    const requests = hub.requests.slice(before);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.path).toMatch(/^\/api\/models\/slimlm\/stories260K\/revision\/main\?/);
  });

  it('reuses blobs already in the cache, as huggingface_hub left them', async () => {
    mkdirSync(join(storage(), 'blobs'), { recursive: true });
    const weights = files['model.safetensors']!;
    writeFileSync(join(storage(), 'blobs', sha256(weights)), weights);
    const before = hub.requests.length;
    const snapshot = await pull(REPO);
    const downloaded = resolves(before).map((r) => r.path);
    expect(downloaded).toHaveLength(Object.keys(files).length - 1);
    expect(downloaded.some((p) => p.endsWith('model.safetensors'))).toBe(false);
    expect(readFileSync(join(snapshot, 'model.safetensors')).equals(weights)).toBe(true);
  });

  it('resolves from the cache alone in offline mode, by ref or by commit sha', async () => {
    await pull(REPO);
    vi.stubEnv('HF_HUB_OFFLINE', '1');
    const before = hub.requests.length;
    expect(await pull(REPO)).toBe(join(storage(), 'snapshots', mainSha));
    expect(await pull(REPO, { revision: mainSha })).toBe(join(storage(), 'snapshots', mainSha));
    expect(hub.requests.length).toBe(before);
  });

  it('fails clearly offline when nothing is cached', async () => {
    const before = hub.requests.length;
    const error = await rejection(pull(REPO, { offline: true }));
    expect(error.code).toBe('NETWORK');
    expect(error.message).toMatch(/offline/i);
    expect(error.message).toContain(REPO);
    expect(error.message).toContain(join('refs', 'main'));
    expect(hub.requests.length).toBe(before);
  });

  it('resumes an interrupted download with a Range request and verifies it', async () => {
    hub.dropOnce.add('model.safetensors');
    const before = hub.requests.length;
    const snapshot = await pull(REPO);
    const weights = resolves(before).filter((r) => r.path.endsWith('/model.safetensors'));
    expect(weights).toHaveLength(2);
    expect(weights[0]!.range).toBeUndefined();
    expect(weights[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    const bytes = readFileSync(join(snapshot, 'model.safetensors'));
    expect(sha256(bytes)).toBe(sha256(files['model.safetensors']!));
  });

  it('continues a .incomplete file left by an earlier, killed pull', async () => {
    const weights = files['model.safetensors']!;
    const blob = join(storage(), 'blobs', sha256(weights));
    mkdirSync(dirname(blob), { recursive: true });
    writeFileSync(`${blob}.incomplete`, weights.subarray(0, 1000));
    const before = hub.requests.length;
    await pull(REPO, { allowPatterns: ['*.safetensors'] });
    const requests = resolves(before);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.range).toBe('bytes=1000-');
    expect(readFileSync(blob).equals(weights)).toBe(true);
    expect(existsSync(`${blob}.incomplete`)).toBe(false);
  });

  it('rejects a corrupted body and leaves no blob, partial file or ref behind', async () => {
    hub.corrupt.add('model.safetensors');
    const error = await rejection(pull(REPO));
    expect(error.code).toBe('INVALID_FILE');
    expect(error.message).toContain('model.safetensors');
    expect(error.message).toContain('checksum');
    const blob = join(storage(), 'blobs', sha256(files['model.safetensors']!));
    expect(existsSync(blob)).toBe(false);
    expect(existsSync(`${blob}.incomplete`)).toBe(false);
    expect(existsSync(join(storage(), 'refs', 'main'))).toBe(false);
    hub.corrupt.add('config.json');
    const config = await rejection(pull(REPO, { revision: 'dev', allowPatterns: ['config.json'] }));
    expect(config.code).toBe('INVALID_FILE');
    expect(config.message).toContain('git blob sha1');
  });

  it('shares one download between concurrent pulls of the same repository', async () => {
    const before = hub.requests.length;
    const [a, b] = await Promise.all([pull(REPO), pull(REPO)]);
    expect(a).toBe(b);
    const weights = resolves(before).filter((r) => r.path.endsWith('/model.safetensors'));
    expect(weights).toHaveLength(1);
    expect(readFileSync(join(a, 'model.safetensors')).equals(files['model.safetensors']!)).toBe(
      true,
    );
  });

  it('keeps only files matching allowPatterns and not ignorePatterns', async () => {
    const snapshot = await pull(REPO, {
      allowPatterns: ['*.json'],
      ignorePatterns: ['special_*'],
    });
    expect(readdirSync(snapshot).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const before = hub.requests.length;
    await pull(REPO, { allowPatterns: ['tokenizer*', '*.safetensors'] });
    expect(
      resolves(before)
        .map((r) => r.path.split('/').at(-1))
        .sort(),
    ).toEqual(['model.safetensors']);
  });

  it('pulls a branch and a commit sha into their own snapshots', async () => {
    const dev = await pull(REPO, { revision: 'dev', allowPatterns: ['config.json'] });
    expect(dev).toBe(join(storage(), 'snapshots', devSha));
    expect(readFileSync(join(storage(), 'refs', 'dev'), 'utf8')).toBe(devSha);
    expect(readFileSync(join(dev, 'config.json'), 'utf8')).toBe('{"dev": true}\n');
    const pinned = await pull(REPO, { revision: mainSha, allowPatterns: ['config.json'] });
    expect(pinned).toBe(join(storage(), 'snapshots', mainSha));
    expect(readFileSync(join(pinned, 'config.json')).equals(files['config.json']!)).toBe(true);
    expect(readdirSync(join(storage(), 'refs'))).toEqual(['dev']);
  });

  it('pulls a dataset repository into datasets--<org>--<name>', async () => {
    const records = Buffer.from('{"text": "one"}\n{"text": "two"}\n');
    const sha = hub.addRepo('datasets/slimlm/tiny-texts', {
      'data/train.jsonl': records,
      'README.md': Buffer.from('# tiny\n'),
    });
    const before = hub.requests.length;
    const snapshot = await pull('slimlm/tiny-texts', { repoType: 'dataset' });
    const folder = join(home, 'hub', 'datasets--slimlm--tiny-texts');
    expect(snapshot).toBe(join(folder, 'snapshots', sha));
    expect(readFileSync(join(folder, 'refs', 'main'), 'utf8')).toBe(sha);
    expect(readFileSync(join(snapshot, 'data', 'train.jsonl')).equals(records)).toBe(true);
    const paths = hub.requests.slice(before).map((r) => r.path.split('?')[0]!);
    expect(paths[0]).toBe('/api/datasets/slimlm/tiny-texts/revision/main');
    expect(paths.filter((p) => p.includes('/resolve/')).sort()).toEqual([
      `/datasets/slimlm/tiny-texts/resolve/${sha}/README.md`,
      `/datasets/slimlm/tiny-texts/resolve/${sha}/data/train.jsonl`,
    ]);
    // A model of that name does not exist: the repository type is part of its identity.
    expect((await rejection(pull('slimlm/tiny-texts'))).code).toBe('UNAUTHORIZED');
  });

  it('reports progress with growing byte counts per file', async () => {
    const events: PullProgress[] = [];
    await pull(REPO, { onProgress: (p) => events.push(p) });
    const total = Object.keys(files).length;
    for (const [path, bytes] of Object.entries(files)) {
      const mine = events.filter((e) => e.file === path);
      expect(mine.length).toBeGreaterThan(0);
      for (let i = 1; i < mine.length; i++) {
        expect(mine[i]!.loaded).toBeGreaterThanOrEqual(mine[i - 1]!.loaded);
      }
      expect(mine.at(-1)!.loaded).toBe(bytes.byteLength);
      expect(mine.every((e) => e.total === bytes.byteLength && e.filesTotal === total)).toBe(true);
    }
    expect(events.filter((e) => e.file === 'model.safetensors').length).toBeGreaterThan(2);
    expect(events.at(-1)!.filesDone).toBe(total);
  });
});

describe('pull errors', () => {
  it('answers 401 with UNAUTHORIZED naming the repo and HF_TOKEN', async () => {
    const error = await rejection(pull(PRIVATE));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toContain(PRIVATE);
    expect(error.message).toContain('HF_TOKEN');
  });

  it('never lets the token into an error, even when the server echoes it', async () => {
    const wrong = 'hf_wrongTokenThatMustNotLeak987';
    const error = await rejection(pull(PRIVATE, { token: wrong }));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).not.toContain(wrong);
    expect(error.message).toContain('***');
    hub.failNext(503, 3, /revision/, `backend exploded while checking ${TOKEN}`);
    const failed = await rejection(pull(REPO, { token: TOKEN }));
    expect(failed.code).toBe('NETWORK');
    expect(failed.message).toContain('503');
    expect(failed.message).not.toContain(TOKEN);
  });

  it('sends the token from HF_TOKEN, or the $HF_HOME/token file, to the endpoint', async () => {
    vi.stubEnv('HF_TOKEN', TOKEN);
    const snapshot = await pull(PRIVATE);
    expect(readFileSync(join(snapshot, 'config.json'), 'utf8')).toContain('private');
    expect(hub.requests.at(-1)!.authorization).toBe(`Bearer ${TOKEN}`);
    vi.stubEnv('HF_TOKEN', '');
    rmSync(join(home, 'hub'), { recursive: true });
    writeFileSync(join(home, 'token'), `${TOKEN}\n`);
    await pull(PRIVATE);
  });

  it('answers 404 with NOT_FOUND naming the repo, the revision or the file', async () => {
    vi.stubEnv('HF_TOKEN', TOKEN);
    const repo = await rejection(pull('slimlm/missing'));
    expect(repo.code).toBe('NOT_FOUND');
    expect(repo.message).toContain('slimlm/missing');
    const revision = await rejection(pull(REPO, { revision: 'no-such-branch' }));
    expect(revision.code).toBe('NOT_FOUND');
    expect(revision.message).toContain('no-such-branch');
    hub.failNext(404, 1, /\/resolve\/.*config\.json$/);
    const file = await rejection(pull(REPO, { allowPatterns: ['config.json'] }));
    expect(file.code).toBe('NOT_FOUND');
    expect(file.message).toContain('"config.json"');
  });

  it('retries transient 5xx answers, then fails with NETWORK and the status', async () => {
    hub.failNext(502, 1, /revision/);
    await pull(REPO, { allowPatterns: ['config.json'] });
    const before = hub.requests.length;
    hub.failNext(500, 3, /revision/);
    const error = await rejection(pull(REPO, { revision: 'dev' }));
    expect(error.code).toBe('NETWORK');
    expect(error.message).toContain('500');
    expect(error.message).toContain(REPO);
    expect(hub.requests.length - before).toBe(3);
  });

  it('falls back to the cached snapshot when the Hub cannot be reached', async () => {
    const snapshot = await pull(REPO, { allowPatterns: ['config.json'] });
    const closed = await startHubServer();
    const deadUrl = closed.url;
    await closed.close();
    expect(await pull(REPO, { endpoint: deadUrl })).toBe(snapshot);
    const error = await rejection(pull(REPO, { endpoint: deadUrl, revision: 'dev' }));
    expect(error.code).toBe('NETWORK');
    expect(error.message).toContain(deadUrl);
  });

  it('refuses malformed repository ids', async () => {
    const error = await rejection(pull('a/b/c'));
    expect(error.code).toBe('INVALID_ARGUMENT');
  });
});

describe('checksums', () => {
  it('names blobs of regular files by their git blob sha1, as the Hub etag does', () => {
    const bytes = Buffer.from('hello\n');
    // `git hash-object` of "hello\n".
    expect(gitBlobOid(bytes)).toBe('ce013625030ba8dba906f756967f9e9ca394464a');
    expect(createHash('sha1').update(bytes).digest('hex')).not.toBe(gitBlobOid(bytes));
  });
});

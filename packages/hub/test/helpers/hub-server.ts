import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';
import { vi } from 'vitest';

/**
 * A local stand-in for huggingface.co, just big enough for the real @huggingface/hub client and
 * slimlm's downloader: model and dataset info by revision, paged tree listing, resolve (with
 * Range, ETag, X-Repo-Commit, X-Linked-Etag/Size), create repo, create branch, preupload, LFS
 * batch with basic transfer (no xet, so the client falls back to a plain PUT), and the ndjson
 * commit (to an existing branch only, as on the Hub).
 *
 * Repositories are named as @huggingface/hub names them: `owner/name` for a model,
 * `datasets/owner/name` for a dataset.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

interface Repo {
  private: boolean;
  branches: Map<string, string>;
  commits: Map<string, Map<string, Buffer>>;
  /** The commit title (summary) each pushed commit was sent with. */
  titles: Map<string, string>;
}

export interface HubServer {
  url: string;
  requests: RecordedRequest[];
  /** Tokens the server accepts; a private repo or any write needs one of them. */
  tokens: Set<string>;
  /** Entries per tree page; a Link header points at the next page. */
  pageSize: number;
  /** Resolve of these paths sends half the body and drops the connection, once each. */
  dropOnce: Set<string>;
  /** Resolve of these paths sends the right length with flipped bytes. */
  corrupt: Set<string>;
  /** The next `count` requests whose path matches answer `status` with a JSON error. */
  failNext(status: number, count: number, match?: RegExp, message?: string): void;
  /** Creates (or adds a commit to) a repo from files; returns the commit sha. */
  addRepo(
    id: string,
    files: Record<string, Buffer>,
    options?: { private?: boolean; branch?: string },
  ): string;
  files(id: string, revision?: string): Map<string, Buffer> | undefined;
  /** The title a pushed commit was sent with. */
  commitTitle(id: string, revision?: string): string | undefined;
  close(): Promise<void>;
}

/** Every file of a folder, keyed by its path relative to the folder with forward slashes. */
export function readFolder(folder: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[relative(folder, path).split(sep).join('/')] = readFileSync(path);
  }
  return out;
}

export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

export function gitBlobOid(bytes: Buffer): string {
  return createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');
}

/** The Hub stores weights (and anything 10 MB or more) with LFS. */
export function isLfs(path: string, size: number): boolean {
  return /\.(safetensors|bin|pt|gguf)$/.test(path) || size >= 10 * 1024 * 1024;
}

function lfsPointer(bytes: Buffer): Buffer {
  return Buffer.from(
    `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(bytes)}\nsize ${bytes.byteLength}\n`,
  );
}

/** The server's key of a repository from a URL's `models`/`datasets` part (or none) and its id. */
function repoKey(kind: string | undefined, id: string): string {
  return kind === 'datasets' || kind === 'dataset' ? `datasets/${id}` : id;
}

export async function startHubServer(): Promise<HubServer> {
  const repos = new Map<string, Repo>();
  const lfsStore = new Map<string, Buffer>();
  const failures: { status: number; count: number; match: RegExp; message: string }[] = [];
  let url = '';

  const commitFiles = (repo: Repo, branch: string, files: Map<string, Buffer>): string => {
    const sha = randomBytes(20).toString('hex');
    repo.commits.set(sha, files);
    repo.branches.set(branch, sha);
    return sha;
  };

  const resolveRevision = (repo: Repo, revision: string): string | undefined => {
    if (repo.commits.has(revision)) return revision;
    return repo.branches.get(revision === 'HEAD' ? 'main' : revision);
  };

  const server: HubServer = {
    url: '',
    requests: [],
    tokens: new Set(),
    pageSize: 4,
    dropOnce: new Set(),
    corrupt: new Set(),
    failNext(status, count, match = /./, message = `Simulated ${status}`) {
      failures.push({ status, count, match, message });
    },
    addRepo(id, files, options = {}) {
      let repo = repos.get(id);
      if (!repo) {
        repo = {
          private: options.private ?? false,
          branches: new Map(),
          commits: new Map(),
          titles: new Map(),
        };
        repos.set(id, repo);
      }
      return commitFiles(repo, options.branch ?? 'main', new Map(Object.entries(files)));
    },
    files(id, revision = 'main') {
      const repo = repos.get(id);
      const sha = repo && resolveRevision(repo, revision);
      return sha ? repo.commits.get(sha) : undefined;
    },
    commitTitle(id, revision = 'main') {
      const repo = repos.get(id);
      const sha = repo && resolveRevision(repo, revision);
      return sha ? repo.titles.get(sha) : undefined;
    },
    close: () =>
      new Promise((done) => {
        http.closeAllConnections();
        http.close(() => done());
      }),
  };

  const json = (res: ServerResponse, status: number, body: unknown, headers = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string) =>
    json(res, status, { error: message }, { 'X-Error-Code': code, 'X-Error-Message': message });

  const authorized = (req: IncomingMessage) => {
    const header = req.headers.authorization ?? '';
    return header.startsWith('Bearer ') && server.tokens.has(header.slice('Bearer '.length));
  };

  /** The repo if the caller may see it, else an answer has been sent. */
  const findRepo = (req: IncomingMessage, res: ServerResponse, id: string) => {
    const repo = repos.get(id);
    if (req.headers.authorization && !authorized(req)) {
      fail(
        res,
        401,
        'InvalidCredentials',
        `Invalid credentials in Authorization header: ${req.headers.authorization}`,
      );
      return undefined;
    }
    if (!repo || (repo.private && !authorized(req))) {
      // Like the Hub: a private repo is indistinguishable from a missing one without a token.
      if (!req.headers.authorization) {
        fail(res, 401, 'RepoNotFound', 'Repository not found');
      } else {
        fail(res, 404, 'RepoNotFound', 'Repository not found');
      }
      return undefined;
    }
    return repo;
  };

  /** The repo `id` at the commit `revision` names, or undefined once the error is sent. */
  const findCommit = (req: IncomingMessage, res: ServerResponse, id: string, revision: string) => {
    const repo = findRepo(req, res, id);
    if (!repo) return undefined;
    const sha = resolveRevision(repo, revision);
    if (!sha) {
      fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
      return undefined;
    }
    return { repo, sha };
  };

  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };

  const treeEntry = (path: string, bytes: Buffer) =>
    isLfs(path, bytes.byteLength)
      ? {
          type: 'file',
          path,
          size: bytes.byteLength,
          oid: gitBlobOid(lfsPointer(bytes)),
          lfs: {
            oid: sha256(bytes),
            size: bytes.byteLength,
            pointerSize: lfsPointer(bytes).length,
          },
        }
      : { type: 'file', path, size: bytes.byteLength, oid: gitBlobOid(bytes) };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const parsed = new URL(req.url ?? '/', url);
    const path = parsed.pathname;
    const method = req.method ?? 'GET';
    server.requests.push({
      method,
      path: `${path}${parsed.search}`,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    const failure = failures.find((f) => f.count > 0 && f.match.test(path));
    if (failure) {
      failure.count--;
      await readBody(req);
      return json(res, failure.status, { error: failure.message });
    }

    let m = path.match(/^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/revision\/([^/]+)$/);
    if (m && method === 'GET') {
      const id = decodeURIComponent(m[2]!);
      const found = findCommit(req, res, repoKey(m[1], id), decodeURIComponent(m[3]!));
      if (!found) return;
      const { repo, sha } = found;
      return json(res, 200, {
        _id: `id-${id}`,
        id,
        private: repo.private,
        sha,
        lastModified: new Date(0).toISOString(),
        siblings: [...repo.commits.get(sha)!.keys()].map((rfilename) => ({ rfilename })),
      });
    }

    m = path.match(/^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/tree\/([^/]+)(\/.*)?$/);
    if (m && method === 'GET') {
      const key = repoKey(m[1], decodeURIComponent(m[2]!));
      const found = findCommit(req, res, key, decodeURIComponent(m[3]!));
      if (!found) return;
      const { repo, sha } = found;
      const entries: object[] = [];
      const folders = new Set<string>();
      for (const [file, bytes] of repo.commits.get(sha)!) {
        const parts = file.split('/');
        for (let i = 1; i < parts.length; i++) folders.add(parts.slice(0, i).join('/'));
        entries.push(treeEntry(file, bytes));
      }
      for (const folder of folders)
        entries.push({ type: 'directory', path: folder, oid: '0', size: 0 });
      const cursor = Number(parsed.searchParams.get('cursor') ?? '0');
      const page = entries.slice(cursor, cursor + server.pageSize);
      const headers: Record<string, string> = {};
      if (cursor + server.pageSize < entries.length) {
        const next = new URL(parsed);
        next.searchParams.set('cursor', String(cursor + server.pageSize));
        headers.Link = `<${next.href}>; rel="next"`;
      }
      return json(res, 200, page, headers);
    }

    m = path.match(/^\/(?:(datasets)\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    if (m && (method === 'GET' || method === 'HEAD')) {
      const key = repoKey(m[1], decodeURIComponent(m[2]!));
      const revision = decodeURIComponent(m[3]!);
      const found = findCommit(req, res, key, revision);
      if (!found) return;
      const { repo, sha } = found;
      const file = m[4]!.split('/').map(decodeURIComponent).join('/');
      let bytes = repo.commits.get(sha)!.get(file);
      if (!bytes) return fail(res, 404, 'EntryNotFound', `${file} does not exist on "${revision}"`);
      const lfs = isLfs(file, bytes.byteLength);
      const etag = lfs ? sha256(bytes) : gitBlobOid(bytes);
      if (server.corrupt.has(file)) bytes = Buffer.from(bytes.map((b) => b ^ 0xff));
      const headers: Record<string, string | number> = {
        ETag: `"${etag}"`,
        'X-Repo-Commit': sha,
        'Accept-Ranges': 'bytes',
        'Content-Type': 'application/octet-stream',
        ...(lfs ? { 'X-Linked-Etag': `"${etag}"`, 'X-Linked-Size': bytes.byteLength } : {}),
      };
      const range = req.headers.range?.match(/^bytes=(\d+)-(\d*)$/);
      let start = 0;
      let end = bytes.byteLength - 1;
      let status = 200;
      if (range) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), end) : end;
        if (start >= bytes.byteLength) {
          res.writeHead(416, { 'Content-Range': `bytes */${bytes.byteLength}` });
          return res.end();
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${bytes.byteLength}`;
      }
      const body = bytes.subarray(start, end + 1);
      headers['Content-Length'] = body.byteLength;
      res.writeHead(status, headers);
      if (method === 'HEAD') return res.end();
      if (server.dropOnce.has(file) && body.byteLength > 1) {
        server.dropOnce.delete(file);
        res.write(body.subarray(0, Math.floor(body.byteLength / 2)), () => {
          setTimeout(() => res.socket?.destroy(), 20);
        });
        return;
      }
      return res.end(body);
    }

    if (path === '/api/repos/create' && method === 'POST') {
      const body = JSON.parse((await readBody(req)).toString()) as {
        name: string;
        organization?: string;
        visibility?: string;
        type?: string;
      };
      if (!authorized(req))
        return fail(res, 401, 'InvalidCredentials', 'Invalid username or password.');
      const id = repoKey(body.type, `${body.organization}/${body.name}`);
      if (repos.has(id))
        return fail(
          res,
          409,
          'RepoExists',
          `You already created this ${body.type ?? 'model'} repo`,
        );
      const repo: Repo = {
        private: body.visibility === 'private',
        branches: new Map(),
        commits: new Map(),
        titles: new Map(),
      };
      repos.set(id, repo);
      commitFiles(
        repo,
        'main',
        new Map([['.gitattributes', Buffer.from('*.safetensors filter=lfs\n')]]),
      );
      return json(res, 200, { url: `${url}/${id}`, id: `id-${id}`, name: id });
    }

    m = path.match(/^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/branch\/([^/]+)$/);
    if (m && method === 'POST') {
      const body = JSON.parse((await readBody(req)).toString() || '{}') as {
        startingPoint?: string;
      };
      if (!authorized(req)) return fail(res, 401, 'InvalidCredentials', 'Invalid credentials');
      const found = findCommit(req, res, repoKey(m[1], decodeURIComponent(m[2]!)), 'main');
      if (!found) return;
      const branch = decodeURIComponent(m[3]!);
      if (found.repo.branches.has(branch))
        return fail(res, 409, 'BranchExists', `Reference already exists: refs/heads/${branch}`);
      const start = resolveRevision(found.repo, body.startingPoint ?? 'main');
      if (!start)
        return fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${body.startingPoint}`);
      found.repo.branches.set(branch, start);
      return json(res, 200, {});
    }

    m = path.match(/^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/preupload\/([^/]+)$/);
    if (m && method === 'POST') {
      const body = JSON.parse((await readBody(req)).toString()) as {
        files: { path: string; size: number }[];
      };
      if (!authorized(req)) return fail(res, 401, 'InvalidCredentials', 'Invalid credentials');
      if (!repos.has(repoKey(m[1], decodeURIComponent(m[2]!))))
        return fail(res, 404, 'RepoNotFound', 'Repository not found');
      return json(res, 200, {
        files: body.files.map((f) => ({
          path: f.path,
          uploadMode: isLfs(f.path, f.size) ? 'lfs' : 'regular',
          shouldIgnore: false,
        })),
      });
    }

    m = path.match(/^\/(?:datasets\/)?([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/);
    if (m && method === 'POST') {
      const body = JSON.parse((await readBody(req)).toString()) as {
        objects: { oid: string; size: number }[];
      };
      if (!authorized(req)) return fail(res, 401, 'InvalidCredentials', 'Invalid credentials');
      return json(res, 200, {
        transfer: 'basic',
        objects: body.objects.map((o) => ({
          oid: o.oid,
          size: o.size,
          ...(lfsStore.has(o.oid)
            ? {}
            : { actions: { upload: { href: `${url}/__lfs/${o.oid}` } } }),
        })),
      });
    }

    m = path.match(/^\/__lfs\/([0-9a-f]{64})$/);
    if (m && method === 'PUT') {
      const bytes = await readBody(req);
      if (sha256(bytes) !== m[1])
        return fail(res, 400, 'BadOid', 'Uploaded bytes do not match the oid');
      lfsStore.set(m[1]!, bytes);
      res.writeHead(200, { ETag: `"${m[1]}"` });
      return res.end();
    }

    m = path.match(/^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/commit\/([^/]+)$/);
    if (m && method === 'POST') {
      const lines = (await readBody(req)).toString().split('\n').filter(Boolean);
      if (!authorized(req)) return fail(res, 401, 'InvalidCredentials', 'Invalid credentials');
      const id = repoKey(m[1], decodeURIComponent(m[2]!));
      const branch = decodeURIComponent(m[3]!);
      const repo = repos.get(id);
      if (!repo) return fail(res, 404, 'RepoNotFound', 'Repository not found');
      const parent = repo.branches.get(branch);
      if (!parent) return fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${branch}`);
      const files = new Map(repo.commits.get(parent));
      let title = '';
      for (const line of lines) {
        const { key, value } = JSON.parse(line) as { key: string; value: Record<string, string> };
        if (key === 'header') title = value.summary ?? '';
        if (key === 'file') files.set(value.path!, Buffer.from(value.content!, 'base64'));
        if (key === 'deletedFile') files.delete(value.path!);
        if (key === 'lfsFile') {
          const bytes = lfsStore.get(value.oid!);
          if (!bytes)
            return fail(res, 422, 'MissingLfs', `LFS object ${value.oid} was never uploaded`);
          files.set(value.path!, bytes);
        }
      }
      const sha = commitFiles(repo, branch, files);
      repo.titles.set(sha, title);
      return json(res, 200, {
        success: true,
        commitOid: sha,
        commitUrl: `${url}/${id}/commit/${sha}`,
      });
    }

    fail(res, 404, 'NotFound', `No route for ${method} ${path}`);
  };

  const http: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  server.url = url;
  return server;
}

/**
 * Points the hub clients at `endpoint` with `home` as HF_HOME and `token` (none by default) as
 * HF_TOKEN, blanking the other huggingface variables a developer's shell may set. Undo with
 * `vi.unstubAllEnvs()`.
 */
export function stubHubEnv(home: string, endpoint: string, token = ''): void {
  vi.stubEnv('HF_HOME', home);
  vi.stubEnv('HF_ENDPOINT', endpoint);
  vi.stubEnv('HF_TOKEN', token);
  for (const name of [
    'HF_HUB_CACHE',
    'HUGGINGFACE_HUB_CACHE',
    'HUGGING_FACE_HUB_TOKEN',
    'HF_TOKEN_PATH',
    'HF_HUB_OFFLINE',
  ]) {
    vi.stubEnv(name, '');
  }
}

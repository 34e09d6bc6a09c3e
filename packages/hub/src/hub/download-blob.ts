import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HubApiError } from '@huggingface/hub';
import { SlimlmError } from '@slimlm/core';

export interface BlobDownload {
  /** The resolve url of the file at a fixed commit. */
  url: string;
  /** Final blob path; bytes go to `<blob>.incomplete` until they are complete and verified. */
  blob: string;
  size: number;
  /** LFS files: the sha256 of the contents. */
  sha256?: string;
  /** Other files: the git blob sha1 (of `blob <size>\0<contents>`). */
  gitOid?: string;
  /** Names the file in errors. */
  label: string;
  fetch: typeof fetch;
  onBytes?: (loaded: number) => void;
  /** Connections tried in all, resuming where the previous one stopped. */
  maxAttempts?: number;
}

/**
 * Downloads one file into the cache: appends to `<blob>.incomplete` (continuing a previous
 * interrupted download with an HTTP Range request), checks the size and checksum, and only then
 * renames it to the blob. A checksum mismatch deletes the partial file.
 */
export async function downloadBlob(job: BlobDownload): Promise<void> {
  const incomplete = `${job.blob}.incomplete`;
  await mkdir(dirname(job.blob), { recursive: true });
  const maxAttempts = job.maxAttempts ?? 5;
  const hasher = new IncrementalHash(job);
  let lastError: unknown;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    let offset = await sizeOf(incomplete);
    if (offset > job.size) {
      await truncate(incomplete, 0);
      offset = 0;
    }
    if (offset === job.size) {
      // Complete already (or empty): only the checksum is left to check.
      await (await open(incomplete, 'a')).close();
      break;
    }
    const response = await job.fetch(job.url, {
      headers: offset > 0 ? { Range: `bytes=${offset}-` } : {},
    });
    if (response.status === 416) {
      await response.body?.cancel();
      await truncate(incomplete, 0);
      continue;
    }
    if (!response.ok) throw await statusError(response);
    if (offset > 0 && response.status !== 206) {
      // The server ignored the Range header and sent the whole file.
      await truncate(incomplete, 0);
      offset = 0;
    }
    await hasher.catchUp(incomplete, offset);
    try {
      await appendBody(response, incomplete, offset, hasher, job.onBytes);
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
  }
  const written = await sizeOf(incomplete);
  if (written !== job.size) {
    const reason = lastError instanceof Error ? lastError.message : 'the connection closed early';
    if (written > job.size) await rm(incomplete, { force: true });
    throw new SlimlmError(
      'NETWORK',
      `Downloading ${job.label} stopped at ${written} of ${job.size} bytes after ${maxAttempts} tries (${reason}); ` +
        'pull again to resume.',
    );
  }
  await hasher.catchUp(incomplete, written);
  const mismatch = hasher.mismatch();
  if (mismatch) {
    await rm(incomplete, { force: true });
    throw new SlimlmError(
      'INVALID_FILE',
      `Downloaded ${job.label} does not match its checksum (${mismatch}); the partial file was deleted. ` +
        'Pull again; if it persists the server or a proxy is altering the file.',
    );
  }
  await rename(incomplete, job.blob);
}

async function appendBody(
  response: Response,
  path: string,
  offset: number,
  hasher: IncrementalHash,
  onBytes: ((loaded: number) => void) | undefined,
): Promise<void> {
  const file = await open(path, offset > 0 ? 'a' : 'w');
  let loaded = offset;
  try {
    if (!response.body) return;
    for await (const chunk of response.body) {
      const bytes = chunk as Uint8Array;
      await file.write(bytes);
      hasher.update(bytes);
      loaded += bytes.byteLength;
      onBytes?.(loaded);
    }
  } finally {
    await file.close();
  }
}

async function statusError(response: Response): Promise<HubApiError> {
  const text = await response.text().catch(() => '');
  const error = new HubApiError(
    response.url,
    response.status,
    response.headers.get('X-Request-Id') ?? undefined,
    `HTTP ${response.status}`,
  );
  let data: unknown = { message: text };
  try {
    data = JSON.parse(text);
  } catch {}
  error.data = data as HubApiError['data'];
  return error;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** The expected checksum, fed as bytes arrive; `catchUp` rehashes a prefix already on disk. */
class IncrementalHash {
  private hash: Hash;
  private hashed = 0;

  constructor(private readonly job: BlobDownload) {
    this.hash = this.fresh();
  }

  update(bytes: Uint8Array): void {
    this.hash.update(bytes);
    this.hashed += bytes.byteLength;
  }

  /** Makes the hash cover exactly the first `length` bytes of the file. */
  async catchUp(path: string, length: number): Promise<void> {
    if (this.hashed === length) return;
    this.hash = this.fresh();
    this.hashed = 0;
    if (length === 0) return;
    for await (const chunk of createReadStream(path, { start: 0, end: length - 1 })) {
      this.update(chunk as Buffer);
    }
  }

  mismatch(): string | undefined {
    const actual = this.hash.digest('hex');
    const expected = this.job.sha256 ?? this.job.gitOid;
    const kind = this.job.sha256 ? 'sha256' : 'git blob sha1';
    if (expected === undefined || actual === expected.toLowerCase()) return undefined;
    return `expected ${kind} ${expected}, got ${actual}`;
  }

  private fresh(): Hash {
    if (this.job.sha256) return createHash('sha256');
    const hash = createHash('sha1');
    if (this.job.gitOid) hash.update(`blob ${this.job.size}\0`);
    return hash;
  }
}

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import type { RepoType } from './types';

// huggingface_hub's cache layout, so that either library reuses what the other downloaded:
//   <cacheDir>/models--<org>--<name>/   (datasets--<org>--<name>/ for a dataset)
//     blobs/<etag>                  file contents; the etag is the sha256 of LFS files, the git
//                                   blob sha1 of the others
//     refs/<revision>               the commit sha the branch or tag pointed to when last resolved
//     snapshots/<commit>/<path>     relative symlinks into ../../blobs

const COMMIT_SHA = /^[0-9a-f]{40}$/;

export function isCommitSha(revision: string): boolean {
  return COMMIT_SHA.test(revision);
}

export function repoStorageFolder(
  cacheDir: string,
  repoId: string,
  repoType: RepoType = 'model',
): string {
  return join(cacheDir, [`${repoType}s`, ...repoId.split('/')].join('--'));
}

/** The commit a revision stands for in the cache: itself when it is a sha, else refs/<revision>. */
export function cachedCommit(storage: string, revision: string): string | undefined {
  if (isCommitSha(revision)) return revision;
  try {
    const commit = readFileSync(join(storage, 'refs', revision), 'utf8').trim();
    return isCommitSha(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

export async function writeRef(storage: string, revision: string, commit: string): Promise<void> {
  const refPath = join(storage, 'refs', revision);
  if (cachedCommit(storage, revision) === commit) return;
  await mkdir(dirname(refPath), { recursive: true });
  const temporary = `${refPath}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, commit);
  await rename(temporary, refPath);
}

export function snapshotFolder(storage: string, commit: string): string {
  return join(storage, 'snapshots', commit);
}

export function blobPath(storage: string, etag: string): string {
  return join(storage, 'blobs', etag);
}

/** Refuses repository paths that would land outside the snapshot folder. */
export function checkRepoPath(repoId: string, path: string): void {
  const parts = path.split(/[\\/]/);
  if (
    parts.includes('..') ||
    path.startsWith('/') ||
    path.startsWith('\\') ||
    /^[A-Za-z]:/.test(path)
  ) {
    throw new SlimlmError(
      'INVALID_FILE',
      `Repository "${repoId}" lists the file "${path}", which would be written outside the cache; refusing it.`,
    );
  }
}

/** Points snapshots/<commit>/<path> at its blob with a relative symlink, or a copy where links fail. */
export async function linkIntoSnapshot(blob: string, pointer: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  await rm(pointer, { force: true });
  const target = relative(dirname(pointer), blob);
  try {
    await symlink(target, pointer);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      // No symlinks here (Windows without the right): a copy, as huggingface_hub falls back to.
      await copyFile(blob, pointer);
    } else if ((await readlink(pointer).catch(() => '')) !== target) {
      throw error;
    }
  }
}

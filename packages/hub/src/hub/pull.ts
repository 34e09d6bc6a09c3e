import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { datasetInfo, type ListFileEntry, listFiles, modelInfo } from '@huggingface/hub';
import { SlimlmError } from '@slimlm/core';
import { downloadBlob } from './download-blob';
import { filterPaths } from './fnmatch';
import {
  blobPath,
  cachedCommit,
  checkRepoPath,
  isCommitSha,
  linkIntoSnapshot,
  repoStorageFolder,
  snapshotFolder,
  writeRef,
} from './hub-cache';
import { type HubErrorContext, hubError } from './hub-error';
import { createHubFetch } from './hub-fetch';
import { hubSettings } from './hub-settings';
import type { PullOptions, RepoType } from './types';

const REPO_ID = /^[\w.-]+(\/[\w.-]+)?$/;
// Downloads under way in this process, by blob path: two pulls of one repository share them
// instead of writing the same .incomplete file at once.
const inFlight = new Map<string, Promise<void>>();

function once(blob: string, download: () => Promise<void>): Promise<void> {
  let running = inFlight.get(blob);
  if (!running) {
    running = download().finally(() => inFlight.delete(blob));
    inFlight.set(blob, running);
  }
  return running;
}

/**
 * Downloads a model (or dataset) repository at a revision into the huggingface_hub cache and
 * returns its snapshot folder. Files already cached (by Python or by slimlm) are not downloaded again; offline
 * (`HF_HUB_OFFLINE`), or when the Hub cannot be reached, the cached snapshot is used.
 */
export async function pull(repoId: string, options: PullOptions = {}): Promise<string> {
  const repoType = options.repoType ?? 'model';
  if (repoType !== 'model' && repoType !== 'dataset') {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `pull: repoType must be "model" or "dataset", got "${String(repoType)}".`,
    );
  }
  if (!REPO_ID.test(repoId) || repoId.includes('..')) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `pull: "${repoId}" is not a ${repoType} repository id; expected "<namespace>/<name>" (or "<name>").`,
    );
  }
  const settings = hubSettings();
  const token = options.token ?? settings.token;
  const endpoint = (options.endpoint ?? settings.endpoint).replace(/\/+$/, '');
  const revision = options.revision ?? 'main';
  const storage = repoStorageFolder(
    resolve(options.cacheDir ?? settings.cacheDir),
    repoId,
    repoType,
  );
  const context: HubErrorContext = { repoId, endpoint, revision, token };
  if (options.offline ?? settings.offline) {
    const cached = cachedSnapshot(storage, revision);
    if (cached.folder) return cached.folder;
    throw new SlimlmError(
      'NETWORK',
      `Offline mode (HF_HUB_OFFLINE or offline: true) is on and "${repoId}" at revision "${revision}" ` +
        `is not in the cache: ${cached.missing} is missing. Pull it once while online, or turn offline mode off.`,
    );
  }

  const hubFetch = createHubFetch({ endpoint, token, fetch: options.fetch });
  const client = { hubUrl: endpoint, fetch: hubFetch };
  let commit: string;
  let siblings: string[] | undefined;
  try {
    ({ commit, siblings } = await revisionInfo(client, repoType, repoId, revision));
  } catch (error) {
    const failure = hubError(error, context);
    // Like huggingface_hub: when the Hub cannot be reached, a cached snapshot will do.
    const cached =
      failure.code === 'NETWORK' ? cachedSnapshot(storage, revision).folder : undefined;
    if (cached) return cached;
    throw failure;
  }
  if (!isCommitSha(commit)) {
    throw new SlimlmError(
      'NETWORK',
      `The Hub at ${endpoint} resolved "${repoId}" revision "${revision}" to no commit sha (got "${commit}").`,
    );
  }
  const snapshot = snapshotFolder(storage, commit);
  // refs/<revision> is written last, so that an interrupted pull leaves no ref to a partial snapshot.
  const finish = async () => {
    await mkdir(snapshot, { recursive: true });
    if (revision !== commit) await writeRef(storage, revision, commit);
    return snapshot;
  };
  const { allowPatterns, ignorePatterns, onProgress } = options;

  // The revision's file list came with its commit: when every wanted file is in the snapshot
  // already, nothing more has to be asked.
  if (siblings) {
    const wanted = filterPaths(siblings, allowPatterns, ignorePatterns);
    const paths = wanted.map((path) => join(snapshot, path));
    if (paths.every((path) => existsSync(path))) {
      paths.forEach((path, i) => {
        const size = statSync(path).size;
        const file = wanted[i]!;
        onProgress?.({
          file,
          loaded: size,
          total: size,
          filesDone: i + 1,
          filesTotal: wanted.length,
        });
      });
      return finish();
    }
  }

  let entries: ListFileEntry[] = [];
  try {
    for await (const entry of listFiles({
      ...client,
      repo: { type: repoType, name: repoId },
      revision: commit,
      recursive: true,
    })) {
      if (entry.type === 'file') entries.push(entry);
    }
  } catch (error) {
    throw hubError(error, context);
  }
  const keep = new Set(
    filterPaths(
      entries.map((entry) => entry.path),
      allowPatterns,
      ignorePatterns,
    ),
  );
  entries = entries.filter((entry) => keep.has(entry.path));

  for (const [i, entry] of entries.entries()) {
    const file = entry.path;
    checkRepoPath(repoId, file);
    const etag = entry.lfs?.oid ?? entry.oid;
    if (!etag) {
      throw new SlimlmError(
        'NETWORK',
        `The Hub at ${endpoint} listed "${file}" of "${repoId}" without an oid; cannot place it in the cache.`,
      );
    }
    const blob = blobPath(storage, etag);
    const total = entry.lfs?.size ?? entry.size;
    const report = (loaded: number, filesDone: number) =>
      onProgress?.({ file, loaded, total, filesDone, filesTotal: entries.length });
    if (!existsSync(blob)) {
      const url = `${endpoint}/${repoType === 'dataset' ? 'datasets/' : ''}${repoId}/resolve/${commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
      try {
        await once(blob, () =>
          downloadBlob({
            url,
            blob,
            size: total,
            ...(entry.lfs ? { sha256: entry.lfs.oid } : { gitOid: entry.oid }),
            label: `"${file}" of "${repoId}"`,
            fetch: hubFetch,
            onBytes: (loaded) => report(loaded, i),
          }),
        );
      } catch (error) {
        throw hubError(error, { ...context, file });
      }
    }
    const pointer = join(snapshot, file);
    if (!existsSync(pointer)) await linkIntoSnapshot(blob, pointer);
    report(total, i + 1);
  }
  return finish();
}

/**
 * The commit a revision is at, and for a model its file list (the Hub's dataset info has none:
 * the tree listing gives it).
 */
async function revisionInfo(
  client: { hubUrl: string; fetch: typeof fetch },
  repoType: RepoType,
  name: string,
  revision: string,
): Promise<{ commit: string; siblings?: string[] }> {
  if (repoType === 'dataset') {
    const info = await datasetInfo({ ...client, name, revision, additionalFields: ['sha'] });
    return { commit: String(info.sha ?? '') };
  }
  const info = await modelInfo({
    ...client,
    name,
    revision,
    additionalFields: ['sha', 'filePaths'],
  });
  return { commit: String(info.sha ?? ''), siblings: info.filePaths };
}

function cachedSnapshot(storage: string, revision: string): { folder?: string; missing: string } {
  const commit = cachedCommit(storage, revision);
  if (!commit) return { missing: join(storage, 'refs', revision) };
  const folder = snapshotFolder(storage, commit);
  return existsSync(folder) ? { folder, missing: '' } : { missing: folder };
}

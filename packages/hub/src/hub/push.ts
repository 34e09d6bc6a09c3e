import { openAsBlob } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { createBranch, createRepo, HubApiError, uploadFiles } from '@huggingface/hub';
import { SlimlmError } from '@slimlm/core';
import { isCommitSha } from './hub-cache';
import { type HubErrorContext, hubError } from './hub-error';
import { createHubFetch } from './hub-fetch';
import { hubSettings } from './hub-settings';
import type { PushOptions, PushResult } from './types';

const REPO_ID = /^[\w.-]+\/[\w.-]+$/;
// Like huggingface_hub's upload_folder: git internals and its own local-download metadata stay home.
const SKIPPED_FOLDERS = new Set(['.git', join('.cache', 'huggingface')]);

/**
 * Uploads every file of a folder to a model (or dataset) repository in one commit on a branch,
 * creating the repository (private when asked) and the branch if they do not exist yet.
 */
export async function push(
  folder: string,
  repoId: string,
  options: PushOptions = {},
): Promise<PushResult> {
  const repoType = options.repoType ?? 'model';
  const branch = options.branch ?? 'main';
  if (repoType !== 'model' && repoType !== 'dataset') {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `push: repoType must be "model" or "dataset", got "${String(repoType)}".`,
    );
  }
  if (!REPO_ID.test(repoId) || repoId.includes('..')) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `push: "${repoId}" is not a ${repoType} repository id; expected "<namespace>/<name>".`,
    );
  }
  if (branch.trim() === '' || isCommitSha(branch)) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `push: "${branch}" is not a branch name; commits go on a branch (default main).`,
    );
  }
  const settings = hubSettings();
  const token = options.token ?? settings.token;
  const endpoint = (options.endpoint ?? settings.endpoint).replace(/\/+$/, '');
  const context: HubErrorContext = { repoId, endpoint, revision: branch, token, access: 'write' };
  if (settings.offline) {
    throw new SlimlmError(
      'NETWORK',
      `push: offline mode (HF_HUB_OFFLINE) is on; unset it to upload to "${repoId}".`,
    );
  }
  if (!token) {
    throw new SlimlmError(
      'UNAUTHORIZED',
      `push: uploading to "${repoId}" needs a token with write access; set HF_TOKEN or log in with \`hf auth login\`.`,
    );
  }
  const root = resolve(folder);
  const files = await listFolder(root);
  if (files.length === 0) {
    throw new SlimlmError('INVALID_ARGUMENT', `push: the folder ${root} holds no files to upload.`);
  }

  const hubFetch = createHubFetch({ endpoint, token, fetch: options.fetch });
  const repo = { type: repoType, name: repoId };
  try {
    await createRepo({
      repo,
      hubUrl: endpoint,
      fetch: hubFetch,
      ...(options.private === undefined
        ? {}
        : { visibility: options.private ? 'private' : 'public' }),
      // The token travels in the Authorization header hubFetch adds, not through the client.
    } as Parameters<typeof createRepo>[0]);
  } catch (error) {
    const exists = error instanceof HubApiError && error.statusCode === 409;
    if (!exists) throw hubError(error, context);
  }
  if (branch !== 'main') {
    try {
      await createBranch({ repo, branch, revision: 'main', hubUrl: endpoint, fetch: hubFetch });
    } catch (error) {
      const exists = error instanceof HubApiError && error.statusCode === 409;
      if (!exists) throw hubError(error, context);
    }
  }
  try {
    const contents = await Promise.all(
      files.map(async (path) => ({
        path: relative(root, path).split(sep).join('/'),
        content: await openAsBlob(path),
      })),
    );
    const output = await uploadFiles({
      repo,
      branch,
      files: contents,
      commitTitle: options.commitMessage ?? `Upload ${contents.length} files with slimlm`,
      hubUrl: endpoint,
      fetch: hubFetch,
    });
    const result: PushResult = {
      url: output?.commit.url ?? `${endpoint}/${repoId}`,
      files: contents.map(({ path, content }) => ({ path, size: content.size })),
    };
    if (output?.commit.oid) result.commitOid = output.commit.oid;
    return result;
  } catch (error) {
    throw hubError(error, context);
  }
}

async function listFolder(root: string): Promise<string[]> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(root);
  } catch {
    throw new SlimlmError('NOT_FOUND', `push: the folder ${root} does not exist.`);
  }
  if (!info.isDirectory()) {
    throw new SlimlmError('INVALID_ARGUMENT', `push: ${root} is not a folder.`);
  }
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
    .filter((path) => {
      const parts = relative(root, path);
      return ![...SKIPPED_FOLDERS].some((skip) => parts === skip || parts.startsWith(skip + sep));
    })
    .sort();
}

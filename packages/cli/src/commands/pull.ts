import { readdirSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import { filterPaths, hubSettings, pull, type RepoType } from '@slimlm/hub';
import { defineCommand } from '../command';
import { formatBytes, formatInteger } from '../utils/format';
import { pullProgress } from '../utils/pull-progress';

export const REPO_TYPES = ['model', 'dataset'] as const;

/** `slimlm pull --json`: one object. */
export interface PullJson {
  repo: string;
  repo_type: RepoType;
  /** The revision asked for (default main). */
  revision: string;
  /** The commit it resolved to. */
  commit: string;
  /** The snapshot folder in the Hugging Face cache, where the files are. */
  folder: string;
  /** The files of the snapshot that --include/--exclude select, with their sizes. */
  files: { path: string; size: number }[];
  bytes: number;
}

export const pullCommand = defineCommand({
  name: 'pull',
  summary: 'Download a model or dataset repository from the Hugging Face Hub into the cache',
  description:
    "Files land in huggingface_hub's cache ($HF_HUB_CACHE, default ~/.cache/huggingface/hub), so\n" +
    'Python reuses them and the other way round; files already there are not downloaded again,\n' +
    'and an interrupted download resumes. The snapshot folder is printed. HF_TOKEN, HF_ENDPOINT\n' +
    'and HF_HUB_OFFLINE work as with huggingface_hub.',
  positionals: [{ name: 'repo', description: 'repository id, owner/name' }],
  options: {
    'repo-type': {
      type: 'string',
      choices: REPO_TYPES,
      description: 'Kind of repository (default model)',
    },
    revision: {
      type: 'string',
      placeholder: 'rev',
      description: 'Branch, tag or commit sha (default main)',
    },
    include: {
      type: 'string',
      multiple: true,
      placeholder: 'glob',
      description: "Pull only files matching this glob ('*.json', 'data/*'); repeatable",
    },
    exclude: {
      type: 'string',
      multiple: true,
      placeholder: 'glob',
      description: 'Skip files matching this glob; repeatable',
    },
    json: {
      type: 'boolean',
      description: 'Print {"repo","repo_type","revision","commit","folder","files","bytes"}',
    },
  },
  examples: [
    'slimlm pull TheBloke/Llama-2-7B-GPTQ',
    "slimlm pull Qwen/Qwen2-0.5B --include '*.json' --include '*.safetensors' --revision main",
    'slimlm pull tatsu-lab/alpaca --repo-type dataset --json | jq -r .folder',
  ],
  async run({ positionals, options }, { out }) {
    const repo = positionals[0]!;
    const repoType = (options['repo-type'] ?? 'model') as RepoType;
    const revision = options.revision ?? 'main';
    const settings = hubSettings(out.io.env as NodeJS.ProcessEnv);
    const allowPatterns = options.include.length > 0 ? options.include : undefined;
    const progress = pullProgress(out, `pulling ${repo}`);
    let folder: string;
    try {
      folder = await pull(repo, {
        repoType,
        revision,
        ...(allowPatterns ? { allowPatterns } : {}),
        ignorePatterns: options.exclude,
        ...(settings.token === undefined ? {} : { token: settings.token }),
        endpoint: settings.endpoint,
        cacheDir: settings.cacheDir,
        offline: settings.offline,
        onProgress: progress.onProgress,
      });
    } finally {
      progress.finish();
    }
    // The snapshot may hold files of earlier pulls of this commit: the same filters pick ours,
    // whether they came now, were cached already, or come from the cache alone (offline).
    const files = filterPaths(snapshotFiles(folder), allowPatterns, options.exclude).map(
      (path) => ({ path, size: statSync(join(folder, path)).size }),
    );
    if (files.length === 0) {
      const what = `${repo} (${repoType}, revision ${revision})`;
      const filters = describeFilters(options.include, options.exclude);
      throw new SlimlmError(
        'NOT_FOUND',
        settings.offline
          ? `${what} has no file${filters ? ` matching ${filters}` : ''} in the cache, and HF_HUB_OFFLINE is on: pull it once while online`
          : filters
            ? `${what} has no file matching ${filters}: check the globs (they match whole paths, like 'data/*.parquet')`
            : `${what} is empty`,
      );
    }
    const json: PullJson = {
      repo,
      repo_type: repoType,
      revision,
      commit: basename(folder),
      folder,
      files,
      bytes: files.reduce((sum, f) => sum + f.size, 0),
    };
    if (out.json) {
      out.result(json);
      return;
    }
    out.table([
      ['repo', `${repo} (${repoType})`],
      ['revision', revision === json.commit ? revision : `${revision} (commit ${json.commit})`],
      ['files', `${formatInteger(files.length)} (${formatBytes(json.bytes)})`],
      ['folder', folder],
    ]);
  },
});

/** Every file under a snapshot folder (its entries are symlinks into the blobs), sorted. */
function snapshotFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((path) => statSync(path).isFile())
    .map((path) => relative(folder, path).split(sep).join('/'))
    .sort();
}

/** '--include *.json and not --exclude tokenizer*', or '' without filters. */
function describeFilters(include: string[], exclude: string[]): string {
  return [
    include.length > 0 ? `--include ${include.join(' ')}` : '',
    exclude.length > 0 ? `not --exclude ${exclude.join(' ')}` : '',
  ]
    .filter(Boolean)
    .join(' and ');
}

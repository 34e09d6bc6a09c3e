import { resolve } from 'node:path';
import { hubSettings, push, type RepoType } from '@slimlm/hub';
import { defineCommand } from '../command';
import { formatBytes, formatInteger } from '../utils/format';
import { REPO_TYPES } from './pull';

/** `slimlm push --json`: one object. */
export interface PushJson {
  /** The folder uploaded, absolute. */
  folder: string;
  repo: string;
  repo_type: RepoType;
  /** The branch committed to. */
  revision: string;
  /** The new commit's sha (null when the Hub returns none). */
  commit: string | null;
  url: string;
  files: { path: string; size: number }[];
  bytes: number;
}

export const pushCommand = defineCommand({
  name: 'push',
  summary: 'Upload a folder to a Hugging Face Hub repository in one commit',
  description:
    'Creates the repository when it does not exist (public unless --private; an existing one keeps\n' +
    'its visibility) and commits every file of the folder, except .git/ and .cache/huggingface/, on\n' +
    'the branch --revision (default main; a missing branch is created from main first). Weights\n' +
    'go through LFS as on the Hub. Needs a token with write access: HF_TOKEN or `hf auth login`.',
  positionals: [
    { name: 'folder', description: 'the folder to upload (a checkpoint, an adapter, a dataset)' },
    { name: 'repo', description: 'repository id, owner/name' },
  ],
  options: {
    'repo-type': {
      type: 'string',
      choices: REPO_TYPES,
      description: 'Kind of repository (default model)',
    },
    revision: {
      type: 'string',
      placeholder: 'branch',
      description: 'Branch to commit to (default main; created from main when missing)',
    },
    private: {
      type: 'boolean',
      description: 'Create the repository private (an existing one is left as it is)',
    },
    message: {
      type: 'string',
      placeholder: 'text',
      description: "Commit message (default 'Upload <n> files with slimlm')",
    },
    json: {
      type: 'boolean',
      description: 'Print {"folder","repo","repo_type","revision","commit","url","files","bytes"}',
    },
  },
  examples: [
    'slimlm push ./wikillama-4bit me/wikillama-gptq-4bit --private',
    "slimlm push ./adapter me/llama-lora --revision experiment --message 'LoRA r=8 on alpaca'",
    'slimlm push ./my-texts me/my-texts --repo-type dataset --json',
  ],
  async run({ positionals, options }, { out }) {
    const [folderArgument, repo] = positionals as [string, string];
    const folder = resolve(out.io.cwd, folderArgument);
    const repoType = (options['repo-type'] ?? 'model') as RepoType;
    const revision = options.revision ?? 'main';
    const settings = hubSettings(out.io.env as NodeJS.ProcessEnv);
    out.diag(`uploading ${folder} to ${repo} (${repoType}, ${revision}) on ${settings.endpoint}`);
    const result = await push(folder, repo, {
      repoType,
      branch: revision,
      ...(options.private ? { private: true } : {}),
      ...(options.message === undefined ? {} : { commitMessage: options.message }),
      ...(settings.token === undefined ? {} : { token: settings.token }),
      endpoint: settings.endpoint,
    });
    const json: PushJson = {
      folder,
      repo,
      repo_type: repoType,
      revision,
      commit: result.commitOid ?? null,
      url: result.url,
      files: result.files,
      bytes: result.files.reduce((sum, f) => sum + f.size, 0),
    };
    if (out.json) {
      out.result(json);
      return;
    }
    out.table([
      ['repo', `${repo} (${repoType})`],
      ['revision', json.commit ? `${revision} (commit ${json.commit})` : revision],
      ['files', `${formatInteger(json.files.length)} (${formatBytes(json.bytes)})`],
      ['url', json.url],
    ]);
  },
});

/** Where the Hub cache lives, which token and endpoint to use, and whether the network is allowed. */
export interface HubSettings {
  /** `$HF_HOME`, default `$XDG_CACHE_HOME/huggingface` or `~/.cache/huggingface`. */
  hfHome: string;
  /** `$HF_HUB_CACHE` (or legacy `$HUGGINGFACE_HUB_CACHE`), default `$HF_HOME/hub`. */
  cacheDir: string;
  /** `$HF_TOKEN`, `$HUGGING_FACE_HUB_TOKEN`, or the `$HF_HOME/token` file written by `hf auth login`. */
  token?: string;
  /** `$HF_HUB_OFFLINE` is 1/true/yes/on: resolve from the cache only. */
  offline: boolean;
  /** `$HF_ENDPOINT`, default `https://huggingface.co`, without a trailing slash. */
  endpoint: string;
}

/** The kinds of Hub repository slimlm reads and writes. */
export type RepoType = 'model' | 'dataset';

/** One progress report of {@link pull}: bytes of the current file and files finished so far. */
export interface PullProgress {
  file: string;
  loaded: number;
  total: number;
  filesDone: number;
  filesTotal: number;
}

export interface PullOptions {
  /** Default `model`; a dataset lives under `datasets/` on the Hub and `datasets--` in the cache. */
  repoType?: RepoType;
  /** Branch, tag or commit sha; default `main`. */
  revision?: string;
  /** fnmatch-style globs as in huggingface_hub (`*.json`, `*.safetensors`, `tokenizer*`): keep only matching files. */
  allowPatterns?: string[];
  /** fnmatch-style globs: skip matching files. */
  ignorePatterns?: string[];
  token?: string;
  endpoint?: string;
  cacheDir?: string;
  offline?: boolean;
  fetch?: typeof fetch;
  onProgress?: (progress: PullProgress) => void;
}

export interface PushOptions {
  /** Default `model`. */
  repoType?: RepoType;
  /**
   * The branch to commit to, default `main`; one that does not exist yet is created from the
   * head of `main` first, as huggingface_hub's push_to_hub does.
   */
  branch?: string;
  /** Visibility when the repository has to be created; an existing one is left as it is. */
  private?: boolean;
  commitMessage?: string;
  token?: string;
  endpoint?: string;
  fetch?: typeof fetch;
}

export interface PushResult {
  commitOid?: string;
  /** The commit's page, or the repository's when the Hub returns no commit url. */
  url: string;
  /** The files uploaded: their paths in the repository and sizes in bytes. */
  files: { path: string; size: number }[];
}

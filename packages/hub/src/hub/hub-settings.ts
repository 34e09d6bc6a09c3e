import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { HubSettings } from './types';

const DEFAULT_ENDPOINT = 'https://huggingface.co';

/**
 * The Hub settings huggingface_hub reads from the environment, with the same defaults, so that
 * both share one cache and one login.
 */
export function hubSettings(env: NodeJS.ProcessEnv = process.env): HubSettings {
  const hfHome = expandHome(
    nonEmpty(env.HF_HOME) ??
      join(nonEmpty(env.XDG_CACHE_HOME) ?? join(homedir(), '.cache'), 'huggingface'),
  );
  const cacheDir = expandHome(
    nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE) ?? join(hfHome, 'hub'),
  );
  const token =
    nonEmpty(env.HF_TOKEN) ??
    nonEmpty(env.HUGGING_FACE_HUB_TOKEN) ??
    readTokenFile(expandHome(nonEmpty(env.HF_TOKEN_PATH) ?? join(hfHome, 'token')));
  const endpoint = (nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const settings: HubSettings = {
    hfHome,
    cacheDir,
    offline: isTrue(env.HF_HUB_OFFLINE),
    endpoint,
  };
  if (token !== undefined) settings.token = token;
  return settings;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

// huggingface_hub's `_is_true`: case-insensitive 1 / ON / YES / TRUE.
function isTrue(value: string | undefined): boolean {
  return ['1', 'on', 'yes', 'true'].includes(value?.trim().toLowerCase() ?? '');
}

function expandHome(path: string): string {
  if (path === '~' || path.startsWith('~/')) return resolve(homedir(), path.slice(2));
  return resolve(path);
}

function readTokenFile(path: string): string | undefined {
  try {
    return nonEmpty(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

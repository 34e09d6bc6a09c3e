import { BACKENDS } from './utils/backend';

/** Options that every command taking a <model> shares, so that they read the same everywhere. */
export const MODEL_OPTIONS = {
  revision: {
    type: 'string',
    placeholder: 'rev',
    description: 'Hub branch, tag or commit for a Hub id (default main)',
  },
} as const;

/** `--backend`, for commands that run a model. */
export const BACKEND_OPTION = {
  backend: {
    type: 'string',
    choices: BACKENDS,
    description: 'Kernels to run on (default: cpu when its native addon loads)',
  },
} as const;

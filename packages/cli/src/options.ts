/** Options that every command taking a <model> shares, so that they read the same everywhere. */
export const MODEL_OPTIONS = {
  revision: {
    type: 'string',
    placeholder: 'rev',
    description: 'Hub branch, tag or commit for a Hub id (default main)',
  },
} as const;

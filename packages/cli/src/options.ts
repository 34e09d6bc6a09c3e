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

/**
 * `--activations`, for commands that run a model forward (generate, eval, bench): the arithmetic of
 * GPTQ layers (@slimlm/gptq setQuantActivations).
 */
export const ACTIVATIONS_OPTION = {
  activations: {
    type: 'string',
    choices: ['f32', 'int8'],
    description:
      "GPTQ layers multiply f32 activations (default) or int8 ones quantized per block, as onnxruntime's accuracy_level 4 (faster prefill with AVX512-VNNI, ppl +0.01-0.02% on wikillama)",
  },
} as const;

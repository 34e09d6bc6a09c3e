import { loadAddon, type NativeAddon } from './native';

// From src/ (tests) and dist/ (the package) alike the addon is one level up; a bundle carried to
// another machine names it with SLIMLM_CUDA_ADDON.
const loaded = loadAddon(
  import.meta.url,
  process.env.SLIMLM_CUDA_ADDON ?? '../build/Release/slimlm_cuda.node',
);

/** The CUDA addon, or undefined when it was not built (no nvcc) or could not be loaded here. */
export const native: NativeAddon | undefined = 'addon' in loaded ? loaded.addon : undefined;

/** Why the addon is unavailable, when it is. */
export const loadError: string | undefined = 'error' in loaded ? loaded.error : undefined;

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of @slimlm/models (the one holding its package.json), found from this file whether it
 * runs from src/ (tests) or from dist/ (ESM, or CJS through tsup's import.meta.url shim).
 */
function packageRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(folder, 'package.json');
    if (existsSync(manifest)) {
      const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string };
      if (name === '@slimlm/models') return folder;
    }
    const parent = dirname(folder);
    if (parent === folder) return dirname(fileURLToPath(import.meta.url));
    folder = parent;
  }
}

/** Models shipped inside the package, loadable by name without a network. */
export const BUILTIN_MODELS: Record<string, { folder: string; description: string }> = {
  wikillama: {
    folder: join(packageRoot(), 'assets', 'wikillama-7m'),
    description:
      'wikillama-7m: a small trained Llama (6.8M parameters, f16, 4096-token vocabulary) for tests and demos',
  },
};

import { defineConfig } from 'tsup';

// @slimlm/core is a peer dependency, so tsup leaves it external: the plugin must register into
// the application's copy of core, never a bundled second one with registries of its own.
export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});

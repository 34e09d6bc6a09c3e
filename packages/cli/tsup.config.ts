import { defineConfig } from 'tsup';

// ESM only: the package is the `slimlm` command (bin/slimlm.mjs imports dist/index.js) plus
// `main(argv, io)` for tests and scripts.
export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});

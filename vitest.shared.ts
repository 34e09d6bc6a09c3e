import { defineConfig } from 'vitest/config';

// One test configuration for every package: results land in .test-results/ as JSON, which
// tools/run-tests.mjs sums into the closing line CI reads, and which nx caches as the target output.
export const sharedTestConfig = defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results/vitest.json' },
    testTimeout: 60_000,
    pool: 'threads',
  },
});

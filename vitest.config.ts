import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Whole-cluster tests share 2 cores: files run one at a time so timings stay meaningful.
    fileParallelism: false,
    pool: 'forks',
    reporters: ['default'],
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests start real brokers and child processes; two cores do not like a dozen at once.
    maxWorkers: 2,
    pool: 'forks',
  },
});

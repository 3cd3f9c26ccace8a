import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Image builders and real mounts share the cache folder; run files one at a time
    // so two builders never race on the same image.
    fileParallelism: false,
    reporters: ['default'],
  },
});

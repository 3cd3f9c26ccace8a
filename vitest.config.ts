import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Image builders and real mounts share the cache folder; run files one at a time
    // so two builders never race on the same image.
    fileParallelism: false,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        // Mounts go through diskpick's libfuse3 binding: the build made it (the test tools
        // include gcc and libfuse3-dev), and a mount without it fails instead of falling back.
        test: { name: 'diskpick', include: ['test/**/*.test.ts', 'test/**/*.test.tsx'], env: { DISKPICK_FUSE: 'libfuse3' } },
      },
      {
        extends: true,
        // The same mount tests through fuse-native (libfuse2), what a machine without the
        // binding uses.
        test: { name: 'fuse-libfuse2', include: ['test/fuse/**/*.test.ts'], env: { DISKPICK_FUSE: 'libfuse2' } },
      },
    ],
  },
});

import { defineConfig } from 'vitest/config';

/**
 * `npm run test:unit`: the fast tier. Tests that need only committed bytes (small fixtures,
 * fuzz cases, pure functions): no Debian tools, no build, no image builders, seconds to run.
 * `npm test` stays the whole suite against the real tools. A test belongs here when it reads
 * nothing from .cache/ and runs no external program.
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    reporters: ['default'],
    include: [
      'test/layers.test.ts',
      'test/source/lru.test.ts',
      'test/source/bytes.test.ts',
      'test/source/extents.test.ts',
      'test/container/inflate.test.ts',
      'test/volume/gpt-crc.test.ts',
      'test/fuse/inodes.test.ts',
      'test/fuzz/regressions.test.ts',
      'test/tui/state.test.ts',
      'test/tui/keys.test.ts',
      'test/ntfs/indx.test.ts',
    ],
  },
});

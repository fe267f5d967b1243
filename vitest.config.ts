// vitest.config.ts
// Test runner set-up: real MinIO via global setup, generous timeouts for multi-process tests.

import { defineConfig } from 'vitest/config';
import { LongestFirstSequencer } from './test/helpers/sequencer.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 30 * 60_000, // the first run builds MinIO
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    // Longest files first, also in a fresh clone without vitest's cached durations (test/helpers/sequencer.ts).
    sequence: { sequencer: LongestFirstSequencer },
    reporters: ['default'],
    // As bin/runtime.mjs does: the SDK's notice about its future Node 22 floor is noise in test logs.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});

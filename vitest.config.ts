import { defineConfig } from "vitest/config";

/**
 * Two groups, one after the other. The integration files each start their own anvil chains: two at a time fits a
 * 2-core machine. The load files (1,000 SSE subscribers on one indexer; a 10,000-attempt subscription storm on a
 * replica) saturate such a machine on their own, so they run last, one at a time: beside other files their
 * connects timed out in CI runs.
 */
const LOAD = ["test/feed.test.ts", "test/replicas.test.ts"];

const shared = { testTimeout: 120_000, hookTimeout: 180_000 };

export default defineConfig({
  test: {
    // PostgreSQL started and Chromium installed when missing (test/setup/machine.ts), once before every file.
    globalSetup: ["test/setup/machine.ts"],
    maxWorkers: 2,
    projects: [
      { test: { ...shared, name: "suite", include: ["test/**/*.test.ts"], exclude: LOAD, sequence: { groupOrder: 0 } } },
      { test: { ...shared, name: "load", include: LOAD, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Integration files each start their own anvil chains; two at a time fits a 2-core machine.
    maxWorkers: 2,
  },
});

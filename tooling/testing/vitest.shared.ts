import { defineConfig } from "vitest/config"

/**
 * The vitest preset every package extends: node environment, real services, generous timeouts for
 * tests that start servers, browsers and child processes, and no silent skips.
 *
 * @since 0.1.0
 */
export default defineConfig({
  test: {
    environment: "node",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    passWithNoTests: false,
    allowOnly: false,
    // The JSON report lets .ci/run print one "N passed, N failed" line for the whole workspace.
    reporters: ["default", ["json", { outputFile: ".vitest-results.json" }]],
    sequence: { concurrent: false }
  }
})

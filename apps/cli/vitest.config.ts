import shared from "@nexus/testing/vitest"
import { defineConfig, mergeConfig } from "vitest/config"

// Each test runs several `nexus` child processes one after another; under a full CI run (every
// package's tests at once on 2 cores) each start can take seconds. The test files run one after
// another: at once, their children starved each other (a --help check took 32 s).
export default mergeConfig(
  shared,
  defineConfig({ test: { testTimeout: 120_000, fileParallelism: false, globalSetup: ["test/bundle.setup.ts"] } })
)

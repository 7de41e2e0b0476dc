import shared from "@nexus/testing/vitest"
import { defineConfig, mergeConfig } from "vitest/config"

export default mergeConfig(shared, defineConfig({}))

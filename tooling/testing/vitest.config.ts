import shared from "./vitest.shared.ts"
import { defineConfig, mergeConfig } from "vitest/config"

export default mergeConfig(shared, defineConfig({}))

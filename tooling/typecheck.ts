// Runs TypeScript 7 with the Effect language service built in (@effect/tsgo), so that the Effect
// diagnostics (floating effects, missing contexts, outdated Effect 3 APIs…) fail `pnpm check`.
// The compiler's path comes from `effect-tsgo get-exe-path` (its lib/getExePath export rejects the
// upstream.json schema that the 0.45.0 platform packages ship).
import { execFileSync, spawnSync } from "node:child_process"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

const require = createRequire(import.meta.url)
const cli = join(dirname(require.resolve("@effect/tsgo/package.json")), "dist/effect-tsgo.cjs")
const tsc = execFileSync(process.execPath, [cli, "get-exe-path"], { encoding: "utf8" }).trim()
const result = spawnSync(tsc, process.argv.slice(2), { stdio: "inherit" })
if (result.error) throw result.error
process.exit(result.status ?? 1)

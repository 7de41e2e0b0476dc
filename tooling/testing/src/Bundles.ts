/**
 * The binaries as they ship, for the tests that run them: an app's bundle built from its sources
 * (what `pnpm build` makes), before every run, so that a stale one is never what passes.
 *
 * @since 0.1.0
 */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"

/**
 * Builds `dist/<name>.mjs` (and its bundle) of the app at `appDir` from `src/bin.ts`.
 *
 * @since 0.1.0
 * @category building
 */
export const build = (appDir: URL, name: string): void => {
  execFileSync(process.execPath, ["../../tooling/build.ts", "src/bin.ts", `dist/${name}.mjs`], {
    cwd: fileURLToPath(appDir),
    stdio: ["ignore", "ignore", "inherit"]
  })
}

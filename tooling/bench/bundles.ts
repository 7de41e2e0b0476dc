// The binaries as they ship: the bundles `pnpm build` makes of `nexus-worker` and `nexus`, built
// here when missing or older than a source file (apps/ and packages/, tests and dependencies aside),
// so that a bench or a chaos run never measures a stale one and never builds twice for nothing.
import { execFileSync } from "node:child_process"
import { readdirSync, statSync } from "node:fs"
import { join } from "node:path"

export const root = new URL("../../", import.meta.url).pathname

/** Each app's bundle: its launcher's name in apps/<app>/dist. */
export const BUNDLES = [
  ["worker", "nexus-worker"],
  ["cli", "nexus"]
] as const

/** The launcher of an app's bundle (`apps/<app>/dist/<name>.mjs`). */
export const bundle = (app: (typeof BUNDLES)[number][0]) =>
  join(root, "apps", app, "dist", `${BUNDLES.find(([name]) => name === app)![1]}.mjs`)

/** The newest modification time under `dir` of the files a bundle is built from. */
const newest = (dir: string): number => {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    // Dotfiles are tools' output (every vitest run writes .vitest-results.json), never a source.
    if (entry.name === "node_modules" || entry.name === "dist" || entry.name === "test" || entry.name.startsWith("."))
      continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) latest = Math.max(latest, newest(path))
    else if (/\.(ts|json)$/.test(entry.name)) latest = Math.max(latest, statSync(path).mtimeMs)
  }
  return latest
}

const mtime = (path: string) => {
  try {
    return statSync(path).mtimeMs
  } catch {
    return 0
  }
}

/** Builds the bundles that are missing or older than a source file. */
export const freshBundles = () => {
  const sources = Math.max(newest(join(root, "apps")), newest(join(root, "packages")))
  for (const [app, name] of BUNDLES) {
    if (mtime(join(root, "apps", app, "dist", `${name}.bundle.mjs`)) > sources) continue
    console.log(`building apps/${app}/dist/${name}.mjs (a source is newer than it)`)
    execFileSync(process.execPath, ["../../tooling/build.ts", "src/bin.ts", `dist/${name}.mjs`], {
      cwd: join(root, "apps", app),
      stdio: ["ignore", "ignore", "inherit"]
    })
  }
}

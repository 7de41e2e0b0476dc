// The tests run `nexus-worker` as it ships: the bundle (`pnpm build`), rebuilt from the sources
// before every run so that a stale one is never what passes.
import { execFileSync } from "node:child_process"

export default function setup() {
  execFileSync(process.execPath, ["../../tooling/build.ts", "src/bin.ts", "dist/nexus-worker.mjs"], {
    cwd: new URL("..", import.meta.url).pathname,
    stdio: ["ignore", "ignore", "inherit"]
  })
}

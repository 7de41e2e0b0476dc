// `nexus` as a user installs it: the bundle packed by pnpm (`pnpm pack`, which applies the
// publishConfig: the bin is dist/nexus.mjs), installed globally by npm into a prefix of its own,
// then run from there — help, version, and the embedded PostgreSQL from the installed package.
import { assert, describe, it } from "@effect/vitest"
import { Embedded } from "@nexus/database"
import { Npm } from "@nexus/testing"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { tempDir } from "./helpers.ts"

const app = new URL("..", import.meta.url).pathname
const run = (file: string, args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}) =>
  // Bounded: a synchronous child that hangs (an npm that cannot reach its registry) would block the
  // event loop, and with it the test's own timeout.
  execFileSync(file, args, {
    cwd: app,
    encoding: "utf8",
    env: { ...process.env, ...env },
    stdio: "pipe",
    timeout: 150_000
  })

describe("the packed nexus", () => {
  it.live(
    "pnpm pack, then npm i -g from the tarball: nexus runs from the install, embedded PostgreSQL included",
    () =>
      Effect.gen(function* () {
        // The bundle it packs is the one test/bundle.setup.ts built before the run.
        const packed = tempDir("nexus-pack-")
        run("pnpm", ["pack", "--pack-destination", packed])
        const [tarball] = readdirSync(packed)
        assert.match(tarball!, /^nexus-cli-.*\.tgz$/)
        const prefix = tempDir("nexus-global-")
        // The machine's npm (./dev needs one), reading the machine's registry settings (Npm.machineConfig);
        // the PostgreSQL binaries come from the registry or its cache.
        run(
          "npm",
          [
            "install",
            "--global",
            "--prefix",
            prefix,
            "--no-audit",
            "--no-fund",
            "--prefer-offline",
            join(packed, tarball!)
          ],
          Npm.machineConfig()
        )
        const nexus = join(prefix, "bin", "nexus")

        assert.match(run(nexus, ["--version"]), /\d+\.\d+\.\d+/)
        assert.include(run(nexus, ["--help"]), "nexus <subcommand>")
        const dataDir = tempDir("nexus-global-data-")
        yield* Effect.addFinalizer(() => Effect.ignore(Embedded.EmbeddedPostgres.make(dataDir).destroy))
        assert.include(run(nexus, ["db", "start"], { NEXUS_DATA_DIR: dataDir }), "Started the embedded PostgreSQL")
        assert.strictEqual(
          JSON.parse(run(nexus, ["db", "status", "--json"], { NEXUS_DATA_DIR: dataDir })).state,
          "running"
        )
        assert.include(run(nexus, ["db", "stop"], { NEXUS_DATA_DIR: dataDir }), "Stopped the embedded PostgreSQL")
      }).pipe(Effect.scoped),
    180_000
  )
})

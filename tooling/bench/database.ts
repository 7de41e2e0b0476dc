// The PostgreSQL server `./dev bench` and `./dev chaos` run against: the one `DATABASE_URL` names
// when it is set, otherwise an embedded server (`@nexus/database`'s) in a throwaway data directory,
// started here and destroyed at the end. Either way `DATABASE_URL` is set for this process and the
// children it starts: every bench creates its scratch databases on that server.
import { Embedded } from "@nexus/database"
import { Effect, Redacted } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface BenchDatabase {
  /** What it is, for the report: "embedded PostgreSQL 18 (…)" or "DATABASE_URL (host:port)". */
  readonly description: string
  /** The server's URL (its admin database): what `DATABASE_URL` is set to. */
  readonly url: string
  /** Whether the server can be restarted here (the embedded one; a system one with `NEXUS_CHAOS_RESTART_CMD`). */
  readonly restartable: boolean
  /** Stops the server and starts it again (connections are cut meanwhile). */
  readonly restart: () => Promise<void>
  /** Stops and deletes an embedded server; leaves a `DATABASE_URL` one alone. */
  readonly close: () => Promise<void>
}

/** Where a URL points, without its password. */
const where = (url: string) => {
  // Not `new URL` unguarded: its error would print the whole URL, password included.
  try {
    const parsed = new URL(url)
    return `${parsed.hostname}:${parsed.port || "5432"}`
  } catch {
    return "an unparsable URL"
  }
}

/** Opens the server (starting an embedded one when `DATABASE_URL` is not set) and sets `DATABASE_URL`. */
export const openDatabase = async (): Promise<BenchDatabase> => {
  const given = process.env["DATABASE_URL"]
  if (given !== undefined && given !== "") {
    const command = process.env["NEXUS_CHAOS_RESTART_CMD"]
    return {
      description: `DATABASE_URL (${where(given)})`,
      url: given,
      restartable: command !== undefined && command !== "",
      restart: async () => {
        if (command === undefined || command === "") {
          throw new Error(
            "restarting the DATABASE_URL server needs NEXUS_CHAOS_RESTART_CMD (e.g. 'pg_ctlcluster 15 main restart')"
          )
        }
        execFileSync("sh", ["-c", command], { stdio: ["ignore", "ignore", "inherit"] })
      },
      close: async () => {}
    }
  }
  const dataDir = mkdtempSync(join(tmpdir(), "nexus-bench-db-"))
  const server = Embedded.EmbeddedPostgres.make(dataDir)
  const started = await Effect.runPromise(server.start).catch((error: unknown) => {
    rmSync(dataDir, { recursive: true, force: true })
    throw error
  })
  const url = Redacted.value(await Effect.runPromise(server.url))
  process.env["DATABASE_URL"] = url
  const status = await Effect.runPromise(server.status)
  let closing: Promise<void> | undefined
  return {
    description: `embedded PostgreSQL ${status.version ?? "?"} (127.0.0.1:${started.port})`,
    url,
    restartable: true,
    restart: async () => {
      await Effect.runPromise(server.stop)
      await Effect.runPromise(server.start)
    },
    // Once, however many ask (a signal handler and the run's own end may both).
    close: () =>
      (closing ??= (async () => {
        await Effect.runPromise(Effect.ignore(server.destroy))
        rmSync(dataDir, { recursive: true, force: true })
      })())
  }
}

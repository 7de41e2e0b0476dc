// The embedded PostgreSQL server for real: created on first use under a scratch data dir, shared by
// processes started at once, recovered after SIGKILLs (of a process creating it, of the server),
// run as root (through the postgres account) and as a normal user. Every test deletes its server.
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Queue, Redacted } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { Database } from "../src/Database.ts"
import * as Embedded from "../src/Embedded.ts"
import * as internal from "../src/internal/embedded.ts"

const FIXTURE = new URL("./fixtures/embedded.ts", import.meta.url).pathname

interface Outcome {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** `node fixtures/embedded.ts args…` as a process of its own; `onStart` sees it as soon as it runs. */
const fixture = (
  args: ReadonlyArray<string>,
  options: { readonly uid?: number; readonly gid?: number; readonly preload?: string } = {},
  onStart: (pid: number) => void = () => {}
) =>
  Effect.promise(
    () =>
      new Promise<Outcome>((resolve) => {
        const child = spawn(
          process.execPath,
          [...(options.preload === undefined ? [] : ["--import", options.preload]), FIXTURE, ...args],
          {
            stdio: ["ignore", "pipe", "pipe"],
            ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid! })
          }
        )
        onStart(child.pid!)
        let stdout = ""
        let stderr = ""
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
        child.once("close", (code) => resolve({ code, stdout, stderr }))
      })
  )

/** A fresh data dir whose server is deleted (stopped, its files removed) when the test ends. */
const scratch = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = fs.mkdtempSync(join(tmpdir(), "nexus-embedded-"))
    return { dir, server: Embedded.EmbeddedPostgres.make(dir), at: internal.layout(dir) }
  }),
  ({ dir, server }) =>
    Effect.andThen(
      Effect.ignore(server.destroy),
      Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
)

/** Runs `effect` with a PgClient on the server's URL. */
const withClient = <A, E>(url: Redacted.Redacted<string>, effect: Effect.Effect<A, E, PgClient.PgClient>) =>
  effect.pipe(Effect.provide(Database.layerUrl(Redacted.value(url))))

const isRoot = process.getuid?.() === 0

describe("the embedded PostgreSQL", () => {
  it.live(
    "created on first use: a real server on 127.0.0.1 with a generated password; LISTEN/NOTIFY work; stop keeps the data for the next start, on the same port",
    () =>
      Effect.gen(function* () {
        const { server, at } = yield* scratch
        const before = yield* server.status
        assert.strictEqual(before.state, "absent")

        const first = yield* server.start
        assert.isTrue(first.started)
        const url = yield* server.url
        assert.match(Redacted.value(url), new RegExp(`^postgres://nexus:[^@]+@127\\.0\\.0\\.1:${first.port}/nexus$`))
        assert.strictEqual(fs.statSync(join(at.state, "password")).mode & 0o777, 0o600)
        assert.strictEqual(fs.statSync(at.state).mode & 0o777, 0o700)
        // Root cannot run PostgreSQL: its cluster belongs to the postgres account.
        if (isRoot) assert.notStrictEqual(fs.statSync(at.cluster).uid, 0)

        const heard = yield* withClient(
          url,
          Effect.gen(function* () {
            const sql = yield* PgClient.PgClient
            assert.match((yield* sql<{ readonly v: string }>`SELECT version() AS v`)[0]!.v, /^PostgreSQL 18\./)
            yield* sql`CREATE TABLE kept (n int)`
            yield* sql`INSERT INTO kept VALUES (42)`
            const notifications = yield* sql.listen("nexus_embedded_test")
            yield* sql`SELECT pg_notify('nexus_embedded_test', 'hello')`
            return yield* Queue.take(notifications)
          }).pipe(Effect.scoped)
        )
        assert.strictEqual(heard.payload, "hello")

        const again = yield* server.start
        assert.deepStrictEqual(again, { port: first.port, pid: first.pid, started: false })
        assert.strictEqual((yield* server.status).state, "running")

        assert.isTrue(yield* server.stop)
        assert.strictEqual((yield* server.status).state, "stopped")
        assert.isFalse(yield* server.stop)

        const restarted = yield* server.start
        assert.isTrue(restarted.started)
        assert.strictEqual(restarted.port, first.port)
        const kept = yield* withClient(
          yield* server.url,
          Effect.gen(function* () {
            const sql = yield* PgClient.PgClient
            return yield* sql<{ readonly n: number }>`SELECT n FROM kept`
          })
        )
        assert.deepStrictEqual(kept, [{ n: 42 }])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "two processes starting it at once make one server, and both connect to it",
    () =>
      Effect.gen(function* () {
        const { dir, server } = yield* scratch
        const [a, b] = yield* Effect.all([fixture(["start", dir]), fixture(["start", dir])], {
          concurrency: "unbounded"
        })
        assert.strictEqual(a.code, 0, a.stderr)
        assert.strictEqual(b.code, 0, b.stderr)
        const [first, second] = [JSON.parse(a.stdout), JSON.parse(b.stdout)]
        assert.strictEqual(first.pid, second.pid)
        assert.strictEqual(first.port, second.port)
        assert.deepStrictEqual([first.started, second.started].sort(), [false, true])
        assert.isNumber(first.backend)
        assert.isNumber(second.backend)
        assert.strictEqual((yield* server.status).pid, first.pid)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a process killed while creating it leaves its lock and a half-made cluster: the next start takes over and creates it",
    () =>
      Effect.gen(function* () {
        const { dir, server, at } = yield* scratch
        let victim = 0
        const killed = yield* Effect.forkChild(fixture(["start", dir], {}, (pid) => (victim = pid)))
        // Killed once it holds the lock and initdb is writing its cluster.
        yield* Effect.promise(async () => {
          for (let waited = 0; waited < 30_000; waited += 20) {
            const building =
              fs.existsSync(at.home) && fs.readdirSync(at.home).some((entry) => /^cluster\.\d+$/.test(entry))
            if (building && fs.existsSync(join(at.state, "lock"))) break
            await new Promise((resolve) => setTimeout(resolve, 20))
          }
        })
        process.kill(victim, "SIGKILL")
        const outcome = yield* Fiber.join(killed)
        assert.isNull(outcome.code)
        assert.strictEqual(fs.readFileSync(join(at.state, "lock"), "utf8").split(" ")[0], String(victim))

        const started = yield* server.start
        assert.isTrue(started.started)
        assert.isFalse(fs.existsSync(join(at.state, "lock")))
        assert.deepStrictEqual(
          fs.readdirSync(at.home).filter((entry) => entry.startsWith("cluster")),
          ["cluster"]
        )
        const rows = yield* withClient(
          yield* server.url,
          Effect.flatMap(PgClient.PgClient, (sql) => sql`SELECT current_database() AS db`)
        )
        assert.deepStrictEqual(rows, [{ db: "nexus" }])
      }).pipe(Effect.scoped),
    90_000
  )

  it.live(
    "the server killed with SIGKILL, and the process that started it killed too: the next start recovers, data intact",
    () =>
      Effect.gen(function* () {
        const { dir, server } = yield* scratch
        let owner = 0
        const holding = yield* Effect.forkChild(fixture(["hold", dir], {}, (pid) => (owner = pid)))
        const started = yield* Effect.promise(async () => {
          for (let waited = 0; waited < 30_000; waited += 50) {
            const now = internal.running(internal.layout(dir))
            if (now?.ready) return now
            await new Promise((resolve) => setTimeout(resolve, 50))
          }
          throw new Error("the fixture never started the server")
        })
        yield* withClient(
          yield* server.url,
          Effect.flatMap(PgClient.PgClient, (sql) => sql`CREATE TABLE survived (n int)`)
        )
        // The owner dies; the server it started serves on.
        process.kill(owner, "SIGKILL")
        yield* Fiber.join(holding)
        assert.strictEqual((yield* server.status).state, "running")
        // Then the server itself dies without a shutdown.
        process.kill(started.pid, "SIGKILL")
        yield* Effect.sleep("100 millis")
        assert.notStrictEqual((yield* server.status).state, "running")

        const again = yield* fixture(["start", dir])
        assert.strictEqual(again.code, 0, again.stderr)
        const recovered = JSON.parse(again.stdout)
        assert.isTrue(recovered.started)
        assert.notStrictEqual(recovered.pid, started.pid)
        const rows = yield* withClient(
          yield* server.url,
          Effect.flatMap(PgClient.PgClient, (sql) => sql`SELECT count(*)::int AS n FROM survived`)
        )
        assert.deepStrictEqual(rows, [{ n: 0 }])
      }).pipe(Effect.scoped),
    90_000
  )

  it.live(
    "as a normal user (nobody, when the tests run as root): the cluster lives in the data dir and belongs to that user",
    () =>
      Effect.gen(function* () {
        const { dir, at } = yield* scratch
        const user = isRoot ? { uid: 65534, gid: 65534 } : undefined
        if (user !== undefined) {
          fs.chownSync(dir, user.uid, user.gid)
          // nobody must reach node, this checkout and the data dir: directories only root could
          // enter are opened to others for the test (their mode restored after).
          const closed: Array<[string, number]> = []
          for (const start of [dirname(FIXTURE), dirname(process.execPath)]) {
            for (let path = start; path !== "/"; path = dirname(path)) {
              const mode = fs.statSync(path).mode & 0o777
              if ((mode & 0o001) === 0 && !closed.some(([seen]) => seen === path)) closed.push([path, mode])
            }
          }
          yield* Effect.acquireRelease(
            Effect.sync(() => closed.forEach(([path, mode]) => fs.chmodSync(path, mode | 0o001))),
            () => Effect.sync(() => closed.forEach(([path, mode]) => fs.chmodSync(path, mode)))
          )
        }
        const started = yield* fixture(["start", dir], user)
        assert.strictEqual(started.code, 0, started.stderr)
        assert.isTrue(JSON.parse(started.stdout).started)
        // In the data dir, not under /var/lib/nexus (root's place for it).
        const own = join(dir, "postgres", "cluster")
        assert.strictEqual(fs.statSync(own).uid, user?.uid ?? process.getuid!())
        assert.strictEqual(internal.running({ ...at, home: join(dir, "postgres"), cluster: own })?.ready, true)
        // Stopped and deleted by that user.
        const destroyed = yield* Effect.promise(
          () =>
            new Promise<number | null>((resolve) =>
              spawn(
                process.execPath,
                [
                  "--input-type=module",
                  "-e",
                  `import * as E from ${JSON.stringify(new URL("../src/internal/embedded.ts", import.meta.url).pathname)}; import { Effect } from "effect"; await Effect.runPromise(E.destroy(E.layout(${JSON.stringify(dir)})))`
                ],
                { cwd: dirname(FIXTURE), stdio: "inherit", ...user }
              ).once("close", resolve)
            )
        )
        assert.strictEqual(destroyed, 0)
        assert.isFalse(fs.existsSync(own))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("on a platform without a package it says so and asks for DATABASE_URL", () =>
    Effect.gen(function* () {
      const { dir } = yield* scratch
      const preload = join(dir, "riscv.mjs")
      fs.writeFileSync(preload, `Object.defineProperty(process, "arch", { value: "riscv64" })\n`)
      const outcome = yield* fixture(["start", dir], { preload })
      assert.strictEqual(outcome.code, 1)
      assert.include(
        outcome.stderr,
        "The embedded PostgreSQL cannot run here: there is no embedded PostgreSQL for linux-riscv64"
      )
      assert.include(outcome.stderr, "Set DATABASE_URL to a PostgreSQL server")
    }).pipe(Effect.scoped)
  )
})

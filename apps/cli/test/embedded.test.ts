// `nexus` without DATABASE_URL: the embedded PostgreSQL of the data dir, started by the first
// command that needs it, shared by the next ones, managed by `nexus db start|stop|status|url`.
import { assert, layer } from "@effect/vitest"
import { Database, Embedded } from "@nexus/database"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { childEnv, nexus, TestLive } from "./helpers.ts"
import { envFromIssued, reset } from "./session.ts"

layer(TestLive, { excludeTestServices: true, timeout: 60_000 })("nexus on the embedded database", (it) => {
  it.effect(
    "no DATABASE_URL: db migrate creates and starts it, later commands share it, db stop stops it and the next command starts it again",
    () =>
      Effect.gen(function* () {
        yield* reset
        const base = yield* childEnv
        const env = { ...base, DATABASE_URL: undefined }
        const dataDir = env.NEXUS_DATA_DIR!
        // Whatever happens, the server of this data dir is deleted at the end.
        yield* Effect.addFinalizer(() => Effect.ignore(Embedded.EmbeddedPostgres.make(dataDir).destroy))
        const status = () => Effect.map(nexus(["db", "status", "--json"], env), (outcome) => JSON.parse(outcome.stdout))
        assert.strictEqual((yield* status()).state, "absent")

        const migrate = yield* nexus(["db", "migrate"], env)
        assert.strictEqual(migrate.code, 0, migrate.stderr)
        assert.match(migrate.stderr, /started the embedded PostgreSQL on 127\.0\.0\.1:\d+ \(data in /)
        assert.include(migrate.stdout, "(8 applied)")
        const running = yield* status()
        assert.strictEqual(running.state, "running")
        assert.strictEqual(running.version, "18")
        assert.strictEqual(running.data_dir, dataDir)

        // The next commands find it: no second start, same server.
        const { env: tokens } = yield* envFromIssued()
        const login = yield* nexus(["login", "--from-env", "--json"], { ...env, ...tokens })
        assert.strictEqual(login.code, 0, login.stderr)
        assert.notInclude(login.stderr, "started the embedded PostgreSQL")
        const shown = yield* nexus(["status", "--json"], env)
        assert.strictEqual(shown.code, 0, shown.stderr)
        assert.strictEqual(JSON.parse(shown.stdout).length, 1)
        assert.strictEqual((yield* status()).pid, running.pid)

        // `db url` is what any Postgres client connects with: the account is in that database.
        const url = yield* nexus(["db", "url"], env)
        assert.strictEqual(url.code, 0, url.stderr)
        assert.match(url.stdout.trim(), new RegExp(`^postgres://nexus:[^@]+@127\\.0\\.0\\.1:${running.port}/nexus$`))
        const rows = yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          return yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM nexus.oauth_tokens`
        }).pipe(Effect.provide(Database.Database.layerUrl(url.stdout.trim())))
        assert.deepStrictEqual(rows, [{ n: 1 }])

        const stop = yield* nexus(["db", "stop"], env)
        assert.strictEqual(stop.code, 0, stop.stderr)
        assert.include(stop.stdout, "Stopped the embedded PostgreSQL")
        assert.strictEqual((yield* status()).state, "stopped")
        assert.include((yield* nexus(["db", "stop"], env)).stdout, "was not running")

        // The next command starts it again, on the same port, with the same data.
        const again = yield* nexus(["status", "--json"], env)
        assert.strictEqual(again.code, 0, again.stderr)
        assert.include(again.stderr, "started the embedded PostgreSQL")
        assert.strictEqual(JSON.parse(again.stdout).length, 1)
        assert.strictEqual((yield* status()).port, running.port)

        const start = yield* nexus(["db", "start", "--json"], env)
        assert.strictEqual(JSON.parse(start.stdout).started, false)
        const withUrl = yield* nexus(["db", "status"], base)
        assert.include(withUrl.stdout, "DATABASE_URL is set: Nexus uses that server, not this embedded one.")
      }).pipe(Effect.scoped),
    120_000
  )
})

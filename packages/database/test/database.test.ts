// The runtime's database against the real PostgreSQL: configuration, the checked layers, the queue
// database, and the migrations registry on a scratch database.
import { assert, describe, it, layer } from "@effect/vitest"
import { TestDatabase } from "@nexus/testing"
import { ConfigProvider, Effect, Layer, Option, Redacted } from "effect"
import { Migrator, SqlClient } from "effect/sql"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Database, EMBEDDED, QueueDatabase, queueTarget, target } from "../src/Database.ts"
import { EmbeddedPostgres } from "../src/Embedded.ts"
import * as Errors from "../src/Errors.ts"
import * as Migrations from "../src/Migrations.ts"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown(env))

/** A package of this test's own, with `n` migrations each creating table `<prefix>_<i>`; `failing` fails. */
const fakePackage = (name: string, prefix: string, n: number, failing?: number): Migrations.PackageMigrations => ({
  package: name,
  table: `${prefix}_migrations`,
  loader: Migrator.fromRecord(
    Object.fromEntries(
      Array.from({ length: n }, (_, i) => [
        `${String(i + 1).padStart(4, "0")}_create_${prefix}_${i + 1}`,
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql`CREATE TABLE ${sql(`${prefix}_${i + 1}`)} (id int)`
          if (failing === i + 1) yield* sql`SELECT * FROM no_such_table`
        })
      ])
    )
  )
})

describe("configuration", () => {
  it.effect("DATABASE_URL gives host, port, database and user; the password stays redacted", () =>
    Effect.gen(function* () {
      const at = yield* target.pipe(withEnv({ DATABASE_URL: "postgres://app:s3cret@db.example:6543/nexus" }))
      assert.deepInclude(at, {
        variable: "DATABASE_URL",
        host: "db.example",
        port: 6543,
        database: "nexus",
        user: "app"
      })
      assert.strictEqual(Redacted.value(Option.getOrThrow(at.password)), "s3cret")
      assert.notInclude(JSON.stringify(at), "s3cret")
    })
  )

  it.effect("NEXUS_DB_* are read when DATABASE_URL is not set, with defaults for what is missing", () =>
    Effect.gen(function* () {
      const at = yield* target.pipe(withEnv({ NEXUS_DB_HOST: "pg.internal", NEXUS_DB_NAME: "fleet" }))
      assert.deepInclude(at, { host: "pg.internal", port: 5432, database: "fleet", user: "postgres" })
      const badPort = yield* Effect.flip(target.pipe(withEnv({ NEXUS_DB_PORT: "99999" })))
      assert.instanceOf(badPort, Errors.InvalidDatabaseConfig)
      assert.include(badPort.message, "NEXUS_DB_PORT is not a port number")
    })
  )

  it.live(
    "nothing set is the embedded server of NEXUS_DATA_DIR, started for it; with it switched off, DatabaseNotConfigured",
    () =>
      Effect.gen(function* () {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "nexus-target-"))),
          (made) =>
            Effect.andThen(
              Effect.ignore(EmbeddedPostgres.make(made).destroy),
              Effect.sync(() => rmSync(made, { recursive: true, force: true }))
            )
        )
        const at = yield* target.pipe(withEnv({ NEXUS_DATA_DIR: dir }))
        const status = yield* EmbeddedPostgres.make(dir).status
        assert.strictEqual(status.state, "running")
        assert.deepInclude(at, {
          variable: EMBEDDED,
          host: "127.0.0.1",
          port: status.port!,
          database: "nexus",
          user: "nexus"
        })
        const rows = yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          return yield* sql<{ readonly who: string }>`SELECT current_user AS who`
        }).pipe(Effect.provide(Database.layerTarget(at)))
        assert.deepStrictEqual(rows, [{ who: "nexus" }])
        const off = yield* Effect.flip(target.pipe(withEnv({ NEXUS_DATA_DIR: dir, NEXUS_EMBEDDED_DB: "off" })))
        assert.instanceOf(off, Errors.DatabaseNotConfigured)
        assert.include(off.message, "set DATABASE_URL")
      }).pipe(Effect.scoped),
    60_000
  )

  it.effect("a bad URL names its variable, never its text", () =>
    Effect.gen(function* () {
      const scheme = yield* Effect.flip(target.pipe(withEnv({ DATABASE_URL: "mysql://root:pw@host/db" })))
      assert.include(scheme.message, "DATABASE_URL has the scheme mysql, not postgres")
      assert.notInclude(scheme.message, "pw")
      const queue = yield* Effect.flip(queueTarget.pipe(withEnv({ SHARED_QUEUE_DB_URL: "not a url :pw" })))
      assert.include(queue.message, "SHARED_QUEUE_DB_URL is not a valid URL")
      assert.isTrue(Option.isNone(yield* queueTarget.pipe(withEnv({}))))
    })
  )

  it.effect("an unreachable server fails the layer at once, naming host and database, never the password", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Layer.build(Database.layerUrl("postgres://postgres:s3cret@127.0.0.1:1/nexus")).pipe(Effect.scoped)
      )
      assert.instanceOf(error, Errors.DatabaseUnavailable)
      assert.strictEqual(error._tag === "DatabaseUnavailable" && error.reason, "ConnectionError")
      assert.include(error.message, "cannot reach PostgreSQL at 127.0.0.1:1, database nexus: connection refused")
      assert.include(error.message, "Start PostgreSQL or fix DATABASE_URL")
      assert.notInclude(error.message, "s3cret")
    })
  )
})

const ScratchLive = Layer.unwrap(
  Effect.map(TestDatabase.TestDatabase, (database) => Database.layerUrl(database.url))
).pipe(Layer.provideMerge(TestDatabase.layer()))

layer(ScratchLive, { timeout: "60 seconds" })("the migrations registry", (test) => {
  const alpha = fakePackage("@test/alpha", "alpha", 2)
  const beta = fakePackage("@test/beta", "beta", 1)

  test.effect(
    "check names what is missing before; run applies every package in one go; a second run applies nothing",
    () =>
      Effect.gen(function* () {
        const missing = yield* Effect.flip(Migrations.check(alpha))
        assert.instanceOf(missing, Errors.SchemaNotReady)
        assert.deepStrictEqual(missing._tag === "SchemaNotReady" && missing.missing, [
          "0001_create_alpha_1",
          "0002_create_alpha_2"
        ])
        assert.include(missing.message, "run `nexus db migrate`")

        const applied = yield* Migrations.run([alpha, beta])
        assert.deepStrictEqual(
          applied.map((m) => `${m.package} ${m.id}`),
          ["@test/alpha 1", "@test/alpha 2", "@test/beta 1"]
        )
        yield* Migrations.check(alpha)
        yield* Migrations.check(beta)
        assert.deepStrictEqual(yield* Migrations.run([alpha, beta]), [])

        // A newer release adds a migration: the old schema is reported behind until it is run.
        const alphaNext = fakePackage("@test/alpha", "alpha", 3)
        assert.deepStrictEqual(yield* Migrations.pending(alphaNext), ["0003_create_alpha_3"])
        assert.deepStrictEqual(
          (yield* Migrations.run([alphaNext, beta])).map((m) => m.id),
          [3]
        )
      })
  )

  test.effect("a failing migration is MigrationFailed naming its package; nothing of it is applied", () =>
    Effect.gen(function* () {
      const broken = fakePackage("@test/gamma", "gamma", 2, 2)
      const error = yield* Effect.flip(Migrations.run([broken]))
      assert.instanceOf(error, Errors.MigrationFailed)
      assert.include(error.message, "@test/gamma")
      assert.include(error.message, '2_create_gamma_2" failed')
      assert.include(error.message, "no_such_table")
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ readonly found: boolean }>`SELECT to_regclass('gamma_1') IS NOT NULL AS found`
      assert.isFalse(row!.found)
      assert.deepStrictEqual(yield* Migrations.pending(broken), ["0001_create_gamma_1", "0002_create_gamma_2"])
    })
  )

  test.effect("the queue database is the Nexus database unless SHARED_QUEUE_DB_URL names another", () =>
    Effect.gen(function* () {
      const database = yield* TestDatabase.TestDatabase
      const shared = yield* QueueDatabase.pipe(Effect.provide(QueueDatabase.layer), withEnv({}))
      assert.isTrue(shared.shared)
      assert.strictEqual(shared.target.database, database.name)

      const own = yield* Effect.gen(function* () {
        const queue = yield* QueueDatabase
        const [row] = yield* queue.sql<{ readonly name: string }>`SELECT current_database() AS name`
        return { queue, name: row!.name }
      }).pipe(
        Effect.provide(QueueDatabase.layer),
        withEnv({ SHARED_QUEUE_DB_URL: database.url.replace(/\/[^/]+$/, "/postgres") })
      )
      assert.isFalse(own.queue.shared)
      assert.deepInclude(own.queue.target, { variable: "SHARED_QUEUE_DB_URL", database: "postgres" })
      assert.strictEqual(own.name, "postgres")
    })
  )
})

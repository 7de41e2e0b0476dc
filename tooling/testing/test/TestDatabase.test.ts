import { TestDatabase } from "@nexus/testing"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer, Redacted, Schema } from "effect"
import { Migrator, SqlClient } from "effect/sql"

const migrations = [
  {
    table: "widget_migrations",
    loader: Migrator.fromRecord({
      "0001_create_widgets": Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL)`
      })
    })
  }
]

class TestFailed extends Schema.TaggedError<TestFailed>()("TestFailed", { database: Schema.String }) {}

const Admin = PgClient.layer({
  url: Redacted.make(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres")
})

const exists = Effect.fn("exists")(function* (name: string) {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql`SELECT 1 FROM pg_database WHERE datname = ${name}`
  return rows.length > 0
})

const hasWidgets = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ readonly found: boolean }>`SELECT to_regclass('widgets') IS NOT NULL AS found`
  return row.found
})

const scratchName = Layer.build(TestDatabase.layer()).pipe(
  Effect.map((context) => Context.get(context, TestDatabase.TestDatabase).name)
)

layer(TestDatabase.layer({ migrations }))("TestDatabase.layer", (test) => {
  test.effect("connects to a fresh scratch database with the migrations applied", () =>
    Effect.gen(function* () {
      const { name, url } = yield* TestDatabase.TestDatabase
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ readonly name: string }>`SELECT current_database() AS name`
      assert.strictEqual(row.name, name)
      assert.match(name, /^nexus_test_\d+_[0-9a-z]+$/)
      assert.isTrue(url.endsWith(`/${name}`))
      assert.isTrue(yield* hasWidgets)
    })
  )
})

describe("TestDatabase", () => {
  it.effect("gives each layer its own database and drops it when the scope closes", () =>
    Effect.gen(function* () {
      const [first, second] = yield* Effect.scoped(
        Effect.gen(function* () {
          const names = [yield* scratchName, yield* scratchName] as const
          assert.notStrictEqual(names[0], names[1])
          assert.isTrue(yield* exists(names[0]))
          assert.isTrue(yield* exists(names[1]))
          return names
        })
      )
      assert.isFalse(yield* exists(first))
      assert.isFalse(yield* exists(second))
    }).pipe(Effect.provide(Admin))
  )

  it.effect("drops the database when the scope closes with a failure", () =>
    Effect.gen(function* () {
      const name = yield* Effect.scoped(Effect.flatMap(scratchName, (database) => new TestFailed({ database }))).pipe(
        Effect.catchTag("TestFailed", ({ database }) => Effect.succeed(database))
      )
      assert.isFalse(yield* exists(name))
    }).pipe(Effect.provide(Admin))
  )

  it.effect("sweeps scratch databases older than an hour", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const stale = "nexus_test_1000000000_x"
      yield* sql`CREATE DATABASE ${sql(stale)}`
      yield* Effect.scoped(scratchName)
      assert.isFalse(yield* exists(stale))
    }).pipe(Effect.provide(Admin))
  )

  it.effect("fails with DatabaseUnavailable naming host and port when PostgreSQL is unreachable", () =>
    Effect.gen(function* () {
      const error = yield* Effect.scoped(scratchName).pipe(
        Effect.flip,
        Effect.provideService(
          ConfigProvider.ConfigProvider,
          ConfigProvider.fromUnknown({ DATABASE_URL: "postgres://postgres:s3cret@127.0.0.1:1/postgres" })
        )
      )
      assert.instanceOf(error, TestDatabase.DatabaseUnavailable)
      assert.strictEqual(error.host, "127.0.0.1")
      assert.strictEqual(error.port, 1)
      assert.include(error.message, "PostgreSQL is not reachable at 127.0.0.1:1 (connection refused)")
      assert.include(error.message, "pg_ctlcluster")
      assert.notInclude(error.message, "s3cret")
    })
  )

  it.effect("createTestDatabase gives non-Effect code a migrated database and a drop function", () =>
    Effect.gen(function* () {
      const database = yield* Effect.promise(() => TestDatabase.createTestDatabase({ migrations }))
      assert.isTrue(yield* exists(database.name))
      assert.isTrue(yield* hasWidgets.pipe(Effect.provide(PgClient.layer({ url: Redacted.make(database.url) }))))
      yield* Effect.promise(database.drop)
      assert.isFalse(yield* exists(database.name))
    }).pipe(Effect.provide(Admin))
  )
})

// TestDatabase.layer({ migrations }) provides TestDatabase, PgClient and SqlClient: a scratch database
// on the DATABASE_URL server, migrated, dropped when the layer's scope closes. It needs nothing (the
// migrations' own requirements, if any).
import { assert, layer } from "@effect/vitest"
import { TestDatabase } from "@nexus/testing"
import { Effect } from "effect"
import { Migrator, SqlClient } from "effect/sql"

const users = {
  table: "users_migrations",
  loader: Migrator.fromRecord({
    "0001_users": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE users (email text PRIMARY KEY)`)
  })
}

layer(TestDatabase.layer({ migrations: [users] }))("users", (it) => {
  it.effect("inserts", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO users ${sql.insert({ email: "ada@example.com" })}`
      const rows = yield* sql<{ readonly email: string }>`SELECT email FROM users`
      assert.deepStrictEqual(rows, [{ email: "ada@example.com" }])
    })
  )
})

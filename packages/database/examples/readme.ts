// Database.layer provides Database, PgClient and SqlClient (DATABASE_URL or NEXUS_DB_*, else the
// embedded server of NEXUS_DATA_DIR, started when needed) and needs nothing; QueueDatabase.layer
// provides QueueDatabase (SHARED_QUEUE_DB_URL, else the same database)
// and needs Database and PgClient. Both check their connection when they start.
import { Database, Migrations } from "@nexus/database"
import { Effect, Layer } from "effect"
import { Migrator, SqlClient } from "effect/sql"

// A package's migrations, as @nexus/token-store, @nexus/provider-codex… export theirs.
const notes: Migrations.PackageMigrations = {
  package: "@acme/notes",
  table: "acme_notes_migrations",
  loader: Migrator.fromRecord({
    "0001_notes": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE notes (id serial, body text)`)
  })
}

const DatabaseLive = Database.QueueDatabase.layer.pipe(Layer.provideMerge(Database.Database.layer))

const program = Effect.gen(function* () {
  const applied = yield* Migrations.run([notes]) // what `nexus db migrate` does with every package's
  yield* Migrations.check(notes) // what a package's layer runs when it starts: SchemaNotReady if not
  const queues = yield* Database.QueueDatabase
  yield* Effect.log(`${applied.length} applied; queues in ${queues.target.database} (shared: ${queues.shared})`)
})

Effect.runFork(program.pipe(Effect.provide(DatabaseLive)))

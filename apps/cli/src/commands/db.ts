/**
 * `nexus db migrate`: creates or updates every package's tables in one run (idempotent), then pgmq
 * and the LLM queues on the queue database; `nexus db pgmq-sql`: Nexus's pgmq-compatible install
 * as one SQL script, for a DBA to run with psql.
 *
 * @since 0.1.0
 */
import { Database, Migrations } from "@nexus/database"
import { Migrations as QueueMigrations, Pgmq, PgmqInstall } from "@nexus/queue-pgmq"
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import { SqlClient } from "effect/sql"
import { migrations, QueueLive } from "../Services.ts"

const where = (at: Database.Target) => `database ${at.database} at ${at.host}:${at.port}`

const migrate = Command.make(
  "migrate",
  {},
  Effect.fn("nexus.db.migrate")(function* () {
    const at = yield* Database.Database
    const queues = yield* Database.QueueDatabase
    const applied = [
      ...(yield* Migrations.run(migrations)),
      // pgmq and the queues live on the queue database (the same one unless SHARED_QUEUE_DB_URL).
      ...(yield* Migrations.run([QueueMigrations.migrations]).pipe(
        Effect.provideService(SqlClient.SqlClient, queues.sql),
        Effect.provideService(Database.Database, queues.target)
      ))
    ]
    for (const migration of applied) {
      yield* Console.log(
        `Applied migration ${String(migration.id).padStart(4, "0")}_${migration.name} (${migration.package})`
      )
    }
    const targets = queues.shared ? where(at) : `${where(at)} and the queue ${where(queues.target)}`
    yield* Console.log(
      applied.length === 0
        ? `The ${targets} are up to date: no migrations to apply.`
        : `The ${targets} are up to date (${applied.length} applied).`
    )
    const pgmq = yield* Pgmq.Pgmq
    yield* Console.log(`pgmq: ${(yield* pgmq.installation).description}`)
  })
).pipe(
  Command.withDescription(
    "Create or update the Nexus tables of every package, pgmq and the LLM queues (safe to run any number of times)"
  ),
  Command.provide(QueueLive)
)

const pgmqSql = Command.make(
  "pgmq-sql",
  {},
  Effect.fn("nexus.db.pgmqSql")(function* () {
    yield* Console.log(PgmqInstall.script)
  })
).pipe(
  Command.withDescription(
    "Print Nexus's pgmq-compatible install as one idempotent SQL script (for psql -f, on servers without the pgmq extension)"
  )
)

/**
 * `nexus db`: the database commands.
 *
 * @since 0.1.0
 * @category commands
 */
export const db = Command.make("db").pipe(
  Command.withDescription("Manage the Nexus PostgreSQL database"),
  Command.withSubcommands([migrate, pgmqSql])
)

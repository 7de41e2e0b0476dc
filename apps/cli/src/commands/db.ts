/**
 * `nexus db migrate`: creates or updates every package's tables in one run (idempotent).
 *
 * @since 0.1.0
 */
import { Database, Migrations } from "@nexus/database"
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import { DatabaseLive, migrations } from "../Services.ts"

const migrate = Command.make(
  "migrate",
  {},
  Effect.fn("nexus.db.migrate")(function* () {
    const at = yield* Database.Database
    const applied = yield* Migrations.run(migrations)
    const where = `database ${at.database} at ${at.host}:${at.port}`
    if (applied.length === 0) return yield* Console.log(`The ${where} is up to date: no migrations to apply.`)
    for (const migration of applied) {
      yield* Console.log(
        `Applied migration ${String(migration.id).padStart(4, "0")}_${migration.name} (${migration.package})`
      )
    }
    yield* Console.log(`The ${where} is up to date (${applied.length} applied).`)
  })
).pipe(
  Command.withDescription("Create or update the Nexus tables of every package (safe to run any number of times)"),
  Command.provide(DatabaseLive)
)

/**
 * `nexus db`: the database commands.
 *
 * @since 0.1.0
 * @category commands
 */
export const db = Command.make("db").pipe(
  Command.withDescription("Manage the Nexus PostgreSQL database"),
  Command.withSubcommands([migrate])
)

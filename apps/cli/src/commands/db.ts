/**
 * `nexus db migrate`: creates or updates the Nexus tables (idempotent).
 *
 * @since 0.1.0
 */
import { Migrations } from "@nexus/token-store"
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import { SqlError } from "effect/sql"
import { Database, unavailable } from "../Database.ts"
import { MigrationFailed } from "../Errors.ts"

const migrate = Command.make(
  "migrate",
  {},
  Effect.fn("nexus.db.migrate")(function* () {
    const at = yield* Database
    const applied = yield* Migrations.run.pipe(
      Effect.catchTag("MigrationError", (error) =>
        Effect.fail(
          new MigrationFailed({
            migration: error.message,
            detail: error.cause instanceof Error ? error.cause.message.split("\n")[0]! : error.kind
          })
        )
      ),
      Effect.mapError((error) => (SqlError.isSqlError(error) ? unavailable(at)(error) : error))
    )
    const where = `database ${at.database} at ${at.host}:${at.port}`
    if (applied.length === 0) return yield* Console.log(`The ${where} is up to date: no migrations to apply.`)
    for (const [id, name] of applied) yield* Console.log(`Applied migration ${String(id).padStart(4, "0")}_${name}`)
    yield* Console.log(`The ${where} is up to date (${applied.length} applied).`)
  })
).pipe(
  Command.withDescription("Create or update the Nexus tables (safe to run any number of times)"),
  Command.provide(Database.layer)
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

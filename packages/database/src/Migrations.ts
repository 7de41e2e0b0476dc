/**
 * The one migrations registry: every package exports its migrations as a `PackageMigrations`, the
 * apps list them, and `run` applies all of them in one go (`nexus db migrate`). Each package keeps
 * its own record table, so that package-local ids never collide; the effect/sql Migrator applies
 * each package's pending migrations in one transaction, and concurrent runs wait for each other.
 *
 * Layers never migrate behind the user's back: they `check` that their package's migrations are
 * applied and fail with `SchemaNotReady` (saying to run `nexus db migrate`) when they are not.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Migrator, SqlClient, SqlError } from "effect/sql"
import { Database, describe, unavailable } from "./Database.ts"
import { type DatabaseUnavailable, MigrationFailed, SchemaNotReady } from "./Errors.ts"

/**
 * A package's migrations, as it exports them.
 *
 * @since 0.1.0
 * @category models
 */
export interface PackageMigrations {
  /** The package, for messages (`@nexus/token-store`). */
  readonly package: string
  /** The table that records which of them are applied. */
  readonly table: string
  readonly loader: Migrator.Loader
}

/**
 * A migration `run` applied.
 *
 * @since 0.1.0
 * @category models
 */
export interface Applied {
  readonly package: string
  readonly id: number
  readonly name: string
}

const migrator = Migrator.make({})

/** `1` and `name` as the file name the Migrator read them from: `0001_name`. */
const fileName = (id: number, name: string) => `${String(id).padStart(4, "0")}_${name}`

/**
 * Applies every pending migration of every package in `registry`, in order; answers what it
 * applied (nothing, when the database is up to date).
 *
 * @since 0.1.0
 * @category migrations
 */
export const run = (
  registry: ReadonlyArray<PackageMigrations>
): Effect.Effect<ReadonlyArray<Applied>, MigrationFailed | DatabaseUnavailable, SqlClient.SqlClient | Database> =>
  Effect.gen(function* () {
    const at = yield* Database
    const applied: Array<Applied> = []
    for (const entry of registry) {
      const done = yield* migrator({ loader: entry.loader, table: entry.table }).pipe(
        Effect.catchTag("MigrationError", (error) =>
          Effect.fail(
            new MigrationFailed({
              package: entry.package,
              migration: error.message,
              detail: SqlError.isSqlError(error.cause)
                ? unavailable(at)(error.cause).detail
                : error.cause instanceof Error
                  ? describe(error.cause)
                  : error.kind,
              cause: error
            })
          )
        ),
        Effect.mapError((error) => (SqlError.isSqlError(error) ? unavailable(at)(error) : error))
      )
      for (const [id, name] of done) applied.push({ package: entry.package, id, name })
    }
    return applied
  }).pipe(Effect.withSpan("Migrations.run"))

/**
 * The migrations of `entry` that the database lacks, by file name (`0001_oauth_tokens`).
 *
 * @since 0.1.0
 * @category migrations
 */
export const pending = (
  entry: PackageMigrations
): Effect.Effect<ReadonlyArray<string>, SqlError.SqlError | Migrator.MigrationError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const known = yield* entry.loader
    const table = sql`${sql(entry.table)}`.compile(true)[0]
    const [exists] = yield* sql<{ readonly found: boolean }>`SELECT to_regclass(${table}) IS NOT NULL AS found`
    const latest = exists?.found
      ? ((yield* sql<{
          readonly latest: number | null
        }>`SELECT max(migration_id) AS latest FROM ${sql(entry.table)}`)[0]?.latest ?? 0)
      : 0
    return known.filter(([id]) => id > latest).map(([id, name]) => fileName(id, name))
  })

/**
 * Succeeds when every migration of `entry` is applied; else fails with `SchemaNotReady`, which
 * says to run `nexus db migrate`. A newer schema than the code knows is accepted.
 *
 * @since 0.1.0
 * @category migrations
 */
export const check = (
  entry: PackageMigrations
): Effect.Effect<void, SchemaNotReady | SqlError.SqlError, SqlClient.SqlClient> =>
  pending(entry).pipe(
    Effect.catchTag("MigrationError", (error) => Effect.die(error)),
    Effect.flatMap((missing) =>
      missing.length === 0 ? Effect.void : Effect.fail(new SchemaNotReady({ package: entry.package, missing }))
    ),
    Effect.withSpan("Migrations.check", { attributes: { package: entry.package } })
  )

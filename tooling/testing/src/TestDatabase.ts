/**
 * Scratch PostgreSQL databases for tests: one fresh, migrated database per layer, dropped when the layer's scope
 * closes.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Context, Effect, Exit, Layer, Predicate, Random, Redacted, Schema, Scope } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { Migrator } from "effect/sql"
import type { SqlClient, SqlError } from "effect/sql"

const prefix = "nexus_test_"
const maxAgeSeconds = 3600
const startHint = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"

/**
 * The scratch database a test runs against, with its name and connection URL.
 *
 * @since 0.1.0
 * @category services
 */
export class TestDatabase extends Context.Service<
  TestDatabase,
  {
    readonly name: string
    readonly url: string
  }
>()("@nexus/testing/TestDatabase") {}

/**
 * The PostgreSQL server named by `DATABASE_URL` could not be reached.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseUnavailable extends Schema.TaggedError<DatabaseUnavailable>()("DatabaseUnavailable", {
  host: Schema.String,
  port: Schema.Int,
  detail: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    return `PostgreSQL is not reachable at ${this.host}:${this.port} (${this.detail}). Start it with: ${startHint} — or set DATABASE_URL`
  }
}

/**
 * A package's migrations and the table that records them (the shape of `@nexus/database`'s
 * `PackageMigrations`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Migrations<R = never> {
  readonly table: string
  readonly loader: Migrator.Loader<R>
}

/**
 * Options for a scratch database: the migrations to run on it once it is created, in order.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<R = never> {
  readonly migrations?: ReadonlyArray<Migrations<R>> | undefined
}

const migrate = Migrator.make({})

const describe = (cause: unknown): string =>
  Predicate.hasProperty(cause, "code") && cause.code === "ECONNREFUSED"
    ? "connection refused"
    : Predicate.isError(cause)
      ? cause.message
      : String(cause)

const dropDatabase = (admin: PgClient.PgClient, name: string) =>
  admin`DROP DATABASE IF EXISTS ${admin(name)} WITH (FORCE)`

const scratch = Effect.gen(function* () {
  const server = yield* Config.URL("DATABASE_URL").pipe(
    Config.withDefault(new URL("postgres://postgres@127.0.0.1:5432/postgres"))
  )
  const admin = yield* PgClient.makeClient({ url: Redacted.make(server.href) }).pipe(
    Effect.catchReason("SqlError", "ConnectionError", (reason) =>
      Effect.fail(
        new DatabaseUnavailable({
          host: server.hostname,
          port: Number(server.port || 5432),
          detail: describe(reason.cause),
          cause: reason
        })
      )
    )
  )
  const [{ now }] = yield* admin<{ readonly now: number }>`SELECT floor(extract(epoch FROM now()))::float8 AS now`
  const stale = yield* admin<{ readonly datname: string }>`
    SELECT datname FROM pg_database
    WHERE substring(datname FROM ${`^${prefix}(\\d+)_`})::float8 < ${now - maxAgeSeconds}`
  yield* Effect.forEach(stale, ({ datname }) => dropDatabase(admin, datname), { discard: true })

  const name = `${prefix}${now}_${(yield* Random.nextIntBetween(0, 36 ** 6)).toString(36)}`
  yield* admin`CREATE DATABASE ${admin(name)}`
  yield* Effect.addFinalizer(() => Effect.orDie(dropDatabase(admin, name)))
  const url = new URL(server)
  url.pathname = `/${name}`
  return TestDatabase.of({ name, url: url.href })
}).pipe(Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make))

/**
 * Creates a migrated scratch database on the `DATABASE_URL` server and provides a `PgClient` connected to it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R = never>(
  options: Options<R> = {}
): Layer.Layer<
  TestDatabase | PgClient.PgClient | SqlClient.SqlClient,
  DatabaseUnavailable | SqlError.SqlError | Migrator.MigrationError | Config.ConfigError,
  R
> => {
  const client = Layer.unwrap(
    Effect.gen(function* () {
      const { url } = yield* TestDatabase
      return PgClient.layer({ url: Redacted.make(url) })
    })
  )
  const migrations = Layer.effectDiscard(
    Effect.forEach(options.migrations ?? [], (entry) => migrate({ loader: entry.loader, table: entry.table }), {
      discard: true
    })
  )
  return migrations.pipe(Layer.provideMerge(client), Layer.provideMerge(Layer.effect(TestDatabase, scratch)))
}

/**
 * Creates a migrated scratch database for non-Effect code; call `drop` when done with it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const createTestDatabase = async (
  options: Options = {}
): Promise<{
  readonly name: string
  readonly url: string
  readonly drop: () => Promise<void>
}> => {
  const scope = Scope.makeUnsafe()
  const context = await Effect.runPromise(
    Layer.buildWithScope(layer(options), scope).pipe(
      Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
    )
  )
  const { name, url } = Context.get(context, TestDatabase)
  return { name, url, drop: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

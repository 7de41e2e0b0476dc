/**
 * The Nexus database and the queue database, as the runtime reaches them.
 *
 * - The Nexus database: `DATABASE_URL`, or `NEXUS_DB_HOST` / `NEXUS_DB_PORT` / `NEXUS_DB_NAME` /
 *   `NEXUS_DB_USER` / `NEXUS_DB_PASSWORD`; with none of them, the embedded server of
 *   `NEXUS_DATA_DIR` (started when it is not running; see `Embedded`).
 * - The queue database: `SHARED_QUEUE_DB_URL`, the same database when unset.
 *
 * Each connection is checked when its layer starts, so that an unreachable server fails at once with
 * a message naming host and database (never the password).
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Context, Duration, Effect, Layer, Option, Predicate, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import type { SqlClient, SqlError } from "effect/sql"
import * as Embedded from "./Embedded.ts"
import {
  DatabaseNotConfigured,
  DatabaseUnavailable,
  type EmbeddedDatabaseError,
  InvalidDatabaseConfig
} from "./Errors.ts"

/**
 * Where a database is, as far as a message may tell, and how to connect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  /** The variable it was configured by, for messages (`DATABASE_URL`, `SHARED_QUEUE_DB_URL`…). */
  readonly variable: string
  readonly host: string
  readonly port: number
  readonly database: string
  readonly user: string
  readonly options: PgClient.PgPoolConfig
  /** Scrubbed from every message, should a driver ever quote it. */
  readonly password: Option.Option<Redacted.Redacted<string>>
}

const CONNECT_TIMEOUT = Duration.seconds(10)

/**
 * Connections per pool: `NEXUS_DB_MAX_CONNECTIONS`, 10 by default, 4 at least. Each LISTEN holds one for as
 * long as it lasts (a worker holds three), the rest serve queries; they open only when needed.
 */
const maxConnections = Config.Int("NEXUS_DB_MAX_CONNECTIONS").pipe(
  Config.withDefault(10),
  Effect.orDie,
  Effect.map((size) => Math.max(4, size))
)

const optional = (name: string) =>
  Config.option(Config.String(name)).pipe(Effect.orDie, Effect.map(Option.filter((value) => value.trim().length > 0)))

const optionalRedacted = (name: string) =>
  Config.option(Config.Redacted(name)).pipe(
    Effect.orDie,
    Effect.map(Option.filter((value) => Redacted.value(value).trim().length > 0))
  )

/**
 * The target a `postgres://` URL names; the URL is never quoted back, as it may hold a password.
 *
 * @since 0.1.0
 * @category config
 */
export const fromUrl = Effect.fnUntraced(function* (variable: string, url: Redacted.Redacted<string>) {
  const parsed = yield* Effect.try({
    try: () => new URL(Redacted.value(url).trim()),
    catch: () => new InvalidDatabaseConfig({ variable, problem: "is not a valid URL" })
  })
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    return yield* new InvalidDatabaseConfig({
      variable,
      problem: `has the scheme ${parsed.protocol.replace(/:$/, "")}, not postgres`
    })
  }
  const user = decodeURIComponent(parsed.username) || "postgres"
  const password = parsed.password ? Option.some(Redacted.make(decodeURIComponent(parsed.password))) : Option.none()
  return {
    variable,
    host: parsed.hostname || "localhost",
    port: Number(parsed.port || 5432),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, "")) || user,
    user,
    password,
    options: { url, connectTimeout: CONNECT_TIMEOUT, maxConnections: yield* maxConnections }
  } satisfies Target
})

/**
 * What messages call the embedded database (its `Target.variable`).
 *
 * @since 0.1.0
 * @category config
 */
export const EMBEDDED = "the embedded database"

/** The embedded server of `NEXUS_DATA_DIR`, started unless it runs; said when this process started it. */
const embedded = Effect.gen(function* () {
  if (!(yield* Embedded.enabled)) return yield* new DatabaseNotConfigured()
  const server = Embedded.EmbeddedPostgres.make(yield* Embedded.dataDir)
  const started = yield* server.start
  if (started.started) {
    yield* Effect.logInfo(
      `started the embedded PostgreSQL on 127.0.0.1:${started.port} (data in ${server.dataDir}); it keeps running for the next command until \`nexus db stop\``
    )
  }
  return yield* fromUrl(EMBEDDED, yield* server.url)
})

/**
 * The Nexus database, from the environment: `DATABASE_URL`, else `NEXUS_DB_*`, else the embedded
 * server (started when it is not running).
 *
 * @since 0.1.0
 * @category config
 */
export const target: Effect.Effect<Target, DatabaseNotConfigured | InvalidDatabaseConfig | EmbeddedDatabaseError> =
  Effect.gen(function* () {
    const url = yield* optionalRedacted("DATABASE_URL")
    if (Option.isSome(url)) return yield* fromUrl("DATABASE_URL", url.value)
    const host = yield* optional("NEXUS_DB_HOST")
    const portText = yield* optional("NEXUS_DB_PORT")
    const name = yield* optional("NEXUS_DB_NAME")
    const user = yield* optional("NEXUS_DB_USER")
    const password = yield* optionalRedacted("NEXUS_DB_PASSWORD")
    if ([host, portText, name, user].every(Option.isNone) && Option.isNone(password)) return yield* embedded
    const port = Number(Option.getOrElse(portText, () => "5432"))
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      return yield* new InvalidDatabaseConfig({ variable: "NEXUS_DB_PORT", problem: "is not a port number" })
    }
    const resolved = {
      host: Option.getOrElse(host, () => "127.0.0.1"),
      port,
      database: Option.getOrElse(name, () => "nexus"),
      user: Option.getOrElse(user, () => "postgres"),
      password
    }
    return {
      variable: "NEXUS_DB_HOST",
      ...resolved,
      options: {
        host: resolved.host,
        port: resolved.port,
        database: resolved.database,
        username: resolved.user,
        ...(Option.isSome(password) ? { password: password.value } : {}),
        connectTimeout: CONNECT_TIMEOUT,
        maxConnections: yield* maxConnections
      }
    } satisfies Target
  })

/**
 * The queue database, from `SHARED_QUEUE_DB_URL`; none when it is unset (the Nexus database then).
 *
 * @since 0.1.0
 * @category config
 */
export const queueTarget = Effect.gen(function* () {
  const url = yield* optionalRedacted("SHARED_QUEUE_DB_URL")
  if (Option.isNone(url)) return Option.none<Target>()
  return Option.some(yield* fromUrl("SHARED_QUEUE_DB_URL", url.value))
})

const codes: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable"
}

/**
 * The most specific readable reason in an error's cause chain, in one line.
 *
 * @since 0.1.0
 * @category errors
 */
export const describe = (error: unknown): string => {
  let current: unknown = error
  let message: string | undefined
  for (let depth = 0; depth < 6 && Predicate.isObject(current); depth++) {
    if (Predicate.hasProperty(current, "code") && Predicate.isString(current.code) && codes[current.code]) {
      return codes[current.code]!
    }
    if (Predicate.hasProperty(current, "_tag") && current._tag === "TimeoutError") return "connection timed out"
    if (Predicate.hasProperty(current, "message") && Predicate.isString(current.message) && current.message) {
      const text = current.message.replace(/^PgConnection:\s*/, "").split("\n")[0]!
      if (text && !/^(Failed to connect|SqlError|ConnectionError)$/.test(text)) message = text
    }
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  return message ?? "the connection failed"
}

/**
 * Turns a SQL failure into a message naming host and database, without the password; the SQL
 * error stays as the cause.
 *
 * @since 0.1.0
 * @category errors
 */
export const unavailable =
  (at: Target) =>
  (error: SqlError.SqlError): DatabaseUnavailable => {
    const reason = error.reason._tag
    let detail = describe(error)
    if (Option.isSome(at.password)) detail = detail.split(Redacted.value(at.password.value)).join("***")
    const hint =
      at.variable === EMBEDDED
        ? "`nexus db status` shows its state and log; `nexus db stop`, then any command, restarts it."
        : reason === "AuthenticationError"
          ? `Check the user (${at.user}) and password in ${at.variable}.`
          : reason === "ConnectionError"
            ? `Start PostgreSQL or fix ${at.variable}, then try again.`
            : /does not exist/.test(detail)
              ? `Create it (createdb ${at.database}) or fix ${at.variable}, then try again.`
              : `Check ${at.variable} and the server's log, then try again.`
    return new DatabaseUnavailable({
      host: at.host,
      port: at.port,
      database: at.database,
      reason,
      detail,
      hint,
      cause: error
    })
  }

/** A client for `at`, checked with one round trip. */
const connect = (at: Target) =>
  Effect.gen(function* () {
    const client = yield* PgClient.make(at.options).pipe(Effect.mapError(unavailable(at)))
    yield* client`SELECT 1`.pipe(Effect.mapError(unavailable(at)))
    yield* Effect.logDebug("connected to PostgreSQL", { host: at.host, port: at.port, database: at.database })
    return client
  })

/**
 * The Nexus database: where it is (for messages), and, from its layer, a checked `PgClient`.
 *
 * @since 0.1.0
 * @category services
 */
export class Database extends Context.Service<Database, Target>()("@nexus/database/Database") {
  /**
   * A `PgClient` (and `SqlClient`) for `at`, checked with one round trip.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerTarget = (
    at: Target
  ): Layer.Layer<Database | PgClient.PgClient | SqlClient.SqlClient, DatabaseUnavailable> =>
    Layer.merge(Layer.succeed(Database)(at), PgClient.layerFrom(connect(at)))

  /**
   * A `PgClient` for a `postgres://` URL (tests, tools).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerUrl = (
    url: string
  ): Layer.Layer<Database | PgClient.PgClient | SqlClient.SqlClient, DatabaseUnavailable | InvalidDatabaseConfig> =>
    Layer.unwrap(Effect.map(fromUrl("DATABASE_URL", Redacted.make(url)), Database.layerTarget))

  /**
   * The configured database (`DATABASE_URL` or `NEXUS_DB_*`), checked with one round trip.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<
    Database | PgClient.PgClient | SqlClient.SqlClient,
    DatabaseUnavailable | DatabaseNotConfigured | InvalidDatabaseConfig | EmbeddedDatabaseError
  > = Layer.unwrap(Effect.map(target, Database.layerTarget))
}

/**
 * The database that holds the pgmq queues: its own client when `SHARED_QUEUE_DB_URL` names another
 * database, else the Nexus database's client.
 *
 * @since 0.1.0
 * @category services
 */
export class QueueDatabase extends Context.Service<
  QueueDatabase,
  {
    readonly target: Target
    readonly sql: PgClient.PgClient
    /** Whether it is the Nexus database itself (one transaction can then span both). */
    readonly shared: boolean
  }
>()("@nexus/database/QueueDatabase") {
  /**
   * From `SHARED_QUEUE_DB_URL`, else the Nexus database provided to it.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<
    QueueDatabase,
    DatabaseUnavailable | InvalidDatabaseConfig,
    Database | PgClient.PgClient
  > = Layer.effect(QueueDatabase)(
    Effect.gen(function* () {
      const own = yield* queueTarget
      if (Option.isSome(own)) {
        const sql = yield* connect(own.value).pipe(Effect.provide(Reactivity.layer))
        return { target: own.value, sql, shared: false }
      }
      return { target: yield* Database, sql: yield* PgClient.PgClient, shared: true }
    })
  )
}

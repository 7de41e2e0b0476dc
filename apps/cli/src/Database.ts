/**
 * The Nexus database as the CLI reaches it: `DATABASE_URL`, or `NEXUS_DB_HOST` / `NEXUS_DB_PORT` /
 * `NEXUS_DB_NAME` / `NEXUS_DB_USER` / `NEXUS_DB_PASSWORD`. The connection is checked when the layer
 * starts, so that an unreachable server fails at once with a message naming host and database
 * (never the password).
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Context, Duration, Effect, Layer, Option, Predicate, Redacted } from "effect"
import type { SqlError } from "effect/sql"
import { DatabaseNotConfigured, DatabaseUnavailable, InvalidDatabaseConfig } from "./Errors.ts"

/**
 * Where the database is, as far as a message may tell, and how to connect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly host: string
  readonly port: number
  readonly database: string
  readonly user: string
  readonly options: PgClient.PgPoolConfig
  /** Scrubbed from every message, should a driver ever quote it. */
  readonly password: Option.Option<Redacted.Redacted<string>>
}

const CONNECT_TIMEOUT = Duration.seconds(10)

const optional = (name: string) =>
  Config.option(Config.String(name)).pipe(Effect.orDie, Effect.map(Option.filter((value) => value.trim().length > 0)))

const fromUrl = Effect.fnUntraced(function* (url: Redacted.Redacted<string>) {
  // The URL is never quoted back: it may hold a password.
  const parsed = yield* Effect.try({
    try: () => new URL(Redacted.value(url)),
    catch: () => new InvalidDatabaseConfig({ variable: "DATABASE_URL", problem: "is not a valid URL" })
  })
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    return yield* new InvalidDatabaseConfig({
      variable: "DATABASE_URL",
      problem: `has the scheme ${parsed.protocol.replace(/:$/, "")}, not postgres`
    })
  }
  const user = decodeURIComponent(parsed.username) || "postgres"
  const password = parsed.password ? Option.some(Redacted.make(decodeURIComponent(parsed.password))) : Option.none()
  return {
    host: parsed.hostname || "localhost",
    port: Number(parsed.port || 5432),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, "")) || user,
    user,
    password,
    options: { url, connectTimeout: CONNECT_TIMEOUT, maxConnections: 4 }
  } satisfies Target
})

/**
 * Reads the database settings from the environment.
 *
 * @since 0.1.0
 * @category config
 */
export const target = Effect.gen(function* () {
  const url = yield* Config.option(Config.Redacted("DATABASE_URL")).pipe(Effect.orDie)
  if (Option.isSome(url) && Redacted.value(url.value).trim().length > 0) return yield* fromUrl(url.value)
  const host = yield* optional("NEXUS_DB_HOST")
  const portText = yield* optional("NEXUS_DB_PORT")
  const name = yield* optional("NEXUS_DB_NAME")
  const user = yield* optional("NEXUS_DB_USER")
  const password = yield* Config.option(Config.Redacted("NEXUS_DB_PASSWORD")).pipe(Effect.orDie)
  if ([host, portText, name, user].every(Option.isNone) && Option.isNone(password)) {
    return yield* new DatabaseNotConfigured()
  }
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
    ...resolved,
    options: {
      host: resolved.host,
      port: resolved.port,
      database: resolved.database,
      username: resolved.user,
      ...(Option.isSome(password) ? { password: password.value } : {}),
      connectTimeout: CONNECT_TIMEOUT,
      maxConnections: 4
    }
  } satisfies Target
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

/** The most specific readable reason in an error's cause chain. */
const describe = (error: unknown): string => {
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
 * Turns a SQL failure into a message naming host and database, without the password.
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
      reason === "AuthenticationError"
        ? `Check the user (${at.user}) and password in DATABASE_URL.`
        : reason === "ConnectionError"
          ? "Start PostgreSQL or fix DATABASE_URL, then try again."
          : /does not exist/.test(detail)
            ? `Create it (createdb ${at.database}) or fix DATABASE_URL, then try again.`
            : "Check DATABASE_URL and the server's log, then try again."
    return new DatabaseUnavailable({ host: at.host, port: at.port, database: at.database, detail, hint })
  }

/**
 * The configured database: where it is (for messages), and, from its layer, a checked `PgClient`.
 *
 * @since 0.1.0
 * @category services
 */
export class Database extends Context.Service<Database, Target>()("@nexus/cli/Database") {
  /**
   * A `PgClient` (and `SqlClient`) for the configured database, checked with one round trip.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer = Layer.unwrap(
    Effect.map(target, (at) =>
      Layer.merge(
        Layer.succeed(Database)(at),
        PgClient.layerFrom(
          Effect.gen(function* () {
            const client = yield* PgClient.make(at.options).pipe(Effect.mapError(unavailable(at)))
            yield* client`SELECT 1`.pipe(Effect.mapError(unavailable(at)))
            yield* Effect.logDebug("connected to PostgreSQL", { host: at.host, port: at.port, database: at.database })
            return client
          })
        )
      )
    )
  )
}

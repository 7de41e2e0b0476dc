/**
 * The database's typed failures. Every message says what happened and what to do next, and none
 * carries a password.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Neither `DATABASE_URL` nor any `NEXUS_DB_*` variable is set.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseNotConfigured extends Schema.TaggedError<DatabaseNotConfigured>()("DatabaseNotConfigured", {}) {
  override get message() {
    return "Nexus needs a PostgreSQL database and the embedded one is switched off (NEXUS_EMBEDDED_DB=off): set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/nexus), or unset NEXUS_EMBEDDED_DB"
  }
}

/**
 * The embedded PostgreSQL server (the default database, under `NEXUS_DATA_DIR`) could not be
 * used. `reason` says which step failed: `unsupported` (no binaries for this platform),
 * `unlinked` (its package's install script did not run), `user` (no account to run it as root),
 * `busy` (another process held its lock too long), `init`, `start` or `stop`.
 *
 * @since 0.1.0
 * @category errors
 */
export class EmbeddedDatabaseError extends Schema.TaggedError<EmbeddedDatabaseError>()("EmbeddedDatabaseError", {
  reason: Schema.Literals(["unsupported", "unlinked", "user", "busy", "init", "start", "stop"]),
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    switch (this.reason) {
      case "unsupported":
      case "unlinked":
      case "user":
        return `The embedded PostgreSQL cannot run here: ${this.detail}. Set DATABASE_URL to a PostgreSQL server (15 or later) instead.`
      case "busy":
        return `The embedded PostgreSQL is busy: ${this.detail}. If no other nexus process is starting or stopping it, try again.`
      default:
        return `The embedded PostgreSQL could not ${this.reason === "init" ? "be created" : this.reason}: ${this.detail}. \`nexus db status\` shows where its data and log are; or set DATABASE_URL to a server of your own.`
    }
  }
}

/**
 * The database settings cannot be used as they are.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidDatabaseConfig extends Schema.TaggedError<InvalidDatabaseConfig>()("InvalidDatabaseConfig", {
  variable: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `${this.variable} ${this.problem}: set it to a URL like postgres://postgres@127.0.0.1:5432/nexus.`
  }
}

/**
 * PostgreSQL could not be reached or refused the connection. Names the host and the database,
 * never the password; `reason` is the SQL failure's kind (e.g. `ConnectionError`).
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseUnavailable extends Schema.TaggedError<DatabaseUnavailable>()("DatabaseUnavailable", {
  host: Schema.String,
  port: Schema.Finite,
  database: Schema.String,
  reason: Schema.String,
  detail: Schema.String,
  hint: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `cannot reach PostgreSQL at ${this.host}:${this.port}, database ${this.database}: ${this.detail}. ${this.hint}`
  }
}

/**
 * A migration failed; nothing of it was applied.
 *
 * @since 0.1.0
 * @category errors
 */
export class MigrationFailed extends Schema.TaggedError<MigrationFailed>()("MigrationFailed", {
  package: Schema.String,
  migration: Schema.String,
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `${this.package}: ${this.migration}: ${this.detail}. Nothing of it was applied; fix the cause and run \`nexus db migrate\` again.`
  }
}

/**
 * A package's tables are missing or older than its code: the database has not been migrated.
 *
 * @since 0.1.0
 * @category errors
 */
export class SchemaNotReady extends Schema.TaggedError<SchemaNotReady>()("SchemaNotReady", {
  package: Schema.String,
  missing: Schema.Array(Schema.String)
}) {
  override get message() {
    return `The database lacks ${this.package}'s migration${this.missing.length === 1 ? "" : "s"} ${this.missing.join(", ")}: run \`nexus db migrate\` (it is safe to run any number of times), then try again.`
  }
}

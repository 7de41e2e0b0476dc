/**
 * The failures of the `nexus` commands themselves (the libraries bring their own). Every message
 * says what happened and what to do next, and none carries a token or a password.
 *
 * @since 0.1.0
 */
import { Runtime, Schema } from "effect"

/**
 * Neither `DATABASE_URL` nor any `NEXUS_DB_*` variable is set.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseNotConfigured extends Schema.TaggedError<DatabaseNotConfigured>()("DatabaseNotConfigured", {}) {
  override get message() {
    return "Nexus needs a PostgreSQL database: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/nexus)"
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
 * never the password.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseUnavailable extends Schema.TaggedError<DatabaseUnavailable>()("DatabaseUnavailable", {
  host: Schema.String,
  port: Schema.Finite,
  database: Schema.String,
  detail: Schema.String,
  hint: Schema.String
}) {
  override get message() {
    return `cannot reach PostgreSQL at ${this.host}:${this.port}, database ${this.database}: ${this.detail}. ${this.hint}`
  }
}

/**
 * No ChatGPT account is signed in.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoAccount extends Schema.TaggedError<NoAccount>()("NoAccount", {}) {
  override get message() {
    return "No ChatGPT account signed in — run `nexus login`."
  }
}

/**
 * Several accounts are signed in and the command needs to know which one. A usage error (exit 2).
 *
 * @since 0.1.0
 * @category errors
 */
export class AmbiguousAccount extends Schema.TaggedError<AmbiguousAccount>()("AmbiguousAccount", {
  command: Schema.String,
  accounts: Schema.Array(Schema.String)
}) {
  override readonly [Runtime.errorExitCode] = 2
  override get message() {
    return `${this.accounts.length} ChatGPT accounts are signed in (${this.accounts.join(", ")}): choose one with \`nexus ${this.command} --account ID_OR_LABEL\`.`
  }
}

/**
 * A migration failed; nothing of it was applied.
 *
 * @since 0.1.0
 * @category errors
 */
export class MigrationFailed extends Schema.TaggedError<MigrationFailed>()("MigrationFailed", {
  migration: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.migration}: ${this.detail}. Nothing was applied; fix the cause and run \`nexus db migrate\` again.`
  }
}

/**
 * The label asked for belongs to another account.
 *
 * @since 0.1.0
 * @category errors
 */
export class LabelTaken extends Schema.TaggedError<LabelTaken>()("LabelTaken", {
  label: Schema.String,
  account: Schema.String
}) {
  override get message() {
    return `The label ${this.label} already names account ${this.account}: choose another --label, or run \`nexus logout --account ${this.label}\` first.`
  }
}

/**
 * The one way the Postgres store and key rotation turn a failure into `TokenStoreUnavailable`:
 * a SQL failure, a token that does not decrypt, or a row that is not what this version reads.
 * Internal: not exported from the package's index.
 */
import type { PgClient } from "@effect/sql-pg"
import { Database } from "@nexus/database"
import { Redacted, Schema } from "effect"
import { SqlError } from "effect/sql"
import type { DecryptionFailed } from "../Crypto.ts"
import { TokenStoreUnavailable } from "../Errors.ts"

/** What reading or writing `nexus.oauth_tokens` can fail with. */
export type Failure = SqlError.SqlError | DecryptionFailed | Schema.SchemaError

/** Where the client connects, for messages: host, port and database (never the password). */
export const locate = (sql: PgClient.PgClient): string => {
  const url = sql.config.url ? new URL(Redacted.value(sql.config.url)) : undefined
  const host = sql.config.host ?? url?.hostname ?? "localhost"
  const port = sql.config.port ?? (url?.port ? Number(url.port) : 5432)
  const database = sql.config.database ?? url?.pathname.slice(1) ?? "postgres"
  return `PostgreSQL at ${host}:${port}, database ${database}`
}

/**
 * A failure as TokenStoreUnavailable, the failure kept as the cause. The detail is one line: the
 * server's own reason for a SQL failure (never a statement's parameters, never the password) and
 * `where`, the decryption failure's message, or which column of a row did not decode.
 */
export const unavailable =
  (where: string) =>
  (error: Failure): TokenStoreUnavailable =>
    new TokenStoreUnavailable({
      store: "postgres",
      reason: SqlError.isSqlError(error) ? error.reason._tag : Schema.isSchemaError(error) ? "InvalidRow" : error._tag,
      detail: describe(error, where),
      retryable: SqlError.isSqlError(error) && error.isRetryable,
      cause: error
    })

const describe = (error: Failure, where: string): string => {
  if (SqlError.isSqlError(error)) return `${Database.describe(error)} (${where})`
  if (Schema.isSchemaError(error)) {
    return `a stored sign-in (nexus.oauth_tokens) is not what this version of Nexus reads: ${error.message.replace(/\s*\n\s*/g, " ")} (${where})`
  }
  return Database.describe(error)
}

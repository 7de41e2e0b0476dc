/**
 * Key rotation (`nexus keys rotate`): every stored token re-encrypted under the current
 * `NEXUS_TOKEN_KEY`, in one transaction. Tokens written under an older key are read with
 * `NEXUS_TOKEN_KEY_PREVIOUS`; once this has run, the old key can be dropped.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Schema } from "effect"
import { SqlSchema } from "effect/sql"
import { Crypto } from "./Crypto.ts"
import { locate, unavailable } from "./internal/unavailable.ts"
import { type Column, contextOf } from "./internal/postgres.ts"

/** The columns a rotation reads: which row, and its ciphertexts. */
const Ciphertexts = Schema.Struct({
  provider: Schema.String,
  account_id: Schema.String,
  access_token: Schema.String,
  refresh_token: Schema.String,
  id_token: Schema.NullOr(Schema.String)
})

/**
 * Re-encrypts every row under the current key; answers how many rows there were and how many were
 * under an older key.
 *
 * @since 0.1.0
 * @category operations
 */
export const rotate = Effect.gen(function* () {
  const sql = yield* PgClient.PgClient
  const crypto = yield* Crypto
  const reencrypt = (text: string, account: string, column: Column) => {
    const context = contextOf(account, column)
    return Effect.map(crypto.decrypt(text, context), (plain) => crypto.encrypt(plain, context))
  }
  const lockAll = SqlSchema.findAll({
    Request: Schema.Void,
    Result: Ciphertexts,
    execute: () => sql`
        SELECT provider, account_id, access_token, refresh_token, id_token FROM nexus.oauth_tokens FOR UPDATE`
  })
  return yield* sql
    .withTransaction(
      Effect.gen(function* () {
        const rows = yield* lockAll(undefined)
        let stale = 0
        for (const row of rows) {
          if ([row.access_token, row.refresh_token, row.id_token].some((text) => text !== null && crypto.isStale(text)))
            stale++
          yield* sql`
          UPDATE nexus.oauth_tokens SET
            access_token = ${yield* reencrypt(row.access_token, row.account_id, "access_token")},
            refresh_token = ${yield* reencrypt(row.refresh_token, row.account_id, "refresh_token")},
            id_token = ${row.id_token === null ? null : yield* reencrypt(row.id_token, row.account_id, "id_token")}
          WHERE provider = ${row.provider} AND account_id = ${row.account_id}`
        }
        return { rows: rows.length, stale, keyId: crypto.keyId }
      })
    )
    .pipe(Effect.mapError(unavailable(locate(sql))))
}).pipe(Effect.withSpan("KeyRotation.rotate"))

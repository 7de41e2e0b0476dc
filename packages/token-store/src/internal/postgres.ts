// The Postgres TokenStore behind `TokenStore.layerPg` and `TokenStore.layer`: rows of
// `nexus.oauth_tokens`, encrypted per column, decoded with Schema; seeds (the token file, the
// environment) copied in on first use.
import { PgClient } from "@effect/sql-pg"
import { Migrations as DatabaseMigrations } from "@nexus/database"
import { TokenSet } from "@nexus/oauth"
import { Array as Arr, DateTime, Effect, Option, Schema, SchemaTransformation } from "effect"
import { SqlClient, SqlError, SqlSchema } from "effect/sql"
import { Crypto } from "../Crypto.ts"
import { ForeignKeys, LabelTaken, TokenNotFound, type TokenStoreUnavailable, VersionConflict } from "../Errors.ts"
import * as Migrations from "../Migrations.ts"
import type { Inventory, LockedDecision, StoredTokens, TokenStore, Unreadable } from "../TokenStore.ts"
import { locate, unavailable } from "./unavailable.ts"

/** Whether a sign-in can be used (the `status` column). */
export const Status = Schema.Literals(["active", "reauth_required", "disabled"])

/** A lower-priority source of sign-ins that Postgres copies on first use. */
export interface Seed<R> {
  readonly source: "file" | "env"
  readonly find: Effect.Effect<
    Option.Option<{ readonly tokens: TokenSet.TokenSet; readonly label: string | undefined }>,
    TokenStoreUnavailable,
    R
  >
}

export const makePg = <R = never>(seeds: ReadonlyArray<Seed<R>>) =>
  Effect.gen(function* () {
    // What the seeds need (the file system), captured once for every later lookup.
    const seedContext = yield* Effect.context<R>()
    const sql = yield* PgClient.PgClient
    const crypto = yield* Crypto
    /** A SQL failure, or a row this version cannot read, as TokenStoreUnavailable naming the database. */
    const failed = unavailable(locate(sql))
    yield* DatabaseMigrations.check(Migrations.migrations).pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.catchTag("SqlError", (error) => Effect.fail(failed(error)))
    )

    const decode = Effect.fnUntraced(function* (row: Row) {
      const decrypt = (text: string, column: Column) => crypto.decrypt(text, contextOf(row.account_id, column))
      const idToken = row.id_token === null ? undefined : yield* decrypt(row.id_token, "id_token")
      const tokens = new TokenSet.TokenSet({
        accessToken: yield* decrypt(row.access_token, "access_token"),
        refreshToken: yield* decrypt(row.refresh_token, "refresh_token"),
        ...(idToken ? { idToken } : {}),
        expiresAt: row.expires_at,
        accountId: row.account_id,
        ...(row.plan_type === null ? {} : { planType: row.plan_type }),
        ...(row.user_id === null ? {} : { userId: row.user_id }),
        ...(row.email === null ? {} : { email: row.email }),
        scopes: row.scopes,
        lastRefresh: row.last_refresh
      })
      return {
        tokens,
        label: row.label ?? undefined,
        status: row.status,
        statusReason: row.status_reason ?? undefined,
        version: row.version,
        updatedAt: row.updated_at,
        source: row.source
      } satisfies StoredTokens
    })

    const decodeRow = (row: Row) => decode(row).pipe(Effect.mapError(failed))
    const columns = (tokens: TokenSet.TokenSet) => ({
      access_token: crypto.encrypt(tokens.accessToken, contextOf(tokens.accountId, "access_token")),
      refresh_token: crypto.encrypt(tokens.refreshToken, contextOf(tokens.accountId, "refresh_token")),
      id_token: tokens.idToken ? crypto.encrypt(tokens.idToken, contextOf(tokens.accountId, "id_token")) : null,
      expires_at: DateTime.toDateUtc(tokens.expiresAt),
      last_refresh: DateTime.toDateUtc(tokens.lastRefresh),
      plan_type: tokens.planType ?? null,
      email: tokens.email ?? null,
      user_id: tokens.userId ?? null,
      scopes: tokens.scopes
    })

    const select = SqlSchema.findOneOption({
      Request: Schema.String,
      Result: Row,
      execute: (account) =>
        sql`SELECT * FROM nexus.oauth_tokens WHERE provider = 'chatgpt' AND (account_id = ${account} OR label = ${account})
                 ORDER BY (account_id = ${account}) DESC LIMIT 1`
    })
    const find = (account: string) => select(account).pipe(Effect.mapError(failed))

    const selectAll = SqlSchema.findAll({
      Request: Schema.Void,
      Result: Row,
      execute: () =>
        sql`SELECT * FROM nexus.oauth_tokens WHERE provider = 'chatgpt' ORDER BY label NULLS LAST, account_id`
    })
    const findAll = selectAll(undefined).pipe(Effect.mapError(failed))

    const selectKeyIds = SqlSchema.findAll({
      Request: Schema.Void,
      Result: Schema.Struct({ key_id: Schema.String }),
      execute: () => sql`
        SELECT DISTINCT split_part(access_token, '.', 2) AS key_id FROM nexus.oauth_tokens WHERE provider = 'chatgpt'`
    })
    /** The keys the stored rows were written under that this instance lacks. */
    const foreignKeys = selectKeyIds(undefined).pipe(
      Effect.mapError(failed),
      Effect.map((rows) => rows.map((row) => row.key_id).filter((id) => !crypto.knows(id)))
    )

    const selectLabelHolder = SqlSchema.findOneOption({
      Request: Schema.Struct({ label: Schema.String, accountId: Schema.String }),
      Result: Schema.Struct({ account_id: Schema.String }),
      execute: ({ label, accountId }) => sql`
        SELECT account_id FROM nexus.oauth_tokens WHERE provider = 'chatgpt' AND label = ${label} AND account_id <> ${accountId}`
    })
    /** The account that holds `label`, other than `accountId`. */
    const labelHolder = (label: string, accountId: string) =>
      selectLabelHolder({ label, accountId }).pipe(
        Effect.mapError(failed),
        Effect.map(Option.match({ onNone: () => undefined, onSome: (row) => row.account_id }))
      )

    /**
     * Copies a seed into Postgres unless the account is already there (ON CONFLICT DO NOTHING:
     * once), with its label unless another account has it.
     */
    const adopt = Effect.fnUntraced(function* (tokens: TokenSet.TokenSet, label: string | undefined, source: string) {
      const holder = label === undefined ? undefined : yield* labelHolder(label, tokens.accountId)
      if (holder !== undefined) {
        yield* Effect.logWarning(
          `the ${source} sign-in's label ${label} already names account ${holder}: copied without it`
        )
      }
      yield* sql`INSERT INTO nexus.oauth_tokens ${sql.insert({
        account_id: tokens.accountId,
        label: holder === undefined ? (label ?? null) : null,
        source,
        ...columns(tokens)
      })}
          ON CONFLICT (provider, account_id) DO NOTHING`.pipe(Effect.mapError(failed))
      yield* Effect.logDebug("copied a sign-in into Postgres", { account: tokens.accountId, source })
    })

    /**
     * The seeds' sign-ins matching `account` (any, for "*"), each copied into Postgres — unless the
     * rows there are under keys this instance lacks: copying under its own key would split the fleet.
     */
    const adoptSeeds = Effect.fnUntraced(function* (account: string) {
      let adopted = 0
      for (const seed of seeds) {
        // A broken or loose token file (or environment) blocks nothing stored in Postgres: it is
        // reported as a warning about that source, and skipped.
        const found = yield* Effect.provideContext(seed.find, seedContext).pipe(
          Effect.catchTag("TokenStoreUnavailable", (error) =>
            Effect.as(
              Effect.logWarning(
                `ignoring the ${seed.source === "file" ? "token file" : "environment"} sign-in: ${error.message}`
              ),
              Option.none()
            )
          )
        )
        if (Option.isNone(found)) continue
        const { tokens, label } = found.value
        if (account !== "*" && tokens.accountId !== account && label !== account) continue
        const foreign = yield* foreignKeys
        if (foreign.length > 0) {
          yield* Effect.logWarning(
            new ForeignKeys({ keyIds: foreign, keyId: crypto.keyId, origin: crypto.origin }).message,
            {
              source: seed.source,
              account: tokens.accountId
            }
          )
          continue
        }
        yield* adopt(tokens, label, seed.source)
        adopted++
      }
      return adopted
    })

    const get = Effect.fn("TokenStore.get")(function* (account: string) {
      const row = yield* find(account)
      if (Option.isSome(row)) return yield* decodeRow(row.value)
      if ((yield* adoptSeeds(account)) > 0) {
        const copied = yield* find(account)
        if (Option.isSome(copied)) return yield* decodeRow(copied.value)
      }
      return yield* new TokenNotFound({ account })
    })

    const list = adoptSeeds("*").pipe(
      Effect.andThen(findAll),
      Effect.flatMap(Effect.forEach(decodeRow)),
      Effect.withSpan("TokenStore.list")
    )

    const inventory = Effect.gen(function* () {
      yield* adoptSeeds("*")
      const rows = yield* findAll
      const readable: Array<StoredTokens> = []
      const unreadable: Array<Unreadable> = []
      for (const row of rows) {
        const decoded = yield* Effect.result(decode(row))
        if (decoded._tag === "Success") readable.push(decoded.success)
        else
          unreadable.push({
            accountId: row.account_id,
            label: row.label ?? undefined,
            email: row.email ?? undefined,
            planType: row.plan_type ?? undefined,
            status: row.status,
            keyId: row.access_token.split(".")[1] ?? "?",
            problem: decoded.failure
          })
      }
      return { readable, unreadable } satisfies Inventory
    }).pipe(Effect.withSpan("TokenStore.inventory"))

    const put = Effect.fn("TokenStore.put")(function* (
      tokens: TokenSet.TokenSet,
      options?: { readonly label?: string | undefined; readonly source?: string | undefined }
    ) {
      const label = options?.label
      const foreign = yield* foreignKeys
      if (foreign.length > 0) {
        return yield* new ForeignKeys({ keyIds: foreign, keyId: crypto.keyId, origin: crypto.origin })
      }
      if (label !== undefined) {
        const holder = yield* labelHolder(label, tokens.accountId)
        if (holder !== undefined) return yield* new LabelTaken({ label, account: holder })
      }
      const values = columns(tokens)
      const rows = yield* sql`
          INSERT INTO nexus.oauth_tokens ${sql.insert({
            account_id: tokens.accountId,
            label: label ?? null,
            source: options?.source ?? "login",
            ...values
          })}
          ON CONFLICT (provider, account_id) DO UPDATE SET
            access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token, id_token = EXCLUDED.id_token,
            expires_at = EXCLUDED.expires_at, last_refresh = EXCLUDED.last_refresh, plan_type = EXCLUDED.plan_type,
            email = EXCLUDED.email, user_id = EXCLUDED.user_id, scopes = EXCLUDED.scopes,
            label = COALESCE(EXCLUDED.label, nexus.oauth_tokens.label), source = EXCLUDED.source,
            status = 'active', status_reason = NULL,
            version = nextval('nexus.oauth_token_version'), updated_at = now()
          RETURNING *`.pipe(
        // Another instance gave the label away in between: the unique index says so.
        Effect.catchTag("SqlError", (error) =>
          label === undefined || error.reason._tag !== "UniqueViolation"
            ? Effect.fail(failed(error))
            : Effect.flatMap(labelHolder(label, tokens.accountId), (holder) =>
                Effect.fail(new LabelTaken({ label, account: holder ?? "(another account)" }))
              )
        )
      )
      const row = yield* returned(rows).pipe(Effect.mapError(failed))
      // An upsert always answers its row.
      return yield* decodeRow(Option.getOrThrowWith(row, () => new Error("the upsert returned no row")))
    })

    const delete_ = Effect.fn("TokenStore.delete")(function* (account: string) {
      const rows =
        yield* sql`DELETE FROM nexus.oauth_tokens WHERE provider = 'chatgpt' AND (account_id = ${account} OR label = ${account}) RETURNING account_id`.pipe(
          Effect.mapError(failed)
        )
      if (rows.length === 0) return yield* new TokenNotFound({ account })
    })

    /** Replaces the tokens if the row is still at `version`; none if it is not (or is gone). */
    const update = (account: string, version: number, tokens: TokenSet.TokenSet, refreshedBy: string | null) =>
      sql`
          UPDATE nexus.oauth_tokens SET ${sql.update({ ...columns(tokens), refreshed_by: refreshedBy })},
            version = nextval('nexus.oauth_token_version'), updated_at = now()
          WHERE provider = 'chatgpt' AND account_id = ${account} AND version = ${version}
          RETURNING *`.pipe(Effect.flatMap(returned), Effect.mapError(failed))

    const compareAndSet = Effect.fn("TokenStore.compareAndSet")(function* (
      account: string,
      version: number,
      tokens: TokenSet.TokenSet
    ) {
      const row = yield* update(account, version, tokens, null)
      if (Option.isSome(row)) return yield* decodeRow(row.value)
      yield* get(account)
      return yield* new VersionConflict({ account, expected: version })
    })

    const lock = SqlSchema.findOneOption({
      Request: Schema.String,
      Result: Row,
      execute: (account) => sql`
          SELECT * FROM nexus.oauth_tokens WHERE provider = 'chatgpt' AND account_id = ${account} FOR UPDATE`
    })
    const markReauth = SqlSchema.findOneOption({
      Request: Schema.Struct({ account: Schema.String, reason: Schema.String }),
      Result: Row,
      execute: ({ account, reason }) => sql`
          UPDATE nexus.oauth_tokens SET status = 'reauth_required', status_reason = ${reason},
            version = nextval('nexus.oauth_token_version'), updated_at = now()
          WHERE provider = 'chatgpt' AND account_id = ${account} RETURNING *`
    })

    const withLock = <E>(account: string, decide: (current: StoredTokens) => Effect.Effect<LockedDecision, E>) =>
      sql
        .withTransaction(
          Effect.gen(function* () {
            // Bounds on holding the lock across the issuer call: a waiter gives up after a minute, and
            // a holder that stops talking (crashed, partitioned) is ended by the server, which releases
            // the lock. The refresh itself times out well before either (OAuthConfig.requestTimeout).
            yield* sql`SET LOCAL lock_timeout = '60s'`.pipe(Effect.mapError(failed))
            yield* sql`SET LOCAL idle_in_transaction_session_timeout = '90s'`.pipe(Effect.mapError(failed))
            const row = yield* lock(account).pipe(Effect.mapError(failed))
            if (Option.isNone(row)) return yield* new TokenNotFound({ account })
            const current = yield* decodeRow(row.value)
            const decision = yield* decide(current)
            // The row is locked: the updates below find it (none would mean it is gone after all).
            switch (decision._tag) {
              case "Keep":
                return current
              case "Replace": {
                const updated = yield* update(account, current.version, decision.tokens, decision.refreshedBy)
                if (Option.isNone(updated)) return yield* new TokenNotFound({ account })
                return yield* decodeRow(updated.value)
              }
              case "Delete": {
                yield* sql`DELETE FROM nexus.oauth_tokens WHERE provider = 'chatgpt' AND account_id = ${account}`.pipe(
                  Effect.mapError(failed)
                )
                return current
              }
              case "Reauth": {
                const updated = yield* markReauth({ account, reason: decision.reason }).pipe(Effect.mapError(failed))
                if (Option.isNone(updated)) return yield* new TokenNotFound({ account })
                return yield* decodeRow(updated.value)
              }
            }
          })
        )
        .pipe(
          // BEGIN or COMMIT failing is the database's failure too.
          Effect.mapError((error) => (SqlError.isSqlError(error) ? failed(error) : error)),
          Effect.withSpan("TokenStore.withLock")
        )

    const store: TokenStore["Service"] = { get, list, inventory, put, delete: delete_, compareAndSet, withLock }
    return store
  })

/** The encrypted columns. */
export type Column = "access_token" | "refresh_token" | "id_token"

/** What a ciphertext is bound to: its provider, account and column. */
export const contextOf = (accountId: string, column: Column) => `chatgpt/${accountId}/${column}`

/** A `bigint` column, which the driver answers as a bigint, as a number. */
const BigIntAsNumber = Schema.BigInt.pipe(
  Schema.decodeTo(Schema.Finite, SchemaTransformation.transform({ decode: Number, encode: BigInt }))
)

/** The columns of `nexus.oauth_tokens` the store reads, as the driver answers them. */
const Row = Schema.Struct({
  account_id: TokenSet.AccountId,
  label: Schema.NullOr(Schema.String),
  access_token: Schema.String,
  refresh_token: Schema.String,
  id_token: Schema.NullOr(Schema.String),
  expires_at: Schema.DateTimeUtcFromDate,
  last_refresh: Schema.DateTimeUtcFromDate,
  plan_type: Schema.NullOr(Schema.String),
  email: Schema.NullOr(Schema.String),
  user_id: Schema.NullOr(Schema.String),
  scopes: Schema.Array(Schema.String),
  status: Status,
  status_reason: Schema.NullOr(Schema.String),
  version: BigIntAsNumber,
  updated_at: Schema.DateTimeUtcFromDate,
  source: Schema.String
})
type Row = typeof Row.Type

const decodeReturned = Schema.decodeUnknownEffect(Row)

/**
 * The row an `INSERT … RETURNING` or `UPDATE … RETURNING` answered, decoded; none when it answered
 * none. (Statements whose parameters are plain values go through `SqlSchema` instead.)
 */
const returned = (rows: ReadonlyArray<unknown>) =>
  Arr.isReadonlyArrayNonEmpty(rows) ? Effect.asSome(decodeReturned(rows[0])) : Effect.succeedNone

/**
 * Where ChatGPT sign-ins live: Postgres (encrypted at rest), shared by every instance of a fleet.
 * One row per ChatGPT account id, with a human label, a status and a version for compare-and-set.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { TokenSet } from "@nexus/oauth"
import { Context, DateTime, Effect, type FileSystem, Layer, Option, Redacted, Semaphore } from "effect"
import { SqlClient, SqlError } from "effect/sql"
import { Migrations as Schema, type Errors as DatabaseErrors } from "@nexus/database"
import { Crypto, type DecryptionFailed } from "./Crypto.ts"
import { ForeignKeys, LabelTaken, TokenNotFound, TokenStoreUnavailable, VersionConflict } from "./Errors.ts"
import * as EnvStore from "./EnvStore.ts"
import * as FileStore from "./FileStore.ts"
import * as Migrations from "./Migrations.ts"

/**
 * Whether a sign-in can be used.
 *
 * @since 0.1.0
 * @category models
 */
export type Status = "active" | "reauth_required" | "disabled"

/**
 * A stored sign-in: the tokens plus what the store knows about them.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredTokens {
  readonly tokens: TokenSet.TokenSet
  readonly label: string | undefined
  readonly status: Status
  /** Why the status is not active (e.g. `reused`), as the failing refresh said. */
  readonly statusReason: string | undefined
  readonly version: number
  readonly updatedAt: DateTime.Utc
  /** Where the sign-in came from: `login`, or the `file` / `env` source it was copied from. */
  readonly source: string
}

export { ForeignKeys, LabelTaken, TokenNotFound, TokenStoreUnavailable, VersionConflict } from "./Errors.ts"

/**
 * A stored sign-in this instance cannot decrypt (written under a key it lacks, or damaged): what
 * the row says in the clear, and why.
 *
 * @since 0.1.0
 * @category models
 */
export interface Unreadable {
  readonly accountId: string
  readonly label: string | undefined
  readonly email: string | undefined
  readonly planType: string | undefined
  readonly status: Status
  /** The key its tokens were written under. */
  readonly keyId: string
  readonly problem: DecryptionFailed
}

/**
 * Every stored sign-in: those this instance can read, and those it cannot.
 *
 * @since 0.1.0
 * @category models
 */
export interface Inventory {
  readonly readable: ReadonlyArray<StoredTokens>
  readonly unreadable: ReadonlyArray<Unreadable>
}

/**
 * What a locked update decides: keep the row, replace its tokens, mark it for a new sign-in, or
 * delete it (a sign-out, after revoking the tokens the row holds now).
 *
 * @since 0.1.0
 * @category models
 */
export type LockedDecision =
  | { readonly _tag: "Keep" }
  | { readonly _tag: "Replace"; readonly tokens: TokenSet.TokenSet; readonly refreshedBy: string }
  | { readonly _tag: "Reauth"; readonly reason: string }
  | { readonly _tag: "Delete" }

/**
 * The token store.
 *
 * @since 0.1.0
 * @category services
 */
export class TokenStore extends Context.Service<
  TokenStore,
  {
    /** By ChatGPT account id or by label. */
    readonly get: (account: string) => Effect.Effect<StoredTokens, TokenNotFound | TokenStoreUnavailable>
    readonly list: Effect.Effect<ReadonlyArray<StoredTokens>, TokenStoreUnavailable>
    /** Every sign-in, the ones this instance cannot decrypt listed apart instead of failing the lot. */
    readonly inventory: Effect.Effect<Inventory, TokenStoreUnavailable>
    /**
     * Inserts or replaces a sign-in (a new sign-in makes the row active again). A label that names
     * another account fails with `LabelTaken`; rows under keys this instance lacks, with
     * `ForeignKeys` (writing under its own key would split the fleet).
     */
    readonly put: (
      tokens: TokenSet.TokenSet,
      options?: { readonly label?: string | undefined; readonly source?: string | undefined }
    ) => Effect.Effect<StoredTokens, LabelTaken | ForeignKeys | TokenStoreUnavailable>
    readonly delete: (account: string) => Effect.Effect<void, TokenNotFound | TokenStoreUnavailable>
    /** Replaces the tokens only if the row is still at `version`. */
    readonly compareAndSet: (
      account: string,
      version: number,
      tokens: TokenSet.TokenSet
    ) => Effect.Effect<StoredTokens, VersionConflict | TokenNotFound | TokenStoreUnavailable>
    /**
     * Runs `decide` while holding the account's row lock (fleet-wide: every instance that wants to
     * refresh waits here), with the row as it is now, and applies the decision in the same
     * transaction. A crashed holder releases the lock with its connection.
     */
    readonly withLock: <E>(
      account: string,
      decide: (current: StoredTokens) => Effect.Effect<LockedDecision, E>
    ) => Effect.Effect<StoredTokens, E | TokenNotFound | TokenStoreUnavailable>
  }
>()("@nexus/token-store/TokenStore") {
  /**
   * The Postgres store; checks when it starts that `nexus db migrate` has created its tables.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerPg: Layer.Layer<
    TokenStore,
    TokenStoreUnavailable | DatabaseErrors.SchemaNotReady,
    PgClient.PgClient | Crypto
  > = Layer.effect(TokenStore)(Effect.suspend(() => makePg([])))

  /**
   * The store as Nexus runs it: Postgres first, then the token file, then the environment. A
   * sign-in found only in the file or the environment is copied into Postgres on first use — once,
   * even when several processes start together — and served from Postgres from then on (the file
   * is left as it was).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<
    TokenStore,
    TokenStoreUnavailable | DatabaseErrors.SchemaNotReady,
    PgClient.PgClient | Crypto | FileSystem.FileSystem
  > = Layer.effect(TokenStore)(
    Effect.suspend(() =>
      makePg([
        { source: "file", find: FileStore.find() },
        {
          source: "env",
          find: Effect.map(
            EnvStore.read(),
            Option.map((tokens) => ({ tokens, label: undefined }))
          )
        }
      ])
    )
  )

  /**
   * Sign-ins in memory, for the unit and property tests of other packages (no Postgres): the same
   * contract — lookup by id or label, `LabelTaken`, versions, compare-and-set, a lock per account.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerTest: Layer.Layer<TokenStore> = Layer.sync(TokenStore)(makeMemory)
}

/** The in-memory store behind `layerTest`. */
function makeMemory() {
  const rows = new Map<string, StoredTokens>()
  const locks = new Map<string, Semaphore.Semaphore>()
  let version = 0
  const lockOf = (accountId: string) => {
    let lock = locks.get(accountId)
    if (!lock) locks.set(accountId, (lock = Semaphore.makeUnsafe(1)))
    return lock
  }
  const find = (account: string) => rows.get(account) ?? [...rows.values()].find((stored) => stored.label === account)
  const save = (stored: Omit<StoredTokens, "version" | "updatedAt">) =>
    Effect.clockWith((clock) =>
      Effect.sync(() => {
        const saved: StoredTokens = {
          ...stored,
          version: ++version,
          updatedAt: DateTime.makeUnsafe(clock.currentTimeMillisUnsafe())
        }
        rows.set(stored.tokens.accountId, saved)
        return saved
      })
    )
  const get = (account: string) =>
    Effect.suspend(() => {
      const found = find(account)
      return found ? Effect.succeed(found) : Effect.fail(new TokenNotFound({ account }))
    })
  const list = Effect.sync(() =>
    [...rows.values()].sort(
      (a, b) =>
        (a.label === undefined ? 1 : 0) - (b.label === undefined ? 1 : 0) ||
        (a.label ?? "").localeCompare(b.label ?? "") ||
        a.tokens.accountId.localeCompare(b.tokens.accountId)
    )
  )
  const put = (
    tokens: TokenSet.TokenSet,
    options?: { readonly label?: string | undefined; readonly source?: string | undefined }
  ) =>
    Effect.suspend(() => {
      const label = options?.label
      const holder = label === undefined ? undefined : [...rows.values()].find((stored) => stored.label === label)
      if (holder && holder.tokens.accountId !== tokens.accountId) {
        return Effect.fail(new LabelTaken({ label: label!, account: holder.tokens.accountId }))
      }
      return save({
        tokens,
        label: label ?? rows.get(tokens.accountId)?.label,
        status: "active",
        statusReason: undefined,
        source: options?.source ?? "login"
      })
    })
  const delete_ = (account: string) =>
    Effect.flatMap(get(account), (stored) => Effect.sync(() => void rows.delete(stored.tokens.accountId)))
  const compareAndSet = (account: string, expected: number, tokens: TokenSet.TokenSet) =>
    Effect.flatMap(get(account), (current) =>
      current.version === expected
        ? save({ ...current, tokens })
        : Effect.fail(new VersionConflict({ account, expected }))
    )
  const withLock = <E>(account: string, decide: (current: StoredTokens) => Effect.Effect<LockedDecision, E>) =>
    lockOf(account).withPermits(1)(
      Effect.gen(function* () {
        const current = rows.get(account)
        if (!current) return yield* new TokenNotFound({ account })
        const decision = yield* decide(current)
        switch (decision._tag) {
          case "Keep":
            return current
          case "Replace":
            return yield* save({ ...current, tokens: decision.tokens })
          case "Delete":
            rows.delete(account)
            return current
          case "Reauth":
            return yield* save({ ...current, status: "reauth_required", statusReason: decision.reason })
        }
      })
    )
  const inventory = Effect.map(list, (readable): Inventory => ({ readable, unreadable: [] }))
  return TokenStore.of({ get, list, inventory, put, delete: delete_, compareAndSet, withLock })
}

/** A lower-priority source of sign-ins that Postgres copies on first use. */
interface Seed<R> {
  readonly source: "file" | "env"
  readonly find: Effect.Effect<
    Option.Option<{ readonly tokens: TokenSet.TokenSet; readonly label: string | undefined }>,
    TokenStoreUnavailable,
    R
  >
}

const makePg = <R = never>(seeds: ReadonlyArray<Seed<R>>) =>
  Effect.gen(function* () {
    // What the seeds need (the file system), captured once for every later lookup.
    const seedContext = yield* Effect.context<R>()
    const sql = yield* PgClient.PgClient
    const crypto = yield* Crypto
    yield* Schema.check(Migrations.migrations).pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.catchTag("SqlError", (error) => Effect.fail(unavailable(error)))
    )

    const decode = Effect.fnUntraced(function* (row: Row) {
      const decrypt = (text: string, column: Column) => crypto.decrypt(text, contextOf(row.account_id, column))
      const idToken = row.id_token === null ? undefined : yield* decrypt(row.id_token, "id_token")
      const tokens = new TokenSet.TokenSet({
        accessToken: yield* decrypt(row.access_token, "access_token"),
        refreshToken: yield* decrypt(row.refresh_token, "refresh_token"),
        ...(idToken ? { idToken } : {}),
        expiresAt: DateTime.makeUnsafe(row.expires_at),
        accountId: row.account_id,
        ...(row.plan_type === null ? {} : { planType: row.plan_type }),
        ...(row.user_id === null ? {} : { userId: row.user_id }),
        ...(row.email === null ? {} : { email: row.email }),
        scopes: row.scopes,
        lastRefresh: DateTime.makeUnsafe(row.last_refresh)
      })
      return {
        tokens,
        label: row.label ?? undefined,
        status: row.status,
        statusReason: row.status_reason ?? undefined,
        version: Number(row.version),
        updatedAt: DateTime.makeUnsafe(row.updated_at),
        source: row.source
      } satisfies StoredTokens
    })

    const decodeRow = (row: Row) => decode(row).pipe(Effect.mapError((error) => unavailable(error)))
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
    const where = (() => {
      const url = sql.config.url ? new URL(Redacted.value(sql.config.url)) : undefined
      const host = sql.config.host ?? url?.hostname ?? "localhost"
      const port = sql.config.port ?? (url?.port ? Number(url.port) : 5432)
      const database = sql.config.database ?? url?.pathname.slice(1) ?? "postgres"
      return `PostgreSQL at ${host}:${port}, database ${database}`
    })()
    const sqlError = (error: SqlError.SqlError) =>
      new TokenStoreUnavailable({
        store: "postgres",
        reason: error.reason._tag,
        detail: `${describe(error)} (${where})`,
        retryable: error.isRetryable,
        cause: error
      })

    const select = (account: string) =>
      sql<Row>`SELECT * FROM nexus.oauth_tokens WHERE provider = 'chatgpt' AND (account_id = ${account} OR label = ${account})
                 ORDER BY (account_id = ${account}) DESC LIMIT 1`.pipe(Effect.mapError(sqlError))

    /** The keys the stored rows were written under that this instance lacks. */
    const foreignKeys = sql<{ readonly key_id: string }>`
        SELECT DISTINCT split_part(access_token, '.', 2) AS key_id FROM nexus.oauth_tokens WHERE provider = 'chatgpt'`.pipe(
      Effect.mapError(sqlError),
      Effect.map((rows) => rows.map((row) => row.key_id).filter((id) => !crypto.knows(id)))
    )

    /** The account that holds `label`, other than `accountId`. */
    const labelHolder = (label: string, accountId: string) =>
      sql<{ readonly account_id: string }>`
          SELECT account_id FROM nexus.oauth_tokens WHERE provider = 'chatgpt' AND label = ${label} AND account_id <> ${accountId}`.pipe(
        Effect.mapError(sqlError),
        Effect.map((rows) => rows[0]?.account_id)
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
          ON CONFLICT (provider, account_id) DO NOTHING`.pipe(Effect.mapError(sqlError))
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
      const [row] = yield* select(account)
      if (row) return yield* decodeRow(row)
      if ((yield* adoptSeeds(account)) > 0) {
        const [copied] = yield* select(account)
        if (copied) return yield* decodeRow(copied)
      }
      return yield* new TokenNotFound({ account })
    })

    const list = adoptSeeds("*").pipe(
      Effect.andThen(
        sql<Row>`SELECT * FROM nexus.oauth_tokens WHERE provider = 'chatgpt' ORDER BY label NULLS LAST, account_id`.pipe(
          Effect.mapError(sqlError)
        )
      ),
      Effect.flatMap(Effect.forEach(decodeRow)),
      Effect.withSpan("TokenStore.list")
    )

    const inventory = Effect.gen(function* () {
      yield* adoptSeeds("*")
      const rows = yield* sql<Row>`
          SELECT * FROM nexus.oauth_tokens WHERE provider = 'chatgpt' ORDER BY label NULLS LAST, account_id`.pipe(
        Effect.mapError(sqlError)
      )
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
      const [row] = yield* sql<Row>`
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
            ? Effect.fail(sqlError(error))
            : Effect.flatMap(labelHolder(label, tokens.accountId), (holder) =>
                Effect.fail(new LabelTaken({ label, account: holder ?? "(another account)" }))
              )
        )
      )
      return yield* decodeRow(row!)
    })

    const delete_ = Effect.fn("TokenStore.delete")(function* (account: string) {
      const rows =
        yield* sql`DELETE FROM nexus.oauth_tokens WHERE provider = 'chatgpt' AND (account_id = ${account} OR label = ${account}) RETURNING account_id`.pipe(
          Effect.mapError(sqlError)
        )
      if (rows.length === 0) return yield* new TokenNotFound({ account })
    })

    const update = (account: string, version: number, tokens: TokenSet.TokenSet, refreshedBy: string | null) =>
      sql<Row>`
          UPDATE nexus.oauth_tokens SET ${sql.update({ ...columns(tokens), refreshed_by: refreshedBy })},
            version = nextval('nexus.oauth_token_version'), updated_at = now()
          WHERE provider = 'chatgpt' AND account_id = ${account} AND version = ${version}
          RETURNING *`.pipe(Effect.mapError(sqlError))

    const compareAndSet = Effect.fn("TokenStore.compareAndSet")(function* (
      account: string,
      version: number,
      tokens: TokenSet.TokenSet
    ) {
      const [row] = yield* update(account, version, tokens, null)
      if (row) return yield* decodeRow(row)
      yield* get(account)
      return yield* new VersionConflict({ account, expected: version })
    })

    const withLock = <E>(account: string, decide: (current: StoredTokens) => Effect.Effect<LockedDecision, E>) =>
      sql
        .withTransaction(
          Effect.gen(function* () {
            // Bounds on holding the lock across the issuer call: a waiter gives up after a minute, and
            // a holder that stops talking (crashed, partitioned) is ended by the server, which releases
            // the lock. The refresh itself times out well before either (OAuthConfig.requestTimeout).
            yield* sql`SET LOCAL lock_timeout = '60s'`.pipe(Effect.mapError(sqlError))
            yield* sql`SET LOCAL idle_in_transaction_session_timeout = '90s'`.pipe(Effect.mapError(sqlError))
            const [row] = yield* sql<Row>`
                SELECT * FROM nexus.oauth_tokens WHERE provider = 'chatgpt' AND account_id = ${account} FOR UPDATE`.pipe(
              Effect.mapError(sqlError)
            )
            if (!row) return yield* new TokenNotFound({ account })
            const current = yield* decodeRow(row)
            const decision = yield* decide(current)
            switch (decision._tag) {
              case "Keep":
                return current
              case "Replace": {
                const [updated] = yield* update(account, current.version, decision.tokens, decision.refreshedBy)
                return yield* decodeRow(updated!)
              }
              case "Delete": {
                yield* sql`DELETE FROM nexus.oauth_tokens WHERE provider = 'chatgpt' AND account_id = ${account}`.pipe(
                  Effect.mapError(sqlError)
                )
                return current
              }
              case "Reauth": {
                const [updated] = yield* sql<Row>`
                    UPDATE nexus.oauth_tokens SET status = 'reauth_required', status_reason = ${decision.reason},
                      version = nextval('nexus.oauth_token_version'), updated_at = now()
                    WHERE provider = 'chatgpt' AND account_id = ${account} RETURNING *`.pipe(Effect.mapError(sqlError))
                return yield* decodeRow(updated!)
              }
            }
          })
        )
        .pipe(
          // BEGIN or COMMIT failing is the database's failure too.
          Effect.mapError((error) => (SqlError.isSqlError(error) ? sqlError(error) : error)),
          Effect.withSpan("TokenStore.withLock")
        )

    return TokenStore.of({ get, list, inventory, put, delete: delete_, compareAndSet, withLock })
  })

/** The encrypted columns. */
export type Column = "access_token" | "refresh_token" | "id_token"

/** What a ciphertext is bound to: its provider, account and column. */
export const contextOf = (accountId: string, column: Column) => `chatgpt/${accountId}/${column}`

interface Row {
  readonly account_id: string
  readonly label: string | null
  readonly access_token: string
  readonly refresh_token: string
  readonly id_token: string | null
  readonly expires_at: Date
  readonly last_refresh: Date
  readonly plan_type: string | null
  readonly email: string | null
  readonly user_id: string | null
  readonly scopes: Array<string>
  readonly status: Status
  readonly status_reason: string | null
  readonly version: string | number
  readonly updated_at: Date
  readonly source: string
}

/** A database or decryption failure as TokenStoreUnavailable: never the password, the failure kept as the cause. */
const unavailable = (error: SqlError.SqlError | DecryptionFailed) =>
  new TokenStoreUnavailable({
    store: "postgres",
    reason: SqlError.isSqlError(error) ? error.reason._tag : error._tag,
    detail: describe(error),
    retryable: SqlError.isSqlError(error) && error.isRetryable,
    cause: error
  })

/**
 * What went wrong, in one line: the server's own reason when there is one (never a statement's
 * parameters), else the error's message.
 */
const describe = (error: { readonly message: string; readonly cause?: unknown; readonly reason?: unknown }): string => {
  const nested = (error.reason as { readonly cause?: unknown } | undefined)?.cause ?? error.cause
  const cause = nested as { readonly message?: unknown; readonly code?: unknown } | undefined
  const reason = typeof cause?.message === "string" && cause.message.length > 0 ? cause.message : undefined
  const code = typeof cause?.code === "string" ? ` (${cause.code})` : ""
  return (reason ? `${error.message.split("\n")[0]}: ${reason}${code}` : error.message).split("\n")[0]!
}

/**
 * A valid access token on demand: served from memory while it has at least five minutes left,
 * refreshed exactly once across every instance of the fleet when it has not.
 *
 * In one process, concurrent callers share one refresh (single flight). Across processes and
 * machines, the refresh happens under the account's row lock in Postgres: whoever gets it first
 * re-reads the row, refreshes upstream and writes; everyone waiting behind it then finds the new
 * token and uses it. A trigger notifies every instance of every change (LISTEN/NOTIFY), so no
 * instance keeps serving a token that another one already replaced, and the hot path needs no
 * database round trip at all.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Errors, OAuthClient, type TokenSet } from "@nexus/oauth"
import { Tracing } from "@nexus/telemetry"
import {
  Clock,
  Context,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Layer,
  Metric,
  Option,
  Queue,
  Redacted,
  Schedule,
  Schema,
  SchemaTransformation
} from "effect"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import type { Errors as DatabaseErrors } from "@nexus/database"
import { hostname } from "node:os"
import { Crypto } from "./Crypto.ts"
import {
  type LockedDecision,
  type StoredTokens,
  TokenNotFound,
  TokenStore,
  type TokenStoreUnavailable
} from "./TokenStore.ts"

/**
 * The account must sign in again: its refresh token was refused for good.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReauthenticationRequired extends Schema.TaggedError<ReauthenticationRequired>()(
  "ReauthenticationRequired",
  {
    account: Schema.String,
    label: Schema.optional(Schema.String),
    reason: Schema.String
  }
) {
  override get message() {
    const name = this.label ?? this.account
    return `ChatGPT account ${name} must sign in again (${this.reason}): run \`nexus login${this.label ? ` --label ${this.label}` : ""}\`.`
  }
}

/**
 * The errors of asking for a token.
 *
 * @since 0.1.0
 * @category errors
 */
export type CredentialsError = ReauthenticationRequired | TokenNotFound | TokenStoreUnavailable | Errors.OAuthHttpError

/**
 * What a sign-out did: whose sign-in it deleted, and whether the issuer revoked its refresh token
 * (if not, why).
 *
 * @since 0.1.0
 * @category models
 */
export interface SignOut {
  readonly accountId: string
  readonly label: string | undefined
  readonly email: string | undefined
  readonly revoked: boolean
  readonly detail: string
}

/** A token must have this much life left to be handed out (protocol §3, §12). */
const MIN_REMAINING = Duration.minutes(5)

/**
 * What the trigger on `nexus.oauth_tokens` sends on channel `nexus_oauth_tokens` for every change:
 * `<account id>:<version>`, the row's new version (after a delete, a fresh sequence value newer
 * than every version the row had). The account id may itself hold a `:`; the version is the part
 * after the last one.
 */
const Change = Schema.TemplateLiteralParser([
  Schema.NonEmptyString,
  ":",
  Schema.String.check(Schema.isPattern(/^\d+$/)).pipe(
    Schema.decodeTo(Schema.Finite, SchemaTransformation.numberFromString)
  )
])
const decodeChange = Schema.decodeUnknownOption(Change)

/**
 * Upstream refreshes this process made (under the row lock), by outcome: `ok`, `rejected` (the
 * account must sign in again), `failed` (the issuer unreachable; tried again later).
 *
 * @since 0.1.0
 * @category metrics
 */
export const refreshes = Metric.counter("nexus_token_refreshes_total", {
  description: "Upstream token refreshes by this process, by outcome (ok, rejected, failed)"
})

const countRefresh = (outcome: "ok" | "rejected" | "failed") =>
  Metric.update(Metric.withAttributes(refreshes, { outcome }), 1)

/**
 * Valid access tokens, fleet-wide.
 *
 * @since 0.1.0
 * @category services
 */
export class Credentials extends Context.Service<
  Credentials,
  {
    /** An access token valid for at least 5 more minutes, refreshing first if needed. */
    readonly accessToken: (account: string) => Effect.Effect<Redacted.Redacted<string>, CredentialsError>
    /** The whole sign-in behind `accessToken` (account id, plan…), just as fresh. */
    readonly tokens: (account: string) => Effect.Effect<TokenSet.TokenSet, CredentialsError>
    /**
     * After a 401 from the backend for `rejected` (default: the token this instance last handed
     * out): reload; if the stored token is no longer the rejected one (another instance, or another
     * 401 here, already replaced it), use it; otherwise refresh once (`unauthorized_recovery`).
     */
    readonly recoverUnauthorized: (
      account: string,
      rejected?: Redacted.Redacted<string>
    ) => Effect.Effect<Redacted.Redacted<string>, CredentialsError>
    /**
     * Refreshes the account's tokens now, whatever their expiry (`refresh_reason=scheduled`), under
     * the fleet-wide lock; answers the sign-in as stored afterwards.
     */
    readonly refreshNow: (account: string) => Effect.Effect<StoredTokens, CredentialsError>
    /**
     * Signs the account out: under its row lock (so that no instance rotates the token in
     * between), revokes the refresh token the row holds now at the issuer — best effort: a revoke
     * that fails does not keep the sign-in, whose refresh token then expires on its own — and
     * deletes the row in the same transaction.
     */
    readonly signOut: (account: string) => Effect.Effect<SignOut, TokenNotFound | TokenStoreUnavailable>
  }
>()("@nexus/token-store/Credentials") {
  /**
   * Credentials over a TokenStore and an OAuthClient, listening on Postgres for changes.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<Credentials, never, TokenStore | OAuthClient.OAuthClient | PgClient.PgClient> =
    Layer.effect(Credentials)(Effect.flatMap(PgClient.PgClient, (sql) => make(Option.some(sql))))

  /**
   * Credentials over any TokenStore (e.g. `TokenStore.layerTest`) and an OAuthClient, for the unit
   * and property tests of other packages (no Postgres): the same single flight, locking and
   * re-login rules. Without change notifications there is no cache: every call reads the store.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerTest: Layer.Layer<Credentials, never, TokenStore | OAuthClient.OAuthClient> = Layer.effect(
    Credentials
  )(Effect.suspend(() => make(Option.none())))

  /**
   * Credentials with the whole stack under it but the database: the store (Postgres alone, or
   * with the token file and the environment as sources to copy from), and the key and the OAuth
   * client given. Also provides the store and the OAuth client.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerStack = <EC, EO, RC = never, RO = never>(options: {
    readonly crypto: Layer.Layer<Crypto, EC, RC>
    readonly oauth: Layer.Layer<OAuthClient.OAuthClient, EO, RO>
    /** `chain` (default): Postgres, then the token file, then the environment. */
    readonly sources?: "postgres" | "chain" | undefined
  }): Layer.Layer<
    Credentials | TokenStore | OAuthClient.OAuthClient,
    EC | EO | TokenStoreUnavailable | DatabaseErrors.SchemaNotReady,
    PgClient.PgClient | RC | RO
  > => {
    const store =
      options.sources === "postgres" ? TokenStore.layerPg : TokenStore.layer.pipe(Layer.provide(NodeFileSystem.layer))
    return Credentials.layer.pipe(
      Layer.provideMerge(store),
      Layer.provide(options.crypto),
      Layer.provideMerge(options.oauth)
    )
  }

  /**
   * The stack as Nexus runs it, configured from the environment: the key from `NEXUS_TOKEN_KEY`
   * (or the data dir), the OAuth client from `CODEX_ISSUER`, `CODEX_CLIENT_ID`…, the store chained
   * over Postgres, the token file and the environment.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerConfig = Credentials.layerStack({
    crypto: Crypto.layerConfig,
    oauth: OAuthClient.OAuthClient.layer
  })
}

/** Credentials over the store and the OAuth client; with `listenOn`, a cache kept right by LISTEN. */
const make = (listenOn: Option.Option<PgClient.PgClient>) =>
  Effect.gen(function* () {
    const store = yield* TokenStore
    const oauth = yield* OAuthClient.OAuthClient
    const scope = yield* Effect.scope
    const instance = `${hostname()}:${process.pid}`
    // The cache, keyed by every name an account is asked for by (id or label).
    const cache = new Map<string, StoredTokens>()
    // The newest version each account is known to have reached (from NOTIFY): nothing older is
    // cached, even when a read raced with the notification.
    const newest = new Map<string, number>()
    // The access token this instance last handed out, per account: a 401 refers to it.
    const served = new Map<string, Redacted.Redacted<string>>()
    const inflight = new Map<string, Deferred.Deferred<StoredTokens, CredentialsError>>()
    let listening = false

    const remember = (names: ReadonlyArray<string>, stored: StoredTokens) => {
      if (!listening || stored.version < (newest.get(stored.tokens.accountId) ?? 0)) return stored
      for (const name of [...names, stored.tokens.accountId, ...(stored.label ? [stored.label] : [])])
        cache.set(name, stored)
      return stored
    }

    // Every change to any row, from any instance, drops older cached copies (a deletion carries
    // a fresh sequence value, newer than every version before it). While the listening
    // connection is down the cache is empty and bypassed; it is retried every second. A
    // notification that does not say which account changed empties the whole cache, to be safe.
    const onNotification = (payload: string) =>
      Option.match(decodeChange(payload), {
        onNone: () =>
          Effect.andThen(
            Effect.sync(() => cache.clear()),
            Effect.logWarning("a token change notification is not <account id>:<version>; dropped every cached token", {
              payload: payload.slice(0, 200)
            })
          ),
        onSome: ([accountId, , version]) =>
          Effect.sync(() => {
            newest.set(accountId, Math.max(version, newest.get(accountId) ?? 0))
            for (const [name, stored] of cache) {
              if (stored.tokens.accountId === accountId && stored.version < version) cache.delete(name)
            }
          })
      })
    const listen = Effect.fnUntraced(function* (sql: PgClient.PgClient) {
      const firstListen = yield* Deferred.make<void>()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const notifications = yield* sql.listen("nexus_oauth_tokens")
          listening = true
          yield* Deferred.succeed(firstListen, undefined)
          return yield* Queue.take(notifications).pipe(
            Effect.flatMap((notification) => onNotification(notification.payload)),
            Effect.forever
          )
        })
      ).pipe(
        Effect.tapError((error) =>
          Effect.andThen(
            Effect.sync(() => {
              listening = false
              cache.clear()
            }),
            Effect.logWarning("lost the token change notifications; listening again", { error: error.message })
          )
        ),
        Effect.retry(Schedule.spaced(Duration.seconds(1))),
        Effect.forkScoped
      )
      yield* Deferred.await(firstListen)
    })
    if (Option.isSome(listenOn)) yield* listen(listenOn.value)

    const freshEnough = (stored: StoredTokens, now: number) =>
      DateTime.toEpochMillis(stored.tokens.expiresAt) - now >= Duration.toMillis(MIN_REMAINING)
    const notExpired = (stored: StoredTokens, now: number) => DateTime.toEpochMillis(stored.tokens.expiresAt) > now

    const reauth = (stored: StoredTokens) =>
      new ReauthenticationRequired({
        account: stored.tokens.accountId,
        ...(stored.label ? { label: stored.label } : {}),
        reason: stored.statusReason ?? stored.status
      })

    type Reason = OAuthClient.RefreshReason

    /**
     * Refreshes under the row lock unless the row already moved on. Once the issuer has
     * answered, the rotated tokens must reach the row: if writing them fails, the write is
     * retried (compare-and-set on the version read under the lock) on a fresh connection.
     */
    const refreshLocked = Effect.fnUntraced(function* (
      accountId: string,
      reason: Reason,
      rejected: Redacted.Redacted<string> | undefined
    ) {
      let rotated: { readonly version: number; readonly tokens: TokenSet.TokenSet } | undefined
      const locked = store.withLock(accountId, (current) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          if (current.status !== "active") return { _tag: "Keep" } satisfies LockedDecision
          // Without a rejected token to compare with, the stored one is taken to be it.
          const stillRejected =
            rejected === undefined || Redacted.value(current.tokens.accessToken) === Redacted.value(rejected)
          // Another instance (or another 401 here) already replaced the token: use theirs.
          if (reason === "unauthorized_recovery" && !stillRejected && freshEnough(current, now)) {
            return { _tag: "Keep" } satisfies LockedDecision
          }
          if (reason === "proactive_expiry" && freshEnough(current, now))
            return { _tag: "Keep" } satisfies LockedDecision
          // A scheduled refresh refreshes whatever the expiry: that is what it was asked for.
          yield* Effect.logDebug("refreshing upstream", { account: current.tokens.accountId, reason })
          return yield* oauth.refresh(current.tokens, reason).pipe(
            Effect.tapError((error) => countRefresh(error._tag === "RefreshRejected" ? "rejected" : "failed")),
            Effect.tap(() => countRefresh("ok")),
            Effect.map((tokens): LockedDecision => {
              rotated = { version: current.version, tokens }
              return { _tag: "Replace", tokens, refreshedBy: instance }
            }),
            // Refused for good: mark the row, so that no instance tries again until a new sign-in.
            // (Under the lock the row is the newest there is: a reuse here means no peer holds a
            // newer token.)
            Effect.catchTags({
              RefreshRejected: (rejection) =>
                Effect.succeed<LockedDecision>({ _tag: "Reauth", reason: rejection.reason }),
              InvalidTokenResponse: (invalid) =>
                Effect.fail(
                  new Errors.OAuthHttpError({
                    operation: "the token refresh",
                    detail: invalid.message,
                    retryable: true
                  })
                )
            })
          )
        })
      )
      return yield* locked.pipe(
        Effect.catchTag("TokenStoreUnavailable", (error) => {
          const pending = rotated
          if (!pending) return Effect.fail(error)
          return Effect.logError("the rotated tokens could not be stored; retrying the write", {
            error: error.message
          }).pipe(
            Effect.andThen(store.compareAndSet(accountId, pending.version, pending.tokens)),
            Effect.retry({
              schedule: Schedule.exponential(Duration.millis(200)),
              times: 5,
              while: (e) => e._tag === "TokenStoreUnavailable"
            }),
            Effect.catchTag("VersionConflict", () => store.get(accountId))
          )
        })
      )
    })

    const ensure = Effect.fnUntraced(function* (
      account: string,
      reason: Reason,
      rejected: Redacted.Redacted<string> | undefined
    ) {
      // The slow path always reads the row: a cached copy may be older than a notification in flight.
      const stored = yield* store.get(account)
      const now = yield* Clock.currentTimeMillis
      if (stored.status !== "active") return yield* reauth(remember([account], stored))
      const refused = rejected ?? served.get(stored.tokens.accountId)
      const stillRejected =
        refused === undefined || Redacted.value(stored.tokens.accessToken) === Redacted.value(refused)
      if (reason === "unauthorized_recovery" && !stillRejected && freshEnough(stored, now))
        return remember([account], stored)
      if (reason === "proactive_expiry" && freshEnough(stored, now)) return remember([account], stored)
      const after = yield* refreshLocked(stored.tokens.accountId, reason, refused).pipe(
        // The issuer is having trouble (network, 429, 5xx): a token that has not yet expired is
        // still better than none (protocol §3: "the old token is still tried").
        Effect.catchTag("OAuthHttpError", (error) =>
          reason === "proactive_expiry" && error.retryable && notExpired(stored, now)
            ? Effect.as(
                Effect.logWarning("refresh failed; using the current token until it expires", {
                  error: error.message
                }),
                stored
              )
            : Effect.fail(error)
        )
      )
      if (after.status !== "active") return yield* reauth(remember([account], after))
      return remember([account], after)
    })

    /**
     * One refresh per account name and process at a time. It runs in the layer's scope, not in
     * the caller's fiber: a caller that is interrupted or times out leaves it to finish for the
     * others, and every caller waits interruptibly.
     */
    const singleFlight = (account: string, reason: Reason, rejected: Redacted.Redacted<string> | undefined) =>
      Effect.flatMap(
        Effect.uninterruptible(
          Effect.suspend(() => {
            const key = `${reason}:${account}`
            const running = inflight.get(key)
            if (running) return Effect.succeed(running)
            const deferred = Deferred.makeUnsafe<StoredTokens, CredentialsError>()
            inflight.set(key, deferred)
            return ensure(account, reason, rejected).pipe(
              Effect.exit,
              Effect.flatMap((exit) => {
                inflight.delete(key)
                return Deferred.done(deferred, exit)
              }),
              Effect.forkIn(scope),
              Effect.as(deferred)
            )
          })
        ),
        Deferred.await
      )

    const valid = (account: string) =>
      Effect.suspend(() => {
        const cached = cache.get(account)
        if (cached && cached.status === "active") {
          return Effect.clockWith((clock) =>
            freshEnough(cached, clock.currentTimeMillisUnsafe())
              ? Effect.succeed(cached)
              : singleFlight(account, "proactive_expiry", undefined)
          )
        }
        return singleFlight(account, "proactive_expiry", undefined)
      })

    const handOut = (stored: StoredTokens) => {
      served.set(stored.tokens.accountId, stored.tokens.accessToken)
      return stored.tokens
    }
    // On every request's path: a span only when a tracer collects them (Effect.fn makes one, and
    // captures a stack trace, on every call).
    const accessToken = (account: string) =>
      Tracing.traced(
        Effect.map(valid(account), (stored) => handOut(stored).accessToken),
        "Credentials.accessToken"
      )
    const tokens = (account: string) => Tracing.traced(Effect.map(valid(account), handOut), "Credentials.tokens")
    const recoverUnauthorized = Effect.fn("Credentials.recoverUnauthorized")(
      (account: string, rejected?: Redacted.Redacted<string>) =>
        Effect.map(singleFlight(account, "unauthorized_recovery", rejected), (stored) => handOut(stored).accessToken)
    )

    const refreshNow = Effect.fn("Credentials.refreshNow")(function* (account: string) {
      const stored = yield* singleFlight(account, "scheduled", undefined)
      return remember([account], stored)
    })

    const signOut = Effect.fn("Credentials.signOut")(function* (account: string) {
      const target = yield* store.get(account).pipe(
        Effect.asSome,
        Effect.catchTag("TokenStoreUnavailable", (error) =>
          error.reason === "DecryptionFailed" ? Effect.succeedNone : Effect.fail(error)
        )
      )
      // A row under a key this instance lacks: nothing to revoke with, but it can still go.
      if (Option.isNone(target)) {
        const { unreadable } = yield* store.inventory
        const row = unreadable.find((entry) => entry.accountId === account || entry.label === account)
        if (!row) return yield* new TokenNotFound({ account })
        yield* store.delete(row.accountId)
        return {
          accountId: row.accountId,
          label: row.label,
          email: row.email,
          revoked: false,
          detail: `not revoked: its tokens are encrypted under key ${row.keyId}, which this instance does not have`
        } satisfies SignOut
      }
      const found = target.value
      let outcome = { revoked: false, detail: "already signed out elsewhere" }
      const stored = yield* store
        .withLock(found.tokens.accountId, (current) =>
          Effect.map(oauth.revoke(current.tokens), (revoked): LockedDecision => {
            outcome = revoked
            return { _tag: "Delete" }
          })
        )
        .pipe(Effect.catchTag("TokenNotFound", () => Effect.succeed(found)))
      cache.forEach((cached, name) => {
        if (cached.tokens.accountId === stored.tokens.accountId) cache.delete(name)
      })
      return {
        accountId: stored.tokens.accountId,
        label: stored.label,
        email: stored.tokens.email,
        ...outcome
      } satisfies SignOut
    })

    return Credentials.of({ accessToken, tokens, recoverUnauthorized, refreshNow, signOut })
  })

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
import {
  Clock,
  Context,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Layer,
  Queue,
  type Redacted,
  Schedule,
  Schema
} from "effect"
import { hostname } from "node:os"
import {
  type LockedDecision,
  type StoredTokens,
  type TokenNotFound,
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

/** A token must have this much life left to be handed out (protocol §3, §12). */
const MIN_REMAINING = Duration.minutes(5)

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
     * After a 401 from the backend: reload; if another instance replaced the token, use that one;
     * otherwise refresh once (`unauthorized_recovery`).
     */
    readonly recoverUnauthorized: (account: string) => Effect.Effect<Redacted.Redacted<string>, CredentialsError>
  }
>()("@nexus/token-store/Credentials") {
  /**
   * Credentials over a TokenStore and an OAuthClient, listening on Postgres for changes.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<Credentials, never, TokenStore | OAuthClient.OAuthClient | PgClient.PgClient> =
    Layer.effect(Credentials)(
      Effect.gen(function* () {
        const store = yield* TokenStore
        const oauth = yield* OAuthClient.OAuthClient
        const sql = yield* PgClient.PgClient
        const instance = `${hostname()}:${process.pid}`
        // The cache, keyed by every name an account is asked for by (id or label).
        const cache = new Map<string, StoredTokens>()
        const inflight = new Map<string, Deferred.Deferred<StoredTokens, CredentialsError>>()

        const remember = (names: ReadonlyArray<string>, stored: StoredTokens) => {
          for (const name of names) cache.set(name, stored)
          cache.set(stored.tokens.accountId, stored)
          if (stored.label) cache.set(stored.label, stored)
          return stored
        }
        /** Drops cached copies older than `version` (all of them when the sign-in was deleted). */
        const forget = (accountId: string, version: number) => {
          for (const [name, stored] of cache) {
            if (stored.tokens.accountId === accountId && stored.version < version) cache.delete(name)
          }
        }

        // Every change to any row, from any instance, drops older cached copies. The first LISTEN is
        // confirmed before the service is handed out; if the listening connection is lost, the
        // cache is cleared (notifications may have been missed) and LISTEN is retried.
        const onNotification = (notification: { readonly payload: string }) => {
          const at = notification.payload.lastIndexOf(":")
          const version = notification.payload.slice(at + 1)
          forget(notification.payload.slice(0, at), version === "deleted" ? Infinity : Number(version))
        }
        const listening = yield* Deferred.make<void>()
        yield* Effect.scoped(
          Effect.gen(function* () {
            const notifications = yield* sql.listen("nexus_oauth_tokens")
            cache.clear()
            yield* Deferred.succeed(listening, undefined)
            return yield* Queue.take(notifications).pipe(Effect.map(onNotification), Effect.forever)
          })
        ).pipe(
          Effect.tapError((error) =>
            Effect.logWarning("lost the token change notifications; listening again", { error: error.message })
          ),
          Effect.retry(Schedule.spaced(Duration.seconds(1))),
          Effect.forkScoped
        )
        yield* Deferred.await(listening)

        const freshEnough = (stored: StoredTokens, now: number) =>
          DateTime.toEpochMillis(stored.tokens.expiresAt) - now >= Duration.toMillis(MIN_REMAINING)

        const reauth = (stored: StoredTokens) =>
          new ReauthenticationRequired({
            account: stored.tokens.accountId,
            ...(stored.label ? { label: stored.label } : {}),
            reason: stored.statusReason ?? stored.status
          })

        /** Refreshes under the row lock, unless the row already changed from `seen`. */
        const refreshLocked = (
          account: string,
          seen: StoredTokens | undefined,
          reason: "proactive_expiry" | "unauthorized_recovery"
        ) =>
          store.withLock(account, (current) =>
            Effect.gen(function* () {
              const now = yield* Clock.currentTimeMillis
              if (current.status !== "active") return { _tag: "Keep" } satisfies LockedDecision
              // Another instance got here first and replaced the token: use theirs.
              if (seen !== undefined && current.version !== seen.version && freshEnough(current, now)) {
                return { _tag: "Keep" } satisfies LockedDecision
              }
              if (reason === "proactive_expiry" && freshEnough(current, now))
                return { _tag: "Keep" } satisfies LockedDecision
              yield* Effect.logDebug("refreshing upstream", { account: current.tokens.accountId, reason })
              return yield* oauth.refresh(current.tokens, reason).pipe(
                Effect.map((tokens): LockedDecision => ({ _tag: "Replace", tokens, refreshedBy: instance })),
                // Refused for good: mark the row, so that no instance tries again until a new sign-in.
                // (Under the lock the row is the newest there is: a reuse here means no peer holds a
                // newer token.)
                Effect.catchTags({
                  RefreshRejected: (rejected) =>
                    Effect.succeed<LockedDecision>({ _tag: "Reauth", reason: rejected.reason }),
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

        // The version of the token this instance last handed out, per account: a 401 refers to it.
        const served = new Map<string, number>()

        const ensure = Effect.fnUntraced(function* (
          account: string,
          reason: "proactive_expiry" | "unauthorized_recovery"
        ) {
          // The slow path always reads the row: a cached copy may be older than a notification in flight.
          const stored = yield* store.get(account)
          const now = yield* Clock.currentTimeMillis
          if (stored.status !== "active") return yield* reauth(remember([account], stored))
          const handedOut = served.get(stored.tokens.accountId)
          // After a 401: if another instance already replaced the token we handed out, use theirs.
          if (
            reason === "unauthorized_recovery" &&
            handedOut !== undefined &&
            stored.version !== handedOut &&
            freshEnough(stored, now)
          ) {
            return remember([account], stored)
          }
          if (reason === "proactive_expiry" && freshEnough(stored, now)) return remember([account], stored)
          const seen =
            reason === "unauthorized_recovery" && handedOut !== undefined ? { ...stored, version: handedOut } : stored
          const after = yield* refreshLocked(stored.tokens.accountId, seen, reason)
          if (after.status !== "active") return yield* reauth(remember([account], after))
          return remember([account], after)
        })

        /** One refresh per account and process at a time; concurrent callers share its outcome. */
        const singleFlight = (account: string, reason: "proactive_expiry" | "unauthorized_recovery") =>
          Effect.suspend(() => {
            const running = inflight.get(account)
            if (running) return Deferred.await(running)
            const deferred = Deferred.makeUnsafe<StoredTokens, CredentialsError>()
            inflight.set(account, deferred)
            return ensure(account, reason).pipe(
              Effect.exit,
              Effect.flatMap((exit) => {
                inflight.delete(account)
                Deferred.doneUnsafe(deferred, exit)
                return exit
              }),
              Effect.uninterruptible
            )
          })

        const current = (account: string) =>
          Effect.suspend(() => {
            const cached = cache.get(account)
            if (cached && cached.status === "active") {
              return Effect.clockWith((clock) =>
                freshEnough(cached, clock.currentTimeMillisUnsafe())
                  ? Effect.succeed(cached)
                  : singleFlight(account, "proactive_expiry")
              )
            }
            return singleFlight(account, "proactive_expiry")
          })

        const handOut = (stored: StoredTokens) => {
          served.set(stored.tokens.accountId, stored.version)
          return stored.tokens
        }
        const accessToken = Effect.fn("Credentials.accessToken")((account: string) =>
          Effect.map(current(account), (stored) => handOut(stored).accessToken)
        )
        const tokens = Effect.fn("Credentials.tokens")((account: string) => Effect.map(current(account), handOut))
        const recoverUnauthorized = Effect.fn("Credentials.recoverUnauthorized")((account: string) =>
          Effect.map(singleFlight(account, "unauthorized_recovery"), (stored) => handOut(stored).accessToken)
        )

        return Credentials.of({ accessToken, tokens, recoverUnauthorized })
      })
    )
}

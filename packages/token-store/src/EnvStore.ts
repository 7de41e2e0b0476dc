/**
 * The environment as a read-only token source (lowest priority): `CODEX_ACCESS_TOKEN`,
 * `CODEX_REFRESH_TOKEN`, `CODEX_EXPIRES_AT` (Unix seconds), `CODEX_ACCOUNT_ID`.
 *
 * @since 0.1.0
 */
import { TokenSet } from "@nexus/oauth"
import { Config, DateTime, Effect, Option, Redacted } from "effect"
import { TokenStoreUnavailable } from "./Errors.ts"

const fail = (detail: string) =>
  new TokenStoreUnavailable({ store: "env", reason: "Invalid", detail, retryable: false })

/**
 * The sign-in the environment holds, if `CODEX_ACCESS_TOKEN` is set. The account id comes from
 * `CODEX_ACCOUNT_ID`, else the access token's claim; the expiry from `CODEX_EXPIRES_AT`, else its
 * `exp`. A missing piece is named.
 *
 * @since 0.1.0
 * @category reading
 */
export const read = Effect.fn("EnvStore.read")(function* () {
  const access = yield* Config.option(Config.Redacted("CODEX_ACCESS_TOKEN")).pipe(Effect.orDie)
  if (Option.isNone(access)) return Option.none<TokenSet.TokenSet>()
  const refresh = yield* Config.option(Config.Redacted("CODEX_REFRESH_TOKEN")).pipe(Effect.orDie)
  if (Option.isNone(refresh))
    return yield* fail("CODEX_ACCESS_TOKEN is set but CODEX_REFRESH_TOKEN is not: set both, or neither")
  const accountId = yield* Config.option(Config.String("CODEX_ACCOUNT_ID")).pipe(Effect.orDie)
  const expiresAt = yield* Config.option(Config.Number("CODEX_EXPIRES_AT")).pipe(
    Effect.mapError(() => fail("CODEX_EXPIRES_AT must be a Unix time in seconds"))
  )
  // Unix seconds: a value in milliseconds is refused rather than read as the year 50000.
  if (Option.isSome(expiresAt) && !(expiresAt.value > 0 && expiresAt.value < 1e11)) {
    return yield* fail("CODEX_EXPIRES_AT must be a Unix time in seconds")
  }
  const claims = yield* TokenSet.claimsOf("access_token", access.value).pipe(
    Effect.orElseSucceed((): TokenSet.Claims => ({}))
  )
  if (Option.isNone(accountId) && !claims["https://api.openai.com/auth"]?.chatgpt_account_id) {
    return yield* fail(
      "CODEX_ACCOUNT_ID is not set and CODEX_ACCESS_TOKEN carries no chatgpt_account_id claim: set CODEX_ACCOUNT_ID"
    )
  }
  if (Option.isNone(expiresAt) && claims.exp === undefined) {
    return yield* fail("CODEX_EXPIRES_AT is not set and CODEX_ACCESS_TOKEN carries no exp claim: set CODEX_EXPIRES_AT")
  }
  const tokens = yield* TokenSet.fromClaims({
    accessToken: Redacted.make(Redacted.value(access.value), { label: "access_token" }),
    refreshToken: Redacted.make(Redacted.value(refresh.value), { label: "refresh_token" }),
    idToken: undefined,
    access: claims,
    id: undefined,
    accountId: Option.getOrUndefined(accountId),
    expiresAt: Option.isSome(expiresAt) ? DateTime.makeUnsafe(expiresAt.value * 1000) : undefined
  }).pipe(Effect.mapError((error) => fail(error.message)))
  return Option.some(tokens)
})

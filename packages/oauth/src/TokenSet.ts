/**
 * A ChatGPT sign-in: the three tokens (always `Redacted`) and what their claims say about the
 * account, decoded with Schema from the `https://api.openai.com/auth` namespace (protocol §5).
 *
 * @since 0.1.0
 */
import { DateTime, Effect, Option, Redacted, Schema } from "effect"
import { InvalidTokenResponse } from "./Errors.ts"

/**
 * A ChatGPT account (workspace) id, as the issuer's claims name it: `chatgpt-account-id` on every
 * backend request. Branded, so that a label or any other string cannot be passed where an account
 * id already resolved is expected.
 *
 * @since 0.1.0
 * @category models
 */
export const AccountId = Schema.NonEmptyString.pipe(Schema.brand("@nexus/AccountId"))

/**
 * @since 0.1.0
 * @category models
 */
export type AccountId = typeof AccountId.Type

/**
 * A signed-in ChatGPT account's tokens and identity.
 *
 * @since 0.1.0
 * @category models
 */
export class TokenSet extends Schema.Class<TokenSet>("@nexus/oauth/TokenSet")({
  accessToken: Schema.Redacted(Schema.String),
  refreshToken: Schema.Redacted(Schema.String),
  idToken: Schema.optional(Schema.Redacted(Schema.String)),
  /** When the access token expires: its JWT `exp`, else the response's `expires_in`. */
  expiresAt: Schema.DateTimeUtc,
  /** The ChatGPT account (workspace) id; `chatgpt-account-id` on every backend request. */
  accountId: AccountId,
  planType: Schema.optional(Schema.String),
  userId: Schema.optional(Schema.String),
  email: Schema.optional(Schema.String),
  scopes: Schema.Array(Schema.String),
  /** When these tokens were obtained or last refreshed. */
  lastRefresh: Schema.DateTimeUtc
}) {}

/**
 * The `https://api.openai.com/auth` claims.
 *
 * @since 0.1.0
 * @category models
 */
export const AuthClaims = Schema.Struct({
  chatgpt_account_id: Schema.optional(Schema.String),
  chatgpt_plan_type: Schema.optional(Schema.String),
  chatgpt_user_id: Schema.optional(Schema.String),
  user_id: Schema.optional(Schema.String)
})

/**
 * The JWT claims Nexus reads from access and id tokens.
 *
 * @since 0.1.0
 * @category models
 */
export const Claims = Schema.Struct({
  exp: Schema.optional(Schema.Finite),
  email: Schema.optional(Schema.String),
  scp: Schema.optional(Schema.Array(Schema.String)),
  "https://api.openai.com/auth": Schema.optional(AuthClaims),
  "https://api.openai.com/profile": Schema.optional(Schema.Struct({ email: Schema.optional(Schema.String) }))
})
/** @since 0.1.0 @category models */
export type Claims = typeof Claims.Type

const decodeClaims = Schema.decodeUnknownEffect(Schema.fromJsonString(Claims))

/**
 * The payload of a JWT, decoded but not verified (clients never verify, protocol §5).
 *
 * @since 0.1.0
 * @category decoding
 */
export const claimsOf = Effect.fnUntraced(function* (field: string, token: Redacted.Redacted<string>) {
  const parts = Redacted.value(token).split(".")
  if (parts.length !== 3 || !parts[1]) {
    return yield* new InvalidTokenResponse({ field, problem: "is not a JWT" })
  }
  return yield* decodeClaims(Buffer.from(parts[1], "base64url").toString("utf8")).pipe(
    Effect.mapError((error) => new InvalidTokenResponse({ field, problem: `has unreadable claims (${error.message})` }))
  )
})

/**
 * A token endpoint answer, as the issuer sends it (protocol §1, §3).
 *
 * @since 0.1.0
 * @category models
 */
export const TokenResponse = Schema.Struct({
  access_token: Schema.optional(Schema.String),
  refresh_token: Schema.optional(Schema.String),
  id_token: Schema.optional(Schema.String),
  expires_in: Schema.optional(Schema.Finite),
  scope: Schema.optional(Schema.String)
})
/** @since 0.1.0 @category models */
export type TokenResponse = typeof TokenResponse.Type

const AUTH = "https://api.openai.com/auth"
const PROFILE = "https://api.openai.com/profile"

/**
 * Builds a TokenSet from a token endpoint answer. Without `previous` (a code exchange) the answer
 * must hold all three tokens and readable claims. With `previous` (a refresh, protocol §3) every
 * token that is present replaces the stored one, and anything missing or unreadable falls back to
 * `previous`: once a refresh token may have rotated, nothing here may fail and lose it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromTokenResponse = Effect.fnUntraced(function* (response: TokenResponse, previous?: TokenSet) {
  const required = (field: "access_token" | "refresh_token" | "id_token") =>
    new InvalidTokenResponse({ field, problem: "is missing" })
  if (!previous) {
    if (!response.access_token) return yield* required("access_token")
    if (!response.refresh_token) return yield* required("refresh_token")
    if (!response.id_token) return yield* required("id_token")
  }
  const accessToken = response.access_token
    ? Redacted.make(response.access_token, { label: "access_token" })
    : previous!.accessToken
  const refreshToken = response.refresh_token
    ? Redacted.make(response.refresh_token, { label: "refresh_token" })
    : previous!.refreshToken
  const idToken = response.id_token ? Redacted.make(response.id_token, { label: "id_token" }) : previous?.idToken
  const lenient = <E>(effect: Effect.Effect<Claims, E>) =>
    previous ? Effect.orElseSucceed(effect, (): Claims => ({})) : effect
  const access = response.access_token ? yield* lenient(claimsOf("access_token", accessToken)) : {}
  const id = response.id_token ? yield* lenient(claimsOf("id_token", idToken!)) : undefined
  return yield* fromClaims({
    accessToken,
    refreshToken,
    idToken,
    access,
    id,
    expiresIn: response.expires_in,
    scope: response.scope,
    fallback: previous
  })
})

const fromEpochSeconds = (seconds: number | undefined) =>
  seconds === undefined ? Option.none() : Option.map(DateTime.make(seconds * 1000), DateTime.toUtc)

/**
 * Builds a TokenSet from tokens and their decoded claims; `fallback` fills what the claims lack.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromClaims = Effect.fnUntraced(function* (input: {
  readonly accessToken: Redacted.Redacted<string>
  readonly refreshToken: Redacted.Redacted<string>
  readonly idToken: Redacted.Redacted<string> | undefined
  readonly access: Claims
  readonly id: Claims | undefined
  readonly expiresIn?: number | undefined
  readonly scope?: string | undefined
  readonly accountId?: string | undefined
  readonly expiresAt?: DateTime.Utc | undefined
  readonly lastRefresh?: DateTime.Utc | undefined
  readonly fallback?: TokenSet | undefined
}) {
  const now = yield* DateTime.now
  const idAuth = input.id?.[AUTH]
  const accessAuth = input.access[AUTH]
  const { fallback } = input
  const accountId =
    input.accountId ?? idAuth?.chatgpt_account_id ?? accessAuth?.chatgpt_account_id ?? fallback?.accountId
  if (!accountId) {
    return yield* new InvalidTokenResponse({
      field: "id_token",
      problem: `has no ${AUTH} chatgpt_account_id claim (is this a ChatGPT sign-in?)`
    })
  }
  if (input.access.exp !== undefined && Option.isNone(fromEpochSeconds(input.access.exp)) && !fallback) {
    return yield* new InvalidTokenResponse({
      field: "access_token",
      problem: `has an exp claim out of range (${input.access.exp})`
    })
  }
  const expiresAt =
    input.expiresAt ??
    Option.getOrUndefined(fromEpochSeconds(input.access.exp)) ??
    (input.expiresIn !== undefined && input.expiresIn >= 0 && input.expiresIn < 1e9
      ? DateTime.add(now, { seconds: input.expiresIn })
      : undefined) ??
    fallback?.expiresAt
  if (!expiresAt) {
    return yield* new InvalidTokenResponse({
      field: "access_token",
      problem: "has no exp claim and the response no expires_in"
    })
  }
  const scopes = input.scope
    ? input.scope.split(" ").filter((s) => s.length > 0)
    : input.access.scp
      ? [...input.access.scp]
      : undefined
  return new TokenSet({
    accessToken: input.accessToken,
    refreshToken: input.refreshToken,
    ...(input.idToken ? { idToken: input.idToken } : {}),
    expiresAt,
    accountId: AccountId.make(accountId),
    ...definedOnly({
      planType: accessAuth?.chatgpt_plan_type ?? idAuth?.chatgpt_plan_type ?? fallback?.planType,
      userId:
        idAuth?.chatgpt_user_id ??
        idAuth?.user_id ??
        accessAuth?.chatgpt_user_id ??
        accessAuth?.user_id ??
        fallback?.userId,
      email:
        input.id?.email ??
        input.id?.[PROFILE]?.email ??
        input.access.email ??
        input.access[PROFILE]?.email ??
        fallback?.email
    }),
    scopes: scopes ?? [...(fallback?.scopes ?? [])],
    lastRefresh: input.lastRefresh ?? now
  })
})

const definedOnly = <T extends Record<string, unknown>>(record: T): { [K in keyof T]?: Exclude<T[K], undefined> } =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>
  }

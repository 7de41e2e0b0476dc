/**
 * A ChatGPT sign-in: the three tokens (always `Redacted`) and what their claims say about the
 * account, decoded with Schema from the `https://api.openai.com/auth` namespace (protocol §5).
 *
 * @since 0.1.0
 */
import { DateTime, Effect, Redacted, Schema } from "effect"
import { InvalidTokenResponse } from "./Errors.ts"

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
  accountId: Schema.String,
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
 * Builds a TokenSet from a token endpoint answer. `previous` supplies what a refresh answer may
 * leave out (protocol §3: each token that is present replaces the stored one); without it the
 * answer must hold all three tokens, as the code exchange does.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromTokenResponse = Effect.fnUntraced(function* (
  response: TokenResponse,
  previous?: {
    readonly refreshToken: Redacted.Redacted<string>
    readonly idToken?: Redacted.Redacted<string> | undefined
  }
) {
  const required = (field: "access_token" | "refresh_token" | "id_token") =>
    new InvalidTokenResponse({ field, problem: "is missing" })
  if (!response.access_token) return yield* required("access_token")
  if (!response.refresh_token && !previous) return yield* required("refresh_token")
  if (!response.id_token && !previous) return yield* required("id_token")
  const accessToken = Redacted.make(response.access_token, { label: "access_token" })
  const refreshToken = response.refresh_token
    ? Redacted.make(response.refresh_token, { label: "refresh_token" })
    : previous!.refreshToken
  const idToken = response.id_token ? Redacted.make(response.id_token, { label: "id_token" }) : previous?.idToken
  const access = yield* claimsOf("access_token", accessToken)
  const id = idToken ? yield* claimsOf("id_token", idToken) : undefined
  return yield* fromClaims({
    accessToken,
    refreshToken,
    idToken,
    access,
    id,
    expiresIn: response.expires_in,
    scope: response.scope
  })
})

/**
 * Builds a TokenSet from tokens and their decoded claims.
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
}) {
  const now = yield* DateTime.now
  const idAuth = input.id?.[AUTH]
  const accessAuth = input.access[AUTH]
  const accountId = input.accountId ?? idAuth?.chatgpt_account_id ?? accessAuth?.chatgpt_account_id
  if (!accountId) {
    return yield* new InvalidTokenResponse({
      field: "id_token",
      problem: `has no ${AUTH} chatgpt_account_id claim (is this a ChatGPT sign-in?)`
    })
  }
  const expiresAt =
    input.expiresAt ??
    (input.access.exp !== undefined
      ? DateTime.makeUnsafe(input.access.exp * 1000)
      : input.expiresIn !== undefined
        ? DateTime.add(now, { seconds: input.expiresIn })
        : undefined)
  if (!expiresAt) {
    return yield* new InvalidTokenResponse({
      field: "access_token",
      problem: "has no exp claim and the response no expires_in"
    })
  }
  return new TokenSet({
    accessToken: input.accessToken,
    refreshToken: input.refreshToken,
    ...(input.idToken ? { idToken: input.idToken } : {}),
    expiresAt,
    accountId,
    ...definedOnly({
      planType: accessAuth?.chatgpt_plan_type ?? idAuth?.chatgpt_plan_type,
      userId: idAuth?.chatgpt_user_id ?? idAuth?.user_id ?? accessAuth?.chatgpt_user_id ?? accessAuth?.user_id,
      email: input.id?.email ?? input.id?.[PROFILE]?.email ?? input.access.email ?? input.access[PROFILE]?.email
    }),
    scopes: input.scope ? input.scope.split(" ").filter((s) => s.length > 0) : [...(input.access.scp ?? [])],
    lastRefresh: input.lastRefresh ?? now
  })
})

const definedOnly = <T extends Record<string, unknown>>(record: T): { [K in keyof T]?: Exclude<T[K], undefined> } =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>
  }

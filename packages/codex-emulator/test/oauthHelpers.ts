// Helpers for the emulator's OAuth and admin tests: real HTTP over loopback with Node's fetch (never
// following redirects), a PKCE pair, an authorize URL with the Codex CLI's parameters, and schemas
// for the bodies and JWT payloads the tests read.
import { assert } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { createHash, randomBytes } from "node:crypto"
import { Emulator } from "../src/Emulator.ts"

export const CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
export const DEFAULT_ACCOUNT_ID = "00000000-0000-4000-8000-00000000c0de"
export const LOOPBACK_REDIRECT = "http://localhost:1455/auth/callback"
export const CODEX_SCOPE = "openid profile email offline_access api.connectors.read api.connectors.invoke"
export const AUTH_CLAIMS = "https://api.openai.com/auth"
export const PROFILE_CLAIMS = "https://api.openai.com/profile"

/** The emulator of the enclosing layer, reset to its initial state (the layer is shared by the tests). */
export const freshEmulator = Effect.gen(function* () {
  const emulator = yield* Emulator
  yield* emulator.reset
  return emulator
})

// ---- HTTP ------------------------------------------------------------------------------------------

/** An HTTP answer, read in full. `body` is the parsed JSON when the answer is JSON. */
export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly body: unknown
  /** The Location header of a redirect, resolved. */
  readonly location: URL | undefined
}

export const send = (url: string, init: RequestInit = {}): Effect.Effect<Reply> =>
  Effect.promise(async () => {
    const response = await fetch(url, { ...init, redirect: "manual" })
    const text = await response.text()
    const isJson = response.headers.get("content-type")?.includes("json") === true && text.length > 0
    const location = response.headers.get("location")
    return {
      status: response.status,
      headers: response.headers,
      text,
      body: isJson ? (JSON.parse(text) as unknown) : undefined,
      location: location === null ? undefined : new URL(location, url)
    }
  })

export const get = (url: string, headers: Record<string, string> = {}) => send(url, { headers })

export const postForm = (url: string, fields: Record<string, string>) =>
  send(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString()
  })

export const sendJson = (method: string, url: string, body: unknown) =>
  send(url, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

export const postJson = (url: string, body: unknown) => sendJson("POST", url, body)

/** Asserts the status and the exact JSON body of a reply. */
export const assertJson = (reply: Reply, status: number, body: unknown) => {
  assert.strictEqual(reply.status, status, reply.text)
  assert.deepStrictEqual(reply.body, body)
}

/** Asserts the status (200 unless told) and decodes the JSON body with a schema. */
export const decodeBody = <S extends Schema.ConstraintDecoder<unknown>>(schema: S, reply: Reply, status = 200) => {
  assert.strictEqual(reply.status, status, reply.text)
  return Schema.decodeUnknownEffect(schema)(reply.body)
}

// ---- PKCE and authorize --------------------------------------------------------------------------------

export const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url")

/** A PKCE pair as the Codex CLI makes it: 64 random bytes as base64url, and its S256 challenge. */
export const pkcePair = () => {
  const verifier = randomBytes(64).toString("base64url")
  return { verifier, challenge: s256(verifier) }
}

export interface Authorization {
  readonly url: string
  readonly verifier: string
  readonly state: string
  readonly redirectUri: string
}

/**
 * An authorize URL with the parameters the Codex CLI sends (protocol §1); `params` override them, and
 * an `undefined` value drops a parameter.
 */
export const authorization = (issuer: string, params: Record<string, string | undefined> = {}): Authorization => {
  const { verifier, challenge } = pkcePair()
  const state = randomBytes(32).toString("base64url")
  const query: Record<string, string | undefined> = {
    response_type: "code",
    client_id: CLIENT_ID,
    redirect_uri: LOOPBACK_REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
    scope: CODEX_SCOPE,
    id_token_add_organizations: "true",
    codex_cli_simplified_flow: "true",
    originator: "codex_cli_rs",
    ...params
  }
  const url = new URL("/oauth/authorize", issuer)
  for (const [name, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(name, value)
  return { url: url.toString(), verifier, state: query.state ?? "", redirectUri: query.redirect_uri ?? "" }
}

/** Runs the authorize step with auto-approval and returns the code from the redirect. */
export const authorizeCode = Effect.fnUntraced(function* (
  issuer: string,
  params: Record<string, string | undefined> = {}
) {
  const auth = authorization(issuer, params)
  const reply = yield* get(auth.url)
  assert.strictEqual(reply.status, 302, reply.text)
  const location = reply.location!
  assert.strictEqual(`${location.origin}${location.pathname}`, auth.redirectUri)
  assert.strictEqual(location.searchParams.get("state"), auth.state)
  const code = location.searchParams.get("code")
  assert.isString(code, `no code in ${location.toString()}`)
  return { ...auth, code: code! }
})

export const exchangeCode = (
  issuer: string,
  grant: { readonly code: string; readonly verifier: string; readonly redirectUri: string },
  overrides: Record<string, string> = {}
) =>
  postForm(`${issuer}/oauth/token`, {
    grant_type: "authorization_code",
    code: grant.code,
    redirect_uri: grant.redirectUri,
    client_id: CLIENT_ID,
    code_verifier: grant.verifier,
    ...overrides
  })

export const TokenBody = Schema.Struct({
  id_token: Schema.String,
  access_token: Schema.String,
  refresh_token: Schema.String,
  expires_in: Schema.Finite,
  token_type: Schema.String,
  scope: Schema.String
})
export type TokenBody = typeof TokenBody.Type

/** Signs in through the browser flow (authorize with auto-approval, then the code exchange). */
export const signIn = Effect.fnUntraced(function* (issuer: string, params: Record<string, string | undefined> = {}) {
  const grant = yield* authorizeCode(issuer, params)
  return yield* decodeBody(TokenBody, yield* exchangeCode(issuer, grant))
})

/** A refresh as the Codex CLI sends it: JSON, with a refresh_reason (protocol §3). */
export const refreshJson = (issuer: string, refreshToken: string, clientId = CLIENT_ID) =>
  postJson(`${issuer}/oauth/token`, {
    client_id: clientId,
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    refresh_reason: "unauthorized_recovery"
  })

/** A refresh as the opencode peer sends it: form-encoded. */
export const refreshForm = (issuer: string, refreshToken: string, clientId = CLIENT_ID) =>
  postForm(`${issuer}/oauth/token`, { client_id: clientId, grant_type: "refresh_token", refresh_token: refreshToken })

/** The backend call every Codex session starts with (protocol §6.1). */
export const accountsCheck = (chatgptBaseUrl: string, accessToken: string, accountId = DEFAULT_ACCOUNT_ID) =>
  get(`${chatgptBaseUrl}/wham/accounts/check`, {
    authorization: `Bearer ${accessToken}`,
    "chatgpt-account-id": accountId
  })

// ---- error bodies ------------------------------------------------------------------------------------

const codedError = (code: string, message: string) => ({
  error: { code, message, type: "invalid_request_error", param: null }
})

/** The exact 401 bodies of the token endpoint's refresh failures and of the backend's auth failures. */
export const errors = {
  refreshReused: codedError(
    "refresh_token_reused",
    "Your refresh token has already been used to generate a new access token. Please try signing in again."
  ),
  refreshExpired: codedError("refresh_token_expired", "Your refresh token has expired. Please try signing in again."),
  refreshInvalidated: codedError(
    "refresh_token_invalidated",
    "Your refresh token has been invalidated. Please try signing in again."
  ),
  tokenExpired: codedError("token_expired", "Provided authentication token is expired. Please try signing in again."),
  tokenRevoked: codedError("token_revoked", "Your authentication token has been revoked. Please sign in again.")
} as const

// ---- JWT payloads -----------------------------------------------------------------------------------

const AuthClaims = Schema.Struct({
  chatgpt_account_id: Schema.String,
  chatgpt_plan_type: Schema.String,
  chatgpt_user_id: Schema.String
})

export const IdTokenClaims = Schema.Struct({
  email: Schema.String,
  iat: Schema.Finite,
  exp: Schema.Finite,
  [AUTH_CLAIMS]: AuthClaims
})

export const AccessTokenClaims = Schema.Struct({
  iat: Schema.Finite,
  exp: Schema.Finite,
  [AUTH_CLAIMS]: AuthClaims,
  [PROFILE_CLAIMS]: Schema.Struct({ email: Schema.String })
})

/** Decodes a JWT's payload (signatures are never checked client-side, protocol §5). */
export const jwtClaims = <S extends Schema.ConstraintDecoder<unknown>>(schema: S, token: string) =>
  Schema.decodeEffect(Schema.fromJsonString(schema))(
    Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")
  )

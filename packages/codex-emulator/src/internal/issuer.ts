// The issuer (auth.openai.com, protocol §1–§3): authorize with PKCE, the token endpoint (code
// exchange, refresh rotation and reuse, token exchange), revoke, and the tokens it mints and checks.
import { createHash, randomBytes, randomUUID } from "node:crypto"
import { type FaultRule, faultKindGroups } from "../Domain.ts"
import type { Faults } from "./faults.ts"
import * as Jwt from "./jwt.ts"
import { codedError, json, type JsonReply, oauthError } from "./reply.ts"
import { type AccountState, increment, type State } from "./state.ts"

const AUTH_NAMESPACE = "https://api.openai.com/auth"
const PROFILE_NAMESPACE = "https://api.openai.com/profile"
export const DEFAULT_SCOPE = "openid profile email offline_access api.connectors.read api.connectors.invoke"

export const MISSING_ENTITLEMENT = "missing_codex_entitlement: this workspace has no access to Codex."

type RefreshRejection = "reused" | "expired" | "invalidated"

const REFRESH_MESSAGES: Record<RefreshRejection, string> = {
  reused: "Your refresh token has already been used to generate a new access token. Please try signing in again.",
  expired: "Your refresh token has expired. Please try signing in again.",
  invalidated: "Your refresh token has been invalidated. Please try signing in again."
}

/** A refresh failure in one of the body shapes protocol §3 says clients read. */
const refreshError = (reason: RefreshRejection, shape: FaultRule["shape"] = "object"): JsonReply => {
  const code = `refresh_token_${reason}`
  const message = REFRESH_MESSAGES[reason]
  switch (shape) {
    case "object":
      return codedError(401, code, message)
    case "string":
      return json(401, { error: code, error_description: message })
    case "top_level":
      return json(401, { code, message })
  }
}

interface CodeGrant {
  readonly clientId: string
  readonly redirectUri: string
  readonly challenge: string
  readonly accountId: string
  readonly scope: string
  readonly expiresAt: number
  used: boolean
}

interface RefreshGrant {
  readonly accountId: string
  readonly clientId: string
  readonly scope: string
  readonly family: string
  readonly expiresAt: number
  status: "active" | "rotated" | "revoked"
}
/** An access token the emulator issued and verified once. */
interface VerifiedToken {
  readonly accountId: string
  readonly exp: number
  readonly jti: string
}

/** A pending interactive authorization, waiting for Approve or Deny. */
export interface PendingAuthorization {
  readonly id: string
  readonly clientId: string
  readonly redirectUri: string
  readonly state: string | undefined
  readonly challenge: string
  readonly scope: string
}

export const base64url = (bytes: Buffer): string => bytes.toString("base64url")
export const s256 = (verifier: string): string => createHash("sha256").update(verifier).digest("base64url")

/** The issuer's grants and tokens, and every operation of the auth service but the device code. */
export type Issuer = ReturnType<typeof makeIssuer>

export const makeIssuer = (shared: State, faults: Faults) => {
  const { accounts, clientIds, now } = shared
  const { takeFault } = faults
  const codes = new Map<string, CodeGrant>()
  const refreshTokens = new Map<string, RefreshGrant>()
  const revokedJti = new Set<string>()
  const pendingAuthorizations = new Map<string, PendingAuthorization>()
  const verified = new Map<string, VerifiedToken>()
  // The issue serial of every access token (by jti) and the last serial handed out; see AccountState.
  const accessSerials = new Map<string, number>()
  let lastSerial = 0
  // Set by reset, which runs before the core is handed out.
  let signer: Jwt.Signer

  const reset = () => {
    // A new signing key id: tokens minted before the reset no longer verify.
    signer = Jwt.makeSigner()
    codes.clear()
    refreshTokens.clear()
    revokedJti.clear()
    pendingAuthorizations.clear()
    verified.clear()
    accessSerials.clear()
  }

  // ---- tokens --------------------------------------------------------------------------------------

  const issueTokens = (accountId: string, clientId: string, scope: string, family?: string) => {
    const { account } = accounts.get(accountId)!
    const iat = Math.floor(now() / 1000)
    const accessJti = randomUUID()
    accessSerials.set(accessJti, ++lastSerial)
    const authClaims = {
      chatgpt_account_id: account.id,
      chatgpt_plan_type: account.plan,
      chatgpt_user_id: account.userId,
      user_id: account.userId
    }
    const accessToken = signer.sign({
      iss: shared.issuer,
      aud: ["https://api.openai.com/v1"],
      client_id: clientId,
      sub: account.userId,
      iat,
      nbf: iat,
      exp: iat + shared.settings.accessTokenTtlSeconds,
      jti: accessJti,
      scp: scope.split(" "),
      [AUTH_NAMESPACE]: authClaims,
      [PROFILE_NAMESPACE]: { email: account.email, email_verified: true }
    })
    const idToken = signer.sign({
      iss: shared.issuer,
      aud: [clientId],
      sub: account.userId,
      email: account.email,
      email_verified: true,
      iat,
      auth_time: iat,
      exp: iat + shared.settings.accessTokenTtlSeconds,
      jti: randomUUID(),
      [AUTH_NAMESPACE]: {
        ...authClaims,
        organization_id: `org-${account.id.slice(0, 8)}`,
        project_id: `proj-${account.id.slice(0, 8)}`,
        completed_platform_onboarding: true,
        is_org_owner: true,
        organizations: [{ id: `org-${account.id.slice(0, 8)}`, is_default: true, role: "owner", title: "Personal" }]
      }
    })
    const refreshToken = `rt_${base64url(randomBytes(32))}`
    refreshTokens.set(refreshToken, {
      accountId,
      clientId,
      scope,
      family: family ?? randomUUID(),
      expiresAt: now() + shared.settings.refreshTokenTtlSeconds * 1000,
      status: "active"
    })
    return {
      id_token: idToken,
      access_token: accessToken,
      refresh_token: refreshToken,
      token_type: "Bearer",
      expires_in: shared.settings.accessTokenTtlSeconds,
      scope
    }
  }

  /** Checks a bearer token: signature, expiry on the emulator clock, and revocation. */
  const authenticate = (
    authorization: string | undefined
  ): { readonly ok: true; readonly state: AccountState } | { readonly ok: false; readonly reply: JsonReply } => {
    if (!authorization || !authorization.startsWith("Bearer ")) {
      return {
        ok: false,
        reply: codedError(
          401,
          "missing_authorization",
          "Missing bearer token. Sign in with ChatGPT and send it as Authorization: Bearer <token>."
        )
      }
    }
    const raw = authorization.slice(7)
    let token = verified.get(raw)
    if (token === undefined) {
      const claims = signer.verify(raw)
      const auth = claims?.[AUTH_NAMESPACE] as Record<string, unknown> | undefined
      if (!claims || !auth || typeof auth.chatgpt_account_id !== "string" || typeof claims.exp !== "number") {
        return {
          ok: false,
          reply: codedError(
            401,
            "invalid_token",
            "Could not parse your authentication token. Please try signing in again."
          )
        }
      }
      token = { accountId: auth.chatgpt_account_id, exp: claims.exp, jti: String(claims.jti) }
      if (verified.size > 50_000) verified.clear()
      verified.set(raw, token)
    }
    const state = accounts.get(token.accountId)
    const serial = accessSerials.get(token.jti) ?? 0
    if (!state || revokedJti.has(token.jti) || serial < state.revokedBefore) {
      return {
        ok: false,
        reply: codedError(401, "token_revoked", "Your authentication token has been revoked. Please sign in again.")
      }
    }
    if (token.exp * 1000 <= now() || serial < state.expiredBefore) {
      return {
        ok: false,
        reply: codedError(
          401,
          "token_expired",
          "Provided authentication token is expired. Please try signing in again."
        )
      }
    }
    return { ok: true, state }
  }

  /** Every access token issued so far stops working (401 token_expired); refresh tokens still work. */
  const expireTokens = (id: string): boolean => {
    const state = accounts.get(id)
    if (!state) return false
    state.expiredBefore = lastSerial + 1
    return true
  }

  /** Every token issued so far is revoked: access tokens 401, refresh tokens refresh_token_invalidated. */
  const revokeTokens = (id: string): boolean => {
    const state = accounts.get(id)
    if (!state) return false
    state.revokedBefore = lastSerial + 1
    state.expiredBefore = Math.max(state.expiredBefore, state.revokedBefore)
    for (const grant of refreshTokens.values()) {
      if (grant.accountId === id && grant.status === "active") grant.status = "revoked"
    }
    return true
  }

  // ---- OAuth: authorize -----------------------------------------------------------------------------

  type AuthorizeOutcome =
    | { readonly _tag: "Error"; readonly reply: JsonReply }
    | { readonly _tag: "Redirect"; readonly location: string }
    | { readonly _tag: "Interactive"; readonly pending: PendingAuthorization }

  const redirectWith = (redirectUri: string, params: Record<string, string | undefined>): string => {
    const url = new URL(redirectUri)
    for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value)
    return url.toString()
  }

  const newCode = (grant: Omit<CodeGrant, "expiresAt" | "used">): string => {
    const code = `ac_${base64url(randomBytes(24))}`
    codes.set(code, { ...grant, expiresAt: now() + shared.settings.authorizationCodeTtlSeconds * 1000, used: false })
    return code
  }

  const authorize = (query: Readonly<Record<string, string>>): AuthorizeOutcome => {
    const clientId = query.client_id
    const redirectUri = query.redirect_uri
    // Errors about the client or the redirect URI must not redirect (RFC 6749 §4.1.2.1).
    if (!clientId || !clientIds.has(clientId)) {
      return {
        _tag: "Error",
        reply: oauthError(400, "invalid_client", `Unknown client_id ${JSON.stringify(clientId ?? "")}.`)
      }
    }
    if (!redirectUri || !shared.redirectUris.has(redirectUri)) {
      return {
        _tag: "Error",
        reply: oauthError(
          400,
          "invalid_request",
          `redirect_uri ${JSON.stringify(redirectUri ?? "")} is not registered for this client.`
        )
      }
    }
    const state = query.state
    const fail = (error: string, description: string): AuthorizeOutcome => ({
      _tag: "Redirect",
      location: redirectWith(redirectUri, { error, error_description: description, state })
    })
    if (query.response_type !== "code") return fail("unsupported_response_type", "response_type must be code.")
    if (!query.code_challenge) return fail("invalid_request", "code_challenge is required (PKCE).")
    if (query.code_challenge_method !== "S256") return fail("invalid_request", "code_challenge_method must be S256.")
    const scope = query.scope ?? DEFAULT_SCOPE
    if (!scope.split(" ").includes("openid")) return fail("invalid_scope", "scope must include openid.")
    const pending: PendingAuthorization = {
      id: randomUUID(),
      clientId,
      redirectUri,
      state,
      challenge: query.code_challenge,
      scope
    }
    const mode =
      query.emulator_approval === "interactive" || query.emulator_approval === "auto"
        ? query.emulator_approval
        : shared.settings.approval
    if (mode === "interactive") {
      pendingAuthorizations.set(pending.id, pending)
      return { _tag: "Interactive", pending }
    }
    return { _tag: "Redirect", location: decide(pending, query.emulator_account ?? shared.settings.loginAccount, true) }
  }

  /** The redirect for an Approve or Deny decision on a pending authorization. */
  const decide = (pending: PendingAuthorization, accountId: string, approve: boolean): string => {
    pendingAuthorizations.delete(pending.id)
    const account = accounts.get(accountId)?.account
    if (!approve || !account) {
      return redirectWith(pending.redirectUri, {
        error: "access_denied",
        error_description: approve ? "Unknown account." : "The user denied the request.",
        state: pending.state
      })
    }
    if (!account.entitled) {
      return redirectWith(pending.redirectUri, {
        error: "access_denied",
        error_description: MISSING_ENTITLEMENT,
        state: pending.state
      })
    }
    const code = newCode({
      clientId: pending.clientId,
      redirectUri: pending.redirectUri,
      challenge: pending.challenge,
      accountId: account.id,
      scope: pending.scope
    })
    return redirectWith(pending.redirectUri, { code, state: pending.state })
  }

  const decidePending = (id: string, accountId: string, approve: boolean): string | undefined => {
    const pending = pendingAuthorizations.get(id)
    return pending ? decide(pending, accountId, approve) : undefined
  }

  // ---- OAuth: token endpoint ----------------------------------------------------------------------

  /**
   * The account a token request concerns (its code's or its refresh token's), known before the grant
   * runs so that faults can be scoped to it and the request counted for it.
   */
  const tokenAccount = (body: Readonly<Record<string, unknown>>): AccountState | undefined => {
    const id =
      body.grant_type === "authorization_code" && typeof body.code === "string"
        ? codes.get(body.code)?.accountId
        : body.grant_type === "refresh_token" && typeof body.refresh_token === "string"
          ? refreshTokens.get(body.refresh_token)?.accountId
          : undefined
    return id === undefined ? undefined : accounts.get(id)
  }

  const exchangeCode = (form: Readonly<Record<string, unknown>>): JsonReply => {
    const code = typeof form.code === "string" ? form.code : undefined
    const grant = code ? codes.get(code) : undefined
    if (!code || !grant) return oauthError(400, "invalid_grant", "The authorization code is invalid.")
    // A replayed code is refused (RFC 6749 §4.1.2); the tokens already issued from it stay valid.
    if (grant.used) return oauthError(400, "invalid_grant", "The authorization code has already been used.")
    grant.used = true
    if (grant.expiresAt <= now()) return oauthError(400, "invalid_grant", "The authorization code has expired.")
    if (form.client_id !== grant.clientId)
      return oauthError(400, "invalid_client", "client_id does not match the authorization code.")
    if (form.redirect_uri !== grant.redirectUri) {
      return oauthError(400, "invalid_grant", "redirect_uri does not match the one used to authorize.")
    }
    if (typeof form.code_verifier !== "string" || s256(form.code_verifier) !== grant.challenge) {
      return oauthError(400, "invalid_grant", "PKCE verification failed: code_verifier does not match code_challenge.")
    }
    shared.counters.grants.authorization_code++
    return json(200, issueTokens(grant.accountId, grant.clientId, grant.scope))
  }

  /** Counts a refused refresh and answers it. */
  const rejectRefresh = (reason: RefreshRejection, shape?: FaultRule["shape"]): JsonReply => {
    shared.counters.refreshes.rejected++
    increment(shared.counters.refreshes.byReason, reason)
    return refreshError(reason, shape)
  }

  const refresh = (body: Readonly<Record<string, unknown>>): JsonReply => {
    increment(
      shared.counters.refreshes.byRefreshReason,
      typeof body.refresh_reason === "string" ? body.refresh_reason : "none"
    )
    const token = typeof body.refresh_token === "string" ? body.refresh_token : undefined
    const grant = token ? refreshTokens.get(token) : undefined
    if (typeof body.client_id !== "string" || !clientIds.has(body.client_id)) {
      shared.counters.refreshes.rejected++
      increment(shared.counters.refreshes.byReason, "invalid_client")
      return oauthError(401, "invalid_client", "Unknown client_id.")
    }
    const fault = takeFault("token", grant?.accountId, faultKindGroups.refresh)
    switch (fault?.kind) {
      case "refresh_reused":
        return rejectRefresh("reused", fault.shape)
      case "refresh_expired":
        return rejectRefresh("expired", fault.shape)
      case "refresh_invalidated":
        return rejectRefresh("invalidated", fault.shape)
      case "refresh_server_error":
        shared.counters.refreshes.rejected++
        increment(shared.counters.refreshes.byReason, "server_error")
        return json(fault.status ?? 500, { error: { message: "Internal server error", type: "server_error" } })
    }
    if (!grant) return rejectRefresh("invalidated")
    if (grant.status === "rotated") {
      if (shared.settings.revokeFamilyOnReuse) {
        for (const other of refreshTokens.values()) if (other.family === grant.family) other.status = "revoked"
      }
      return rejectRefresh("reused")
    }
    if (grant.status === "revoked") return rejectRefresh("invalidated")
    if (grant.expiresAt <= now()) return rejectRefresh("expired")
    grant.status = "rotated"
    shared.counters.grants.refresh_token++
    shared.counters.refreshes.succeeded++
    return json(200, issueTokens(grant.accountId, grant.clientId, grant.scope, grant.family))
  }

  const tokenExchange = (form: Readonly<Record<string, unknown>>): JsonReply => {
    if (form.requested_token !== "openai-api-key") {
      return oauthError(400, "invalid_request", "requested_token must be openai-api-key.")
    }
    if (
      form.subject_token_type !== "urn:ietf:params:oauth:token-type:id_token" ||
      typeof form.subject_token !== "string"
    ) {
      return oauthError(400, "invalid_request", "subject_token must be an id_token.")
    }
    const claims = signer.verify(form.subject_token)
    if (!claims) return oauthError(400, "invalid_grant", "subject_token is not a valid id_token.")
    shared.counters.grants.token_exchange++
    return json(200, {
      access_token: `sk-emulator-${base64url(randomBytes(24))}`,
      issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
      token_type: "Bearer"
    })
  }

  const token = (body: Readonly<Record<string, unknown>>): JsonReply => {
    switch (body.grant_type) {
      case "authorization_code":
        return exchangeCode(body)
      case "refresh_token":
        return refresh(body)
      case "urn:ietf:params:oauth:grant-type:token-exchange":
        return tokenExchange(body)
      default:
        return oauthError(
          400,
          "unsupported_grant_type",
          `grant_type ${JSON.stringify(body.grant_type ?? "")} is not supported.`
        )
    }
  }

  const revoke = (body: Readonly<Record<string, unknown>>): JsonReply => {
    if (typeof body.token !== "string" || body.token.length === 0)
      return oauthError(400, "invalid_request", "token is required.")
    shared.counters.revokes++
    const grant = refreshTokens.get(body.token)
    if (grant) {
      for (const other of refreshTokens.values()) if (other.family === grant.family) other.status = "revoked"
    } else {
      const claims = signer.verify(body.token)
      if (claims && typeof claims.jti === "string") revokedJti.add(claims.jti)
    }
    // RFC 7009: an unknown token is not an error.
    return json(200, {})
  }

  return {
    reset,
    jwks: () => signer.jwks(),
    expireTokens,
    revokeTokens,
    mintTokens: (accountId: string) => issueTokens(accountId, clientIds.values().next().value!, DEFAULT_SCOPE),
    newCode,
    authenticate,
    authorize,
    decidePending,
    tokenAccount,
    token,
    revoke
  }
}

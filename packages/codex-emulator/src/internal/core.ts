// The emulator's state machine: accounts, grants, tokens, usage windows, faults and counters.
// Plain synchronous code on purpose: every HTTP route is a thin adapter over it, and the hot path
// (/responses) must not be the bottleneck of any benchmark.
import { createHash, randomBytes, randomUUID } from "node:crypto"
import type {
  Account,
  AccountInput,
  AccountPatch,
  Budget,
  Counters,
  FaultRule,
  Plan,
  RecordedRequest,
  Route,
  ScriptedReply,
  Settings,
  SettingsPatch
} from "../Domain.ts"
import * as Jwt from "./jwt.ts"
import { MODELS } from "./models.ts"

export const CODEX_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
export const AUTH_NAMESPACE = "https://api.openai.com/auth"
export const PROFILE_NAMESPACE = "https://api.openai.com/profile"
export const DEFAULT_SCOPE = "openid profile email offline_access api.connectors.read api.connectors.invoke"
const PRIMARY_MINUTES = 300
const SECONDARY_MINUTES = 10_080

export const DEFAULT_ACCOUNT: Account = {
  id: "00000000-0000-4000-8000-00000000c0de",
  email: "dev@example.com",
  plan: "plus",
  userId: "user-emulator-default",
  entitled: true,
  deviceCodeEnabled: true
}

export const DEFAULT_BUDGETS: Record<Plan, Budget> = {
  free: { primary: 10, secondary: 50 },
  go: { primary: 30, secondary: 200 },
  plus: { primary: 100, secondary: 1_000 },
  pro: { primary: 1_000, secondary: 10_000 },
  team: { primary: 150, secondary: 1_500 },
  business: { primary: 150, secondary: 1_500 },
  enterprise: { primary: 300, secondary: 3_000 },
  edu: { primary: 100, secondary: 1_000 }
}

export const DEFAULT_SETTINGS: Settings = {
  approval: "auto",
  strict: false,
  accessTokenTtlSeconds: 3_600,
  refreshTokenTtlSeconds: 30 * 86_400,
  authorizationCodeTtlSeconds: 60,
  deviceCodeTtlSeconds: 900,
  deviceIntervalSeconds: 5,
  loginAccount: DEFAULT_ACCOUNT.id,
  revokeFamilyOnReuse: false
}

/** Options for a new emulator's state; everything has a default (one `plus` account, auto-approve). */
export interface CoreOptions {
  /** The accounts that can sign in (default: one `plus` account). */
  readonly accounts?: ReadonlyArray<AccountInput> | undefined
  readonly settings?: SettingsPatch | undefined
  /** OAuth client ids the issuer accepts (default: the public Codex CLI client id). */
  readonly clientIds?: ReadonlyArray<string> | undefined
  /** Per-plan budgets for the 5-hour and weekly windows, in requests. */
  readonly budgets?: Partial<Record<Plan, Budget>> | undefined
  /** Extra redirect URIs the authorize step accepts besides the Codex CLI's loopback ones. */
  readonly redirectUris?: ReadonlyArray<string> | undefined
  /** Seed for the probability of faults, so that a run can be repeated. */
  readonly seed?: number | undefined
}

/** A JSON answer: status, body and extra headers. */
export interface JsonReply {
  readonly _tag: "Json"
  readonly status: number
  readonly body: unknown
  readonly headers?: Record<string, string>
}

export const json = (status: number, body: unknown, headers?: Record<string, string>): JsonReply =>
  headers === undefined ? { _tag: "Json", status, body } : { _tag: "Json", status, body, headers }

/** The error body shape the auth service uses for OAuth grant errors (RFC 6749 §5.2). */
export const oauthError = (status: number, error: string, description: string): JsonReply =>
  json(status, { error, error_description: description })

/** The error body shape the auth service uses for refresh failures (protocol §3). */
export const codedError = (status: number, code: string, message: string): JsonReply =>
  json(status, { error: { code, message, type: "invalid_request_error", param: null } })

interface WindowState {
  used: number
  startedAt: number | undefined
}

interface AccountState {
  account: Account
  /**
   * Tokens whose issue serial is below these are expired or revoked. A serial, not a time: a token
   * issued right after expireTokens/revokeTokens (even in the same millisecond) must work.
   */
  expiredBefore: number
  revokedBefore: number
  primary: WindowState
  secondary: WindowState
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
  readonly serial: number
  readonly expiresAt: number
  status: "active" | "rotated" | "revoked"
}

interface DeviceGrant {
  readonly deviceAuthId: string
  readonly userCode: string
  readonly clientId: string
  readonly expiresAt: number
  status: "pending" | "approved" | "denied"
  accountId: string | undefined
  code: string | undefined
  verifier: string | undefined
  challenge: string | undefined
}

/** An access token the emulator issued and verified once. */
export interface VerifiedToken {
  readonly accountId: string
  readonly exp: number
  readonly iat: number
  readonly jti: string
}

interface ActiveFault {
  readonly rule: FaultRule
  remaining: number
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

const base64url = (bytes: Buffer): string => bytes.toString("base64url")
export const s256 = (verifier: string): string => createHash("sha256").update(verifier).digest("base64url")

const mulberry32 = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const emptyCounters = (): Counters => ({
  requests: {},
  grants: { authorization_code: 0, refresh_token: 0, token_exchange: 0 },
  refreshes: { succeeded: 0, rejected: 0, byReason: {} },
  revokes: 0,
  faultsInjected: 0
})

/** The emulator's state and every operation on it. */
export type Core = ReturnType<typeof makeCore>

export const makeCore = (options: CoreOptions = {}) => {
  const key = randomBytes(32)
  const clientIds = new Set(options.clientIds ?? [CODEX_CLIENT_ID])
  let random = mulberry32(options.seed ?? 0x5eed)
  let clockOffsetMs = 0
  let settings: Settings = { ...DEFAULT_SETTINGS }
  let budgets: Record<Plan, Budget> = { ...DEFAULT_BUDGETS }
  const accounts = new Map<string, AccountState>()
  const codes = new Map<string, CodeGrant>()
  const refreshTokens = new Map<string, RefreshGrant>()
  const revokedJti = new Set<string>()
  const devices = new Map<string, DeviceGrant>()
  const pendingAuthorizations = new Map<string, PendingAuthorization>()
  const verified = new Map<string, VerifiedToken>()
  // The issue serial of every access token (by jti) and the last serial handed out; see AccountState.
  const accessSerials = new Map<string, number>()
  let lastSerial = 0
  let faults: Array<ActiveFault> = []
  let replies: Array<ScriptedReply> = []
  let counters = emptyCounters()
  const lastRequests = new Map<string, RecordedRequest>()
  let redirectUris = new Set<string>()
  let issuer = "http://127.0.0.1"

  const now = () => Date.now() + clockOffsetMs

  const addAccount = (input: AccountInput): Account => {
    const account: Account = {
      id: input.id ?? randomUUID(),
      email: input.email,
      plan: input.plan ?? "plus",
      userId: input.userId ?? `user-${randomBytes(8).toString("hex")}`,
      entitled: input.entitled ?? true,
      deviceCodeEnabled: input.deviceCodeEnabled ?? true,
      ...(input.budget ? { budget: input.budget } : {})
    }
    accounts.set(account.id, {
      account,
      expiredBefore: 0,
      revokedBefore: 0,
      primary: { used: 0, startedAt: undefined },
      secondary: { used: 0, startedAt: undefined }
    })
    return account
  }

  const reset = () => {
    random = mulberry32(options.seed ?? 0x5eed)
    clockOffsetMs = 0
    settings = DEFAULT_SETTINGS
    if (options.settings) updateSettings(options.settings)
    budgets = { ...DEFAULT_BUDGETS, ...options.budgets }
    accounts.clear()
    codes.clear()
    refreshTokens.clear()
    revokedJti.clear()
    devices.clear()
    pendingAuthorizations.clear()
    verified.clear()
    accessSerials.clear()
    faults = []
    replies = []
    counters = emptyCounters()
    lastRequests.clear()
    const initial = options.accounts && options.accounts.length > 0 ? options.accounts : [DEFAULT_ACCOUNT]
    for (const account of initial) addAccount(account)
    if (!accounts.has(settings.loginAccount)) settings = { ...settings, loginAccount: initial[0]!.id ?? "" }
    if (!accounts.has(settings.loginAccount)) settings = { ...settings, loginAccount: accounts.keys().next().value! }
  }

  const setIssuer = (url: string) => {
    issuer = url
    const port = new URL(url).port
    redirectUris = new Set([
      "http://localhost:1455/auth/callback",
      "http://127.0.0.1:1455/auth/callback",
      "http://localhost:1457/auth/callback",
      "http://127.0.0.1:1457/auth/callback",
      `${url}/deviceauth/callback`,
      `http://localhost:${port}/deviceauth/callback`,
      ...(options.redirectUris ?? [])
    ])
  }

  // ---- accounts, settings, clock ----------------------------------------------------------------

  const findAccount = (id: string): AccountState | undefined => accounts.get(id)
  const budgetOf = (state: AccountState): Budget => state.account.budget ?? budgets[state.account.plan]

  const patchAccount = (id: string, patch: AccountPatch): Account | undefined => {
    const state = accounts.get(id)
    if (!state) return undefined
    state.account = {
      ...state.account,
      ...(patch.email !== undefined ? { email: patch.email } : {}),
      ...(patch.plan !== undefined ? { plan: patch.plan } : {}),
      ...(patch.entitled !== undefined ? { entitled: patch.entitled } : {}),
      ...(patch.deviceCodeEnabled !== undefined ? { deviceCodeEnabled: patch.deviceCodeEnabled } : {}),
      ...(patch.budget !== undefined ? { budget: patch.budget } : {})
    }
    return state.account
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

  const updateSettings = (patch: SettingsPatch): Settings => {
    settings = {
      ...settings,
      ...(Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<Settings>)
    }
    return settings
  }

  const advanceClock = (ms: number) => {
    clockOffsetMs += ms
    return now()
  }

  // ---- counters and recording ---------------------------------------------------------------------

  const count = (route: Route, accountId: string | undefined) => {
    const entry = (counters.requests[route] ??= { total: 0, byAccount: {} })
    entry.total++
    if (accountId !== undefined) entry.byAccount[accountId] = (entry.byAccount[accountId] ?? 0) + 1
  }

  const record = (route: Route, request: RecordedRequest) => {
    lastRequests.set(route, request)
  }

  const rejectRefresh = (reason: string) => {
    counters.refreshes.rejected++
    counters.refreshes.byReason[reason] = (counters.refreshes.byReason[reason] ?? 0) + 1
  }

  // ---- faults --------------------------------------------------------------------------------------

  const defaultRoute = (rule: FaultRule): Route =>
    rule.route ?? (rule.kind.startsWith("refresh_") ? "token" : "responses")

  const injectFault = (rule: FaultRule) => {
    faults.push({ rule, remaining: rule.probability !== undefined ? Infinity : (rule.times ?? 1) })
  }

  const clearFaults = () => {
    faults = []
  }

  /** The fault to apply to this request, if any; consumes one use of a counted rule. */
  const takeFault = (route: Route, accountId: string | undefined): FaultRule | undefined => {
    if (faults.length === 0) return undefined
    for (const fault of faults) {
      if (defaultRoute(fault.rule) !== route || fault.remaining <= 0) continue
      if (fault.rule.account !== undefined && fault.rule.account !== accountId) continue
      if (fault.rule.probability !== undefined && random() >= fault.rule.probability) continue
      fault.remaining--
      counters.faultsInjected++
      if (fault.remaining <= 0) faults = faults.filter((f) => f !== fault)
      return fault.rule
    }
    return undefined
  }

  // ---- tokens --------------------------------------------------------------------------------------

  const issueTokens = (accountId: string, clientId: string, scope: string, family?: string) => {
    const state = accounts.get(accountId)!
    const { account } = state
    const iat = Math.floor(now() / 1000)
    const serial = ++lastSerial
    const accessJti = randomUUID()
    accessSerials.set(accessJti, serial)
    const authClaims = {
      chatgpt_account_id: account.id,
      chatgpt_plan_type: account.plan,
      chatgpt_user_id: account.userId,
      user_id: account.userId
    }
    const accessToken = Jwt.sign(key, {
      iss: `${issuer}`,
      aud: ["https://api.openai.com/v1"],
      client_id: clientId,
      sub: account.userId,
      iat,
      nbf: iat,
      exp: iat + settings.accessTokenTtlSeconds,
      jti: accessJti,
      scp: scope.split(" "),
      [AUTH_NAMESPACE]: authClaims,
      [PROFILE_NAMESPACE]: { email: account.email, email_verified: true }
    })
    const idToken = Jwt.sign(key, {
      iss: `${issuer}`,
      aud: [clientId],
      sub: account.userId,
      email: account.email,
      email_verified: true,
      iat,
      auth_time: iat,
      exp: iat + settings.accessTokenTtlSeconds,
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
      serial,
      expiresAt: now() + settings.refreshTokenTtlSeconds * 1000,
      status: "active"
    })
    return {
      id_token: idToken,
      access_token: accessToken,
      refresh_token: refreshToken,
      token_type: "Bearer",
      expires_in: settings.accessTokenTtlSeconds,
      scope
    }
  }

  /** Checks a bearer token: signature, expiry on the emulator clock, and revocation. */
  const authenticate = (
    authorization: string | undefined
  ): { readonly ok: true; readonly token: VerifiedToken } | { readonly ok: false; readonly reply: JsonReply } => {
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
      const claims = Jwt.verify(key, raw)
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
      token = {
        accountId: auth.chatgpt_account_id,
        exp: claims.exp,
        iat: typeof claims.iat === "number" ? claims.iat : 0,
        jti: String(claims.jti)
      }
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
    return { ok: true, token }
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
    if (!redirectUri || !redirectUris.has(redirectUri)) {
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
        : settings.approval
    if (mode === "interactive") {
      pendingAuthorizations.set(pending.id, pending)
      return { _tag: "Interactive", pending }
    }
    return { _tag: "Redirect", location: decide(pending, query.emulator_account ?? settings.loginAccount, true) }
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
        error_description: "missing_codex_entitlement: this workspace has no access to Codex.",
        state: pending.state
      })
    }
    const code = `ac_${base64url(randomBytes(24))}`
    codes.set(code, {
      clientId: pending.clientId,
      redirectUri: pending.redirectUri,
      challenge: pending.challenge,
      accountId: account.id,
      scope: pending.scope,
      expiresAt: now() + settings.authorizationCodeTtlSeconds * 1000,
      used: false
    })
    return redirectWith(pending.redirectUri, { code, state: pending.state })
  }

  const decidePending = (id: string, accountId: string, approve: boolean): string | undefined => {
    const pending = pendingAuthorizations.get(id)
    return pending ? decide(pending, accountId, approve) : undefined
  }

  // ---- OAuth: token endpoint ----------------------------------------------------------------------

  const exchangeCode = (form: Readonly<Record<string, unknown>>): JsonReply => {
    const code = typeof form.code === "string" ? form.code : undefined
    const grant = code ? codes.get(code) : undefined
    if (!code || !grant) return oauthError(400, "invalid_grant", "The authorization code is invalid.")
    if (grant.used) {
      // A replayed code is refused, and so is everything issued from it (RFC 6749 §4.1.2).
      return oauthError(400, "invalid_grant", "The authorization code has already been used.")
    }
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
    counters.grants.authorization_code++
    return json(200, issueTokens(grant.accountId, grant.clientId, grant.scope))
  }

  const refresh = (body: Readonly<Record<string, unknown>>): JsonReply => {
    const token = typeof body.refresh_token === "string" ? body.refresh_token : undefined
    const grant = token ? refreshTokens.get(token) : undefined
    if (typeof body.client_id !== "string" || !clientIds.has(body.client_id)) {
      rejectRefresh("invalid_client")
      return oauthError(401, "invalid_client", "Unknown client_id.")
    }
    const fault = takeFault("token", grant?.accountId)
    if (fault) {
      switch (fault.kind) {
        case "refresh_reused":
          rejectRefresh("reused")
          return reusedError()
        case "refresh_expired":
          rejectRefresh("expired")
          return expiredError()
        case "refresh_invalidated":
          rejectRefresh("invalidated")
          return invalidatedError()
        case "refresh_server_error":
          rejectRefresh("server_error")
          return json(fault.status ?? 500, { error: { message: "Internal server error", type: "server_error" } })
        default:
          break
      }
    }
    if (!token || !grant) {
      rejectRefresh("invalidated")
      return invalidatedError()
    }
    if (grant.status === "rotated") {
      rejectRefresh("reused")
      if (settings.revokeFamilyOnReuse) {
        for (const other of refreshTokens.values()) if (other.family === grant.family) other.status = "revoked"
      }
      return reusedError()
    }
    if (grant.status === "revoked" || grant.serial < (accounts.get(grant.accountId)?.revokedBefore ?? Infinity)) {
      rejectRefresh("invalidated")
      return invalidatedError()
    }
    if (grant.expiresAt <= now()) {
      rejectRefresh("expired")
      return expiredError()
    }
    grant.status = "rotated"
    counters.grants.refresh_token++
    counters.refreshes.succeeded++
    return json(200, issueTokens(grant.accountId, grant.clientId, grant.scope, grant.family))
  }

  const reusedError = () =>
    codedError(
      401,
      "refresh_token_reused",
      "Your refresh token has already been used to generate a new access token. Please try signing in again."
    )
  const expiredError = () =>
    codedError(401, "refresh_token_expired", "Your refresh token has expired. Please try signing in again.")
  const invalidatedError = () =>
    codedError(
      401,
      "refresh_token_invalidated",
      "Your refresh token has been invalidated. Please try signing in again."
    )

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
    const claims = Jwt.verify(key, form.subject_token)
    if (!claims) return oauthError(400, "invalid_grant", "subject_token is not a valid id_token.")
    counters.grants.token_exchange++
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
    counters.revokes++
    const grant = refreshTokens.get(body.token)
    if (grant) {
      for (const other of refreshTokens.values()) if (other.family === grant.family) other.status = "revoked"
    } else {
      const claims = Jwt.verify(key, body.token)
      if (claims && typeof claims.jti === "string") revokedJti.add(claims.jti)
    }
    // RFC 7009: an unknown token is not an error.
    return json(200, {})
  }

  // ---- device code ------------------------------------------------------------------------------------

  const userCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
  const newUserCode = () => {
    const bytes = randomBytes(8)
    let code = ""
    for (let i = 0; i < 8; i++) code += userCodeAlphabet[bytes[i]! % userCodeAlphabet.length]
    return `${code.slice(0, 4)}-${code.slice(4)}`
  }

  const requestUserCode = (body: Readonly<Record<string, unknown>>): JsonReply => {
    if (typeof body.client_id !== "string" || !clientIds.has(body.client_id)) {
      return oauthError(400, "invalid_client", "Unknown client_id.")
    }
    const login = accounts.get(settings.loginAccount)?.account
    if (login && !login.deviceCodeEnabled) return json(404, { error: "not_found", error_description: "Not Found" })
    const grant: DeviceGrant = {
      deviceAuthId: `deviceauth_${base64url(randomBytes(16))}`,
      userCode: newUserCode(),
      clientId: body.client_id,
      expiresAt: now() + settings.deviceCodeTtlSeconds * 1000,
      status: "pending",
      accountId: undefined,
      code: undefined,
      verifier: undefined,
      challenge: undefined
    }
    devices.set(grant.userCode, grant)
    return json(200, {
      device_auth_id: grant.deviceAuthId,
      user_code: grant.userCode,
      interval: String(settings.deviceIntervalSeconds),
      expires_at: new Date(grant.expiresAt).toISOString()
    })
  }

  const normalizeUserCode = (code: string) => {
    const bare = code.toUpperCase().replace(/[^A-Z0-9]/g, "")
    return bare.length === 8 ? `${bare.slice(0, 4)}-${bare.slice(4)}` : code.toUpperCase()
  }

  /** Approves or denies a device code, as the /codex/device page or the admin shortcut does. */
  const decideDevice = (userCode: string, approve: boolean, accountId?: string): "ok" | "unknown" | "expired" => {
    const grant = devices.get(normalizeUserCode(userCode))
    if (!grant) return "unknown"
    if (grant.expiresAt <= now()) return "expired"
    if (!approve) {
      grant.status = "denied"
      return "ok"
    }
    const account = accounts.get(accountId ?? settings.loginAccount)
    if (!account) return "unknown"
    const verifier = base64url(randomBytes(64))
    const challenge = s256(verifier)
    const code = `ac_${base64url(randomBytes(24))}`
    codes.set(code, {
      clientId: grant.clientId,
      redirectUri: `${issuer}/deviceauth/callback`,
      challenge,
      accountId: account.account.id,
      scope: DEFAULT_SCOPE,
      expiresAt: now() + settings.deviceCodeTtlSeconds * 1000,
      used: false
    })
    grant.status = "approved"
    grant.accountId = account.account.id
    grant.code = code
    grant.verifier = verifier
    grant.challenge = challenge
    return "ok"
  }

  const pollDevice = (body: Readonly<Record<string, unknown>>): JsonReply => {
    const grant = typeof body.user_code === "string" ? devices.get(normalizeUserCode(body.user_code)) : undefined
    if (!grant || grant.deviceAuthId !== body.device_auth_id) {
      return json(400, { error: "invalid_request", error_description: "Unknown device_auth_id or user_code." })
    }
    if (grant.expiresAt <= now()) {
      return json(400, {
        error: "expired_token",
        error_description: "The device code has expired. Start the sign-in again."
      })
    }
    switch (grant.status) {
      case "pending":
        return json(403, {
          error: "authorization_pending",
          error_description: "The user has not approved the code yet."
        })
      case "denied":
        return json(400, { error: "access_denied", error_description: "The user denied the request." })
      case "approved":
        devices.delete(grant.userCode)
        return json(200, {
          authorization_code: grant.code,
          code_challenge: grant.challenge,
          code_verifier: grant.verifier
        })
    }
  }

  const pendingDevice = (userCode: string) => {
    const grant = devices.get(normalizeUserCode(userCode))
    return grant && grant.status === "pending" && grant.expiresAt > now() ? grant.userCode : undefined
  }

  // ---- usage windows ------------------------------------------------------------------------------------

  const rollWindow = (window: WindowState, minutes: number, at: number) => {
    if (window.startedAt !== undefined && window.startedAt + minutes * 60_000 <= at) {
      window.used = 0
      window.startedAt = undefined
    }
  }

  const resetAt = (window: WindowState, minutes: number, at: number) =>
    Math.floor(((window.startedAt ?? at) + minutes * 60_000) / 1000)

  /** The x-codex-* headers for an account, as every backend response carries them (protocol §8). */
  const usageHeaders = (state: AccountState, activeLimit?: boolean): Record<string, string> => {
    const at = now()
    rollWindow(state.primary, PRIMARY_MINUTES, at)
    rollWindow(state.secondary, SECONDARY_MINUTES, at)
    const budget = budgetOf(state)
    const percent = (used: number, of: number) =>
      String(of <= 0 ? 100 : Math.min(100, Math.round((used / of) * 1000) / 10))
    return {
      "x-codex-primary-used-percent": percent(state.primary.used, budget.primary),
      "x-codex-primary-window-minutes": String(PRIMARY_MINUTES),
      "x-codex-primary-reset-at": String(resetAt(state.primary, PRIMARY_MINUTES, at)),
      "x-codex-secondary-used-percent": percent(state.secondary.used, budget.secondary),
      "x-codex-secondary-window-minutes": String(SECONDARY_MINUTES),
      "x-codex-secondary-reset-at": String(resetAt(state.secondary, SECONDARY_MINUTES, at)),
      "x-codex-credits-has-credits": "false",
      "x-codex-credits-unlimited": "false",
      "x-codex-credits-balance": "0",
      ...(activeLimit ? { "x-codex-active-limit": "codex" } : {})
    }
  }

  const usageLimitReply = (state: AccountState): JsonReply => {
    const headers = usageHeaders(state, true)
    const budget = budgetOf(state)
    const at = now()
    const primaryOut = state.primary.used >= budget.primary
    const secondaryOut = state.secondary.used >= budget.secondary
    const resets = Math.max(
      primaryOut ? resetAt(state.primary, PRIMARY_MINUTES, at) : 0,
      secondaryOut ? resetAt(state.secondary, SECONDARY_MINUTES, at) : 0,
      primaryOut || secondaryOut ? 0 : resetAt(state.primary, PRIMARY_MINUTES, at)
    )
    return json(
      429,
      {
        error: {
          type: "usage_limit_reached",
          message: "The usage limit has been reached",
          plan_type: state.account.plan,
          resets_at: resets,
          resets_in_seconds: Math.max(0, resets - Math.floor(at / 1000))
        }
      },
      headers
    )
  }

  /** Charges one unit to both windows; false when either is already exhausted. */
  const charge = (state: AccountState): boolean => {
    const at = now()
    rollWindow(state.primary, PRIMARY_MINUTES, at)
    rollWindow(state.secondary, SECONDARY_MINUTES, at)
    const budget = budgetOf(state)
    if (state.primary.used >= budget.primary || state.secondary.used >= budget.secondary) return false
    for (const window of [state.primary, state.secondary]) {
      window.startedAt ??= at
      window.used++
    }
    return true
  }

  const usageSnapshot = (accountId: string) => {
    const state = accounts.get(accountId)
    if (!state) return undefined
    const budget = budgetOf(state)
    const at = now()
    rollWindow(state.primary, PRIMARY_MINUTES, at)
    rollWindow(state.secondary, SECONDARY_MINUTES, at)
    return {
      plan_type: state.account.plan,
      primary: {
        used: state.primary.used,
        budget: budget.primary,
        window_minutes: PRIMARY_MINUTES,
        reset_at: resetAt(state.primary, PRIMARY_MINUTES, at)
      },
      secondary: {
        used: state.secondary.used,
        budget: budget.secondary,
        window_minutes: SECONDARY_MINUTES,
        reset_at: resetAt(state.secondary, SECONDARY_MINUTES, at)
      }
    }
  }

  // ---- models ------------------------------------------------------------------------------------------

  const modelsBody = JSON.stringify({ models: MODELS })
  const modelsEtag = `"${createHash("sha256").update(modelsBody).digest("base64url").slice(0, 27)}"`
  const modelSlugs = new Set(MODELS.map((model) => model.slug))

  reset()

  return {
    key,
    now,
    reset,
    setIssuer,
    get issuer() {
      return issuer
    },
    get settings() {
      return settings
    },
    get clientIds() {
      return clientIds
    },
    accountList: () => Array.from(accounts.values(), (state) => state.account),
    findAccount,
    addAccount,
    patchAccount,
    expireTokens,
    revokeTokens,
    updateSettings,
    advanceClock,
    count,
    record,
    lastRequest: (route: Route) => lastRequests.get(route),
    counters: (): Counters => structuredClone(counters),
    injectFault,
    clearFaults,
    takeFault,
    setReplies: (next: ReadonlyArray<ScriptedReply>) => {
      replies = [...next]
    },
    get replies(): ReadonlyArray<ScriptedReply> {
      return replies
    },
    mintTokens: (accountId: string) => issueTokens(accountId, clientIds.values().next().value!, DEFAULT_SCOPE),
    authenticate,
    authorize,
    decidePending,
    pendingAuthorization: (id: string) => pendingAuthorizations.get(id),
    token,
    revoke,
    requestUserCode,
    pollDevice,
    decideDevice,
    pendingDevice,
    usageHeaders,
    usageLimitReply,
    charge,
    usageSnapshot,
    modelsBody,
    modelsEtag,
    modelSlugs,
    random: () => random()
  }
}

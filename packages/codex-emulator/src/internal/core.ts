// The emulator's state machine: accounts, grants, tokens, usage windows, faults and counters.
// Plain synchronous code on purpose: every HTTP route is a thin adapter over it, and the hot path
// (/responses) must not be the bottleneck of any benchmark.
import { createHash, randomBytes, randomUUID } from "node:crypto"
import {
  type Account,
  type AccountInput,
  type AccountPatch,
  type Budget,
  type Counters,
  type FaultKind,
  type FaultRule,
  faultKindGroups,
  faultRoute,
  type Plan,
  type RecordedRequest,
  type Route,
  type ScriptedReply,
  type Settings,
  type SettingsPatch,
  settingsProblem,
  type Usage
} from "../Domain.ts"
import * as Jwt from "./jwt.ts"
import { MODELS } from "./models.ts"

const CODEX_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
const AUTH_NAMESPACE = "https://api.openai.com/auth"
const PROFILE_NAMESPACE = "https://api.openai.com/profile"
const DEFAULT_SCOPE = "openid profile email offline_access api.connectors.read api.connectors.invoke"
const PRIMARY_MINUTES = 300
const SECONDARY_MINUTES = 10_080

const DEFAULT_ACCOUNT: AccountInput = {
  id: "00000000-0000-4000-8000-00000000c0de",
  email: "dev@example.com",
  plan: "plus",
  userId: "user-emulator-default"
}

const DEFAULT_BUDGETS: Record<Plan, Budget> = {
  free: { primary: 10, secondary: 50 },
  go: { primary: 30, secondary: 200 },
  plus: { primary: 100, secondary: 1_000 },
  pro: { primary: 1_000, secondary: 10_000 },
  team: { primary: 150, secondary: 1_500 },
  business: { primary: 150, secondary: 1_500 },
  enterprise: { primary: 300, secondary: 3_000 },
  edu: { primary: 100, secondary: 1_000 }
}

const DEFAULT_SETTINGS: Omit<Settings, "loginAccount"> = {
  approval: "auto",
  requireInstructions: false,
  accessTokenTtlSeconds: 3_600,
  allowShortTokenLifetime: false,
  refreshTokenTtlSeconds: 30 * 86_400,
  authorizationCodeTtlSeconds: 60,
  deviceCodeTtlSeconds: 900,
  deviceIntervalSeconds: 5,
  deviceCodeEnabled: true,
  revokeFamilyOnReuse: false
}

const MISSING_ENTITLEMENT = "missing_codex_entitlement: this workspace has no access to Codex."

/** Options for a new emulator's state; everything has a default (one `plus` account, auto-approve). */
export interface CoreOptions {
  /** The accounts that can sign in (default: one `plus` account); the first is the login account. */
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
const oauthError = (status: number, error: string, description: string): JsonReply =>
  json(status, { error, error_description: description })

/** The error body shape the auth service uses for refresh failures (protocol §3). */
export const codedError = (status: number, code: string, message: string): JsonReply =>
  json(status, { error: { code, message, type: "invalid_request_error", param: null } })

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

interface WindowState {
  used: number
  startedAt: number | undefined
}

/** An account and what the emulator keeps about it. */
export interface AccountState {
  account: Account
  /**
   * Access tokens whose issue serial is below these are expired or revoked. A serial, not a time: a
   * token issued right after expireTokens/revokeTokens (even in the same millisecond) must work.
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
  readonly expiresAt: number
  status: "active" | "rotated" | "revoked"
}

type DeviceDecision =
  | { readonly _tag: "Approved"; readonly code: string; readonly verifier: string; readonly challenge: string }
  | { readonly _tag: "Denied"; readonly description: string }

interface DeviceGrant {
  readonly deviceAuthId: string
  readonly userCode: string
  readonly clientId: string
  readonly expiresAt: number
  decision: DeviceDecision | undefined
}

/** An access token the emulator issued and verified once. */
interface VerifiedToken {
  readonly accountId: string
  readonly exp: number
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

/** A patch without its undefined fields, so that spreading it keeps the current values. */
const defined = <A extends object>(patch: A): { [K in keyof A]?: Exclude<A[K], undefined> } =>
  Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as {
    [K in keyof A]?: Exclude<A[K], undefined>
  }

const increment = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1
}

const base64url = (bytes: Buffer): string => bytes.toString("base64url")
const s256 = (verifier: string): string => createHash("sha256").update(verifier).digest("base64url")

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
  refreshes: { succeeded: 0, rejected: 0, byReason: {}, byRefreshReason: {} },
  revokes: 0,
  faultsInjected: 0
})

const newAccount = (input: AccountInput): Account => ({
  id: input.id ?? randomUUID(),
  email: input.email,
  plan: input.plan ?? "plus",
  userId: input.userId ?? `user-${randomBytes(8).toString("hex")}`,
  entitled: input.entitled ?? true,
  ...(input.budget ? { budget: input.budget } : {}),
  ...(input.routing ? { routing: input.routing } : {})
})

const newAccountState = (account: Account): AccountState => ({
  account,
  expiredBefore: 0,
  revokedBefore: 0,
  primary: { used: 0, startedAt: undefined },
  secondary: { used: 0, startedAt: undefined }
})

/** The emulator's state and every operation on it. */
export type Core = ReturnType<typeof makeCore>

/** The settings a new core starts with: the defaults, then `options.settings`. */
export const initialSettings = (options: CoreOptions, loginAccount: string): Settings => ({
  ...DEFAULT_SETTINGS,
  loginAccount,
  ...defined(options.settings ?? {})
})

export const makeCore = (options: CoreOptions = {}) => {
  const clientIds = new Set(options.clientIds ?? [CODEX_CLIENT_ID])
  const budgets: Record<Plan, Budget> = { ...DEFAULT_BUDGETS, ...options.budgets }
  // Built once, so that an account given without an id (or user id) keeps it across resets.
  const initialAccounts = (options.accounts && options.accounts.length > 0 ? options.accounts : [DEFAULT_ACCOUNT]).map(
    newAccount
  )
  const accounts = new Map<string, AccountState>()
  const codes = new Map<string, CodeGrant>()
  const refreshTokens = new Map<string, RefreshGrant>()
  const revokedJti = new Set<string>()
  const devices = new Map<string, DeviceGrant>()
  const pendingAuthorizations = new Map<string, PendingAuthorization>()
  const verified = new Map<string, VerifiedToken>()
  // The issue serial of every access token (by jti) and the last serial handed out; see AccountState.
  const accessSerials = new Map<string, number>()
  const lastRequests = new Map<string, RecordedRequest>()
  let lastSerial = 0
  let redirectUris = new Set<string>()
  let issuer = "http://127.0.0.1"
  // Set by reset, which runs before the core is handed out.
  let signer: Jwt.Signer
  let random: () => number
  let clockOffsetMs: number
  let settings: Settings
  let faults: Array<ActiveFault>
  let replies: Array<ScriptedReply>
  let counters: Counters

  const now = () => Date.now() + clockOffsetMs

  const reset = () => {
    // A new signing key id: tokens minted before the reset no longer verify.
    signer = Jwt.makeSigner()
    random = mulberry32(options.seed ?? 0x5eed)
    clockOffsetMs = 0
    settings = initialSettings(options, initialAccounts[0]!.id)
    accounts.clear()
    for (const account of initialAccounts) accounts.set(account.id, newAccountState(account))
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

  /** Adds an account, unless one with the same id exists (it is never replaced). */
  const addAccount = (
    input: AccountInput
  ): { readonly ok: true; readonly account: Account } | { readonly ok: false; readonly existing: string } => {
    if (input.id !== undefined && accounts.has(input.id)) return { ok: false, existing: input.id }
    const account = newAccount(input)
    accounts.set(account.id, newAccountState(account))
    return { ok: true, account }
  }

  const patchAccount = (id: string, patch: AccountPatch): Account | undefined => {
    const state = accounts.get(id)
    if (!state) return undefined
    state.account = { ...state.account, ...defined(patch) }
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

  /** Applies a change of settings, unless the result is unusable (see `settingsProblem`). */
  const updateSettings = (
    patch: SettingsPatch
  ): { readonly ok: true; readonly settings: Settings } | { readonly ok: false; readonly problem: string } => {
    const next = { ...settings, ...defined(patch) }
    const problem = settingsProblem(next)
    if (problem !== undefined) return { ok: false, problem }
    settings = next
    return { ok: true, settings }
  }

  const advanceClock = (ms: number) => {
    clockOffsetMs += ms
    return now()
  }

  // ---- counters and recording ---------------------------------------------------------------------

  const count = (route: Route, accountId: string | undefined) => {
    const entry = (counters.requests[route] ??= { total: 0, byAccount: {} })
    entry.total++
    if (accountId !== undefined) increment(entry.byAccount, accountId)
  }

  const record = (route: Route, request: RecordedRequest) => {
    lastRequests.set(route, request)
  }

  /** Counts a refused refresh and answers it. */
  const rejectRefresh = (reason: RefreshRejection, shape?: FaultRule["shape"]): JsonReply => {
    counters.refreshes.rejected++
    increment(counters.refreshes.byReason, reason)
    return refreshError(reason, shape)
  }

  // ---- faults --------------------------------------------------------------------------------------

  /** Adds a rule; callers decode it with the FaultRule schema first, which refuses what no route applies. */
  const injectFault = (rule: FaultRule) => {
    faults.push({ rule, remaining: rule.probability !== undefined ? Infinity : (rule.times ?? 1) })
  }

  const clearFaults = () => {
    faults = []
  }

  /**
   * The first rule for this route and account among `kinds`, the kinds the route can apply at this
   * point of the request; consumes one use of a counted rule.
   */
  const takeFault = (
    route: Route,
    accountId: string | undefined,
    kinds: ReadonlyArray<FaultKind>
  ): FaultRule | undefined => {
    for (const fault of faults) {
      const { rule } = fault
      if (faultRoute(rule) !== route || !kinds.includes(rule.kind)) continue
      if (rule.account !== undefined && rule.account !== accountId) continue
      if (rule.probability !== undefined && random() >= rule.probability) continue
      fault.remaining--
      counters.faultsInjected++
      if (fault.remaining <= 0) faults = faults.filter((f) => f !== fault)
      return rule
    }
    return undefined
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
      iss: issuer,
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
    const idToken = signer.sign({
      iss: issuer,
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
    codes.set(code, { ...grant, expiresAt: now() + settings.authorizationCodeTtlSeconds * 1000, used: false })
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
    counters.grants.authorization_code++
    return json(200, issueTokens(grant.accountId, grant.clientId, grant.scope))
  }

  const refresh = (body: Readonly<Record<string, unknown>>): JsonReply => {
    increment(
      counters.refreshes.byRefreshReason,
      typeof body.refresh_reason === "string" ? body.refresh_reason : "none"
    )
    const token = typeof body.refresh_token === "string" ? body.refresh_token : undefined
    const grant = token ? refreshTokens.get(token) : undefined
    if (typeof body.client_id !== "string" || !clientIds.has(body.client_id)) {
      counters.refreshes.rejected++
      increment(counters.refreshes.byReason, "invalid_client")
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
        counters.refreshes.rejected++
        increment(counters.refreshes.byReason, "server_error")
        return json(fault.status ?? 500, { error: { message: "Internal server error", type: "server_error" } })
    }
    if (!grant) return rejectRefresh("invalidated")
    if (grant.status === "rotated") {
      if (settings.revokeFamilyOnReuse) {
        for (const other of refreshTokens.values()) if (other.family === grant.family) other.status = "revoked"
      }
      return rejectRefresh("reused")
    }
    if (grant.status === "revoked") return rejectRefresh("invalidated")
    if (grant.expiresAt <= now()) return rejectRefresh("expired")
    grant.status = "rotated"
    counters.grants.refresh_token++
    counters.refreshes.succeeded++
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
      const claims = signer.verify(body.token)
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
    if (!settings.deviceCodeEnabled) return json(404, { error: "not_found", error_description: "Not Found" })
    if (typeof body.client_id !== "string" || !clientIds.has(body.client_id)) {
      return oauthError(400, "invalid_client", "Unknown client_id.")
    }
    const grant: DeviceGrant = {
      deviceAuthId: `deviceauth_${base64url(randomBytes(16))}`,
      userCode: newUserCode(),
      clientId: body.client_id,
      expiresAt: now() + settings.deviceCodeTtlSeconds * 1000,
      decision: undefined
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

  /**
   * Approves (as `accountId`) or denies a device code, as the /codex/device page or the admin
   * shortcut does. A code is decided once: afterwards it is `unknown`. An account without Codex
   * entitlement gets the code denied.
   */
  const decideDevice = (
    userCode: string,
    approve: boolean,
    accountId: string
  ): "ok" | "unknown" | "expired" | "no_account" => {
    const grant = devices.get(normalizeUserCode(userCode))
    if (!grant || grant.decision !== undefined) return "unknown"
    if (grant.expiresAt <= now()) return "expired"
    if (!approve) {
      grant.decision = { _tag: "Denied", description: "The user denied the request." }
      return "ok"
    }
    const account = accounts.get(accountId)?.account
    if (!account) return "no_account"
    if (!account.entitled) {
      grant.decision = { _tag: "Denied", description: MISSING_ENTITLEMENT }
      return "ok"
    }
    const verifier = base64url(randomBytes(64))
    const challenge = s256(verifier)
    const code = newCode({
      clientId: grant.clientId,
      redirectUri: `${issuer}/deviceauth/callback`,
      challenge,
      accountId: account.id,
      scope: DEFAULT_SCOPE
    })
    grant.decision = { _tag: "Approved", code, verifier, challenge }
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
    switch (grant.decision?._tag) {
      case undefined:
        return json(403, {
          error: "authorization_pending",
          error_description: "The user has not approved the code yet."
        })
      case "Denied":
        return json(400, { error: "access_denied", error_description: grant.decision.description })
      case "Approved":
        devices.delete(grant.userCode)
        return json(200, {
          authorization_code: grant.decision.code,
          code_challenge: grant.decision.challenge,
          code_verifier: grant.decision.verifier
        })
    }
  }

  // ---- usage windows ------------------------------------------------------------------------------------

  const rollWindow = (window: WindowState, minutes: number, at: number) => {
    if (window.startedAt !== undefined && window.startedAt + minutes * 60_000 <= at) {
      window.used = 0
      window.startedAt = undefined
    }
  }

  const rollWindows = (state: AccountState, at: number) => {
    rollWindow(state.primary, PRIMARY_MINUTES, at)
    rollWindow(state.secondary, SECONDARY_MINUTES, at)
  }

  const resetAt = (window: WindowState, minutes: number, at: number) =>
    Math.floor(((window.startedAt ?? at) + minutes * 60_000) / 1000)

  /** The x-codex-* headers for an account, as every authenticated backend answer carries them (§8). */
  const usageHeaders = (state: AccountState): Record<string, string> => {
    const at = now()
    rollWindows(state, at)
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
      "x-codex-credits-balance": "0"
    }
  }

  /** The 429 of an exhausted plan (protocol §8); the usage headers are added by the backend routes. */
  const usageLimitReply = (state: AccountState): JsonReply => {
    const budget = budgetOf(state)
    const at = now()
    rollWindows(state, at)
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
      { "x-codex-active-limit": "codex" }
    )
  }

  /** Charges one unit to both windows; false when either is already exhausted. */
  const charge = (state: AccountState): boolean => {
    const at = now()
    rollWindows(state, at)
    const budget = budgetOf(state)
    if (state.primary.used >= budget.primary || state.secondary.used >= budget.secondary) return false
    for (const window of [state.primary, state.secondary]) {
      window.startedAt ??= at
      window.used++
    }
    return true
  }

  const usage = (state: AccountState): Usage => {
    const budget = budgetOf(state)
    const at = now()
    rollWindows(state, at)
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

  /**
   * `GET /wham/usage` as clients read it (the Codex backend's RateLimitStatusPayload): the plan, both
   * windows with an integer `used_percent`, their length and reset in seconds, and the credits.
   */
  const usageStatus = (state: AccountState) => {
    const budget = budgetOf(state)
    const at = now()
    rollWindows(state, at)
    const seconds = Math.floor(at / 1000)
    const window = (used: number, of: number, minutes: number, started: WindowState) => {
      const resetsAt = resetAt(started, minutes, at)
      return {
        used_percent: of <= 0 ? 100 : Math.min(100, Math.round((used / of) * 100)),
        limit_window_seconds: minutes * 60,
        reset_after_seconds: Math.max(0, resetsAt - seconds),
        reset_at: resetsAt
      }
    }
    const limitReached = state.primary.used >= budget.primary || state.secondary.used >= budget.secondary
    return {
      plan_type: state.account.plan,
      rate_limit: {
        allowed: !limitReached,
        limit_reached: limitReached,
        primary_window: window(state.primary.used, budget.primary, PRIMARY_MINUTES, state.primary),
        secondary_window: window(state.secondary.used, budget.secondary, SECONDARY_MINUTES, state.secondary)
      },
      credits: { has_credits: false, unlimited: false, balance: "0" }
    }
  }

  // ---- models ------------------------------------------------------------------------------------------

  const modelsBody = JSON.stringify({ models: MODELS })
  const modelsEtag = `"${createHash("sha256").update(modelsBody).digest("base64url").slice(0, 27)}"`
  const modelSlugs = new Set(MODELS.map((model) => model.slug))

  reset()

  return {
    now,
    reset,
    setIssuer,
    jwks: () => signer.jwks(),
    get issuer() {
      return issuer
    },
    get settings() {
      return settings
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
    tokenAccount,
    token,
    revoke,
    requestUserCode,
    pollDevice,
    decideDevice,
    usageHeaders,
    usageLimitReply,
    charge,
    usage,
    usageStatus,
    modelsBody,
    modelsEtag,
    modelSlugs
  }
}

// The state every area of the emulator's core shares: the accounts, the settings, the clock, the
// scripted replies, the counters and the last request of every route.
import { randomBytes, randomUUID } from "node:crypto"
import {
  type Account,
  type AccountInput,
  type AccountPatch,
  type Budget,
  type Counters,
  type Plan,
  type RecordedRequest,
  type Route,
  type ScriptedReply,
  type Settings,
  type SettingsPatch,
  settingsProblem
} from "../Domain.ts"

const CODEX_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"

const DEFAULT_ACCOUNT: AccountInput = {
  id: "00000000-0000-4000-8000-00000000c0de",
  email: "dev@example.com",
  plan: "plus",
  userId: "user-emulator-default"
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

export interface WindowState {
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

/** A patch without its undefined fields, so that spreading it keeps the current values. */
const defined = <A extends object>(patch: A): { [K in keyof A]?: Exclude<A[K], undefined> } =>
  Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as {
    [K in keyof A]?: Exclude<A[K], undefined>
  }

export const increment = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1
}

const emptyCounters = (): Counters => ({
  requests: {},
  grants: { authorization_code: 0, refresh_token: 0, token_exchange: 0 },
  refreshes: { succeeded: 0, rejected: 0, byReason: {}, byRefreshReason: {} },
  revokes: 0,
  faultsInjected: 0,
  streams: { completed: 0, aborted: 0 }
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

/** The settings a new core starts with: the defaults, then `options.settings`. */
export const initialSettings = (options: CoreOptions, loginAccount: string): Settings => ({
  ...DEFAULT_SETTINGS,
  loginAccount,
  ...defined(options.settings ?? {})
})

/** The state the core's areas share, and the operations on accounts, settings, clock and counters. */
export type State = ReturnType<typeof makeState>

export const makeState = (options: CoreOptions) => {
  const clientIds = new Set(options.clientIds ?? [CODEX_CLIENT_ID])
  // Built once, so that an account given without an id (or user id) keeps it across resets.
  const initialAccounts = (options.accounts && options.accounts.length > 0 ? options.accounts : [DEFAULT_ACCOUNT]).map(
    newAccount
  )
  const accounts = new Map<string, AccountState>()
  const lastRequests = new Map<string, RecordedRequest>()
  let redirectUris = new Set<string>()
  let issuer = "http://127.0.0.1"
  // Set by reset, which runs before the core is handed out.
  let clockOffsetMs: number
  let settings: Settings
  let replies: Array<ScriptedReply>
  let counters: Counters

  const now = () => Date.now() + clockOffsetMs

  const reset = () => {
    clockOffsetMs = 0
    settings = initialSettings(options, initialAccounts[0]!.id)
    accounts.clear()
    for (const account of initialAccounts) accounts.set(account.id, newAccountState(account))
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

  return {
    clientIds,
    accounts,
    now,
    reset,
    setIssuer,
    get issuer() {
      return issuer
    },
    get redirectUris(): ReadonlySet<string> {
      return redirectUris
    },
    get settings() {
      return settings
    },
    /** The live counters, for the areas to add to. */
    get counters() {
      return counters
    },
    accountList: () => Array.from(accounts.values(), (state) => state.account),
    findAccount,
    addAccount,
    patchAccount,
    updateSettings,
    advanceClock,
    count,
    record,
    lastRequest: (route: Route) => lastRequests.get(route),
    setReplies: (next: ReadonlyArray<ScriptedReply>) => {
      replies = [...next]
    },
    get replies(): ReadonlyArray<ScriptedReply> {
      return replies
    }
  }
}

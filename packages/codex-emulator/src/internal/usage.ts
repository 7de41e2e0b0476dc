// The usage windows of every account (protocol §8): the 5-hour and weekly budgets a turn is charged
// to, the x-codex-* headers, the 429 of an exhausted plan, and the figures /wham/usage reports.
import type { Budget, Plan, Usage } from "../Domain.ts"
import { json, type JsonReply } from "./reply.ts"
import type { AccountState, CoreOptions, State, WindowState } from "./state.ts"

const PRIMARY_MINUTES = 300
const SECONDARY_MINUTES = 10_080

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

/** The operations on the usage windows of the accounts. */
export const makeUsage = (shared: State, options: CoreOptions) => {
  const { now } = shared
  const budgets: Record<Plan, Budget> = { ...DEFAULT_BUDGETS, ...options.budgets }
  const budgetOf = (state: AccountState): Budget => state.account.budget ?? budgets[state.account.plan]

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

  /**
   * The 429 of an exhausted plan (protocol §8), resetting when its windows do (or in
   * `resetsInSeconds`, for a fault); the usage headers are added by the backend routes.
   */
  const usageLimitReply = (state: AccountState, resetsInSeconds?: number): JsonReply => {
    const budget = budgetOf(state)
    const at = now()
    rollWindows(state, at)
    const primaryOut = state.primary.used >= budget.primary
    const secondaryOut = state.secondary.used >= budget.secondary
    const resets =
      resetsInSeconds !== undefined
        ? Math.floor(at / 1000) + resetsInSeconds
        : Math.max(
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

  return { usageHeaders, usageLimitReply, charge, usage, usageStatus }
}

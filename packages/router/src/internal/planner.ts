// Planning, as a pure function of the request, the candidates the policy named (models already
// resolved through the catalog), the pool's state and the time: no I/O, so that every process
// plans alike from the same state, and property tests can try any pool and policy.
import type { ModelCatalog } from "@nexus/provider-codex"
import { Errors } from "@nexus/provider-codex"
import { Array as Arr } from "effect"
import type { Attempt, Plan, RouteRequest, Skip } from "../Route.ts"
import { NoCandidate } from "../Route.ts"

/** An account of the pool, as the token store lists it. */
export interface PoolAccount {
  readonly accountId: string
  readonly label: string | undefined
  readonly plan: string | undefined
  readonly status: "active" | "reauth_required" | "disabled"
  readonly statusReason: string | undefined
}

/** A usage window of an account, as the fleet last observed it. */
export interface PoolWindow {
  readonly limitId: string
  readonly windowMinutes: number
  readonly usedPercent: number
  /** Unix milliseconds: when the window resets (when unknown: its observation plus its length). */
  readonly resetsAt: number
}

/** What the pool knows at one moment: the fleet's (accounts, windows, blocks) and this process's. */
export interface PoolState {
  readonly accounts: ReadonlyArray<PoolAccount>
  readonly windows: ReadonlyMap<string, ReadonlyArray<PoolWindow>>
  /** Accounts a `usage_limit_reached` answer blocked, until the reset it named (Unix ms). */
  readonly blocks: ReadonlyMap<string, number>
  /** (account, model) pairs cooling down, keyed `account model`, until (Unix ms). */
  readonly cooldowns: ReadonlyMap<string, number>
  /** Requests in flight per account in this process. */
  readonly inFlight: ReadonlyMap<string, number>
  /** Requests in flight per account allowed in this process (0: no cap). */
  readonly maxInFlight: number
}

/** The key of an (account, model) pair in `cooldowns`. */
export const pairKey = (accountId: string, model: string) => `${accountId} ${model}`

/** A candidate of the policy (or the pinned model), its model resolved when the catalog knows it. */
export interface Resolved {
  readonly requested: string
  readonly effort: string | undefined
  readonly model: ModelCatalog.ModelInfo | undefined
}

/**
 * A 32-bit FNV-1a hash with a final avalanche, the same in every process: rendezvous hashing picks
 * the account with the highest `score(key, account)`, so the fleet agrees without shared state and
 * only the keys of an account that leaves move.
 */
const score = (key: string, accountId: string) => {
  let hash = 0x811c9dc5
  const text = `${key}\u0000${accountId}`
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b)
  hash ^= hash >>> 13
  hash = Math.imul(hash, 0xc2b2ae35)
  hash ^= hash >>> 16
  return hash >>> 0
}

const nameOf = (account: PoolAccount) => account.label ?? account.accountId

/** The effort to ask of `model`: the requested one when the model offers it, else its default. */
const effortFor = (model: ModelCatalog.ModelInfo, effort: string | undefined) => {
  const levels = model.supported_reasoning_levels
  if (effort === undefined || levels === undefined) return effort
  return levels.some((level) => level.effort === effort) ? effort : undefined
}

/** Why an account cannot take a model now, or `undefined` when it can. */
const accountSkip = (
  state: PoolState,
  account: PoolAccount,
  model: ModelCatalog.ModelInfo,
  now: number
): Pick<Skip, "reason" | "detail" | "until"> | undefined => {
  if (account.status !== "active") {
    return {
      reason: account.status,
      detail:
        account.status === "reauth_required"
          ? `must sign in again${account.statusReason ? ` (${account.statusReason})` : ""}: \`nexus login --label ${nameOf(account)}\``
          : "disabled"
    }
  }
  const plans = model.available_in_plans
  if (plans !== undefined && account.plan !== undefined && !plans.includes(account.plan)) {
    return { reason: "plan_excludes_model", detail: `${model.slug} is not available on the ${account.plan} plan` }
  }
  const blocked = state.blocks.get(account.accountId)
  if (blocked !== undefined && blocked > now) {
    return { reason: "usage_limit", detail: "usage limit reached", until: blocked }
  }
  let full: PoolWindow | undefined
  for (const window of state.windows.get(account.accountId) ?? []) {
    if (window.usedPercent >= 100 && window.resetsAt > now && (full === undefined || window.resetsAt > full.resetsAt)) {
      full = window
    }
  }
  if (full !== undefined) {
    return {
      reason: "window_full",
      detail: `its ${full.windowMinutes}-minute ${full.limitId} window is at ${full.usedPercent} %`,
      until: full.resetsAt
    }
  }
  const cooling = state.cooldowns.get(pairKey(account.accountId, model.slug))
  if (cooling !== undefined && cooling > now) {
    return { reason: "cooling_down", detail: `${model.slug} failed repeatedly on it`, until: cooling }
  }
  if (state.maxInFlight > 0 && (state.inFlight.get(account.accountId) ?? 0) >= state.maxInFlight) {
    return { reason: "at_capacity", detail: `${state.maxInFlight} requests in flight` }
  }
  return undefined
}

/** Room left on an account: 100 minus its fullest current window. */
const headroom = (state: PoolState, accountId: string, now: number) => {
  let used = 0
  for (const window of state.windows.get(accountId) ?? []) {
    if (window.resetsAt > now && window.usedPercent > used) used = window.usedPercent
  }
  return 100 - used
}

/**
 * The plan for `request`: for each candidate in order, its eligible accounts ranked (the sticky
 * account of the prompt cache key first, then by headroom, then by fewer in flight), or the
 * failure that says why none is. A pinned account that is blocked by a usage limit fails as
 * `UsageLimitReached`, with its reset, since no other account may serve it.
 */
export const plan = (
  request: RouteRequest,
  candidates: ReadonlyArray<Resolved>,
  rule: number | "pinned",
  state: PoolState,
  now: number
): Plan | NoCandidate | Errors.UsageLimitReached => {
  const skipped: Array<Skip> = []
  const attempts: Array<Attempt> = []
  let accounts = state.accounts
  if (request.account !== undefined) {
    accounts = accounts.filter((account) => account.accountId === request.account || account.label === request.account)
    if (accounts.length === 0) {
      for (const candidate of candidates) {
        skipped.push({
          model: candidate.requested,
          account: request.account,
          reason: "unknown_account",
          detail: `no signed-in account is called ${request.account} (\`nexus accounts\` lists them)`
        })
      }
    }
  }
  if (accounts.length === 0 && request.account === undefined) {
    for (const candidate of candidates) {
      skipped.push({
        model: candidate.requested,
        reason: "no_account",
        detail: "no ChatGPT account is signed in: run `nexus login`"
      })
    }
  }
  const seen = new Set<string>()
  for (const candidate of candidates) {
    const model = candidate.model
    const base = { model: candidate.requested, ...(candidate.effort === undefined ? {} : { effort: candidate.effort }) }
    if (model === undefined) {
      skipped.push({ ...base, reason: "unknown_model", detail: `the catalog has no model ${candidate.requested}` })
      continue
    }
    const effort = effortFor(model, request.effort ?? candidate.effort)
    const key = `${model.slug} ${effort ?? ""}`
    if (seen.has(key)) {
      skipped.push({ ...base, reason: "duplicate", detail: `${model.slug} is already planned` })
      continue
    }
    seen.add(key)
    if (request.contextAbove !== undefined && (model.context_window ?? 0) <= request.contextAbove) {
      skipped.push({
        ...base,
        reason: "context_too_small",
        detail: `${model.slug}'s context window (${model.context_window ?? "unknown"}) is not above ${request.contextAbove}`
      })
      continue
    }
    const eligible: Array<PoolAccount> = []
    for (const account of accounts) {
      const skip = accountSkip(state, account, model, now)
      if (skip === undefined) eligible.push(account)
      else skipped.push({ ...base, account: nameOf(account), ...skip })
    }
    const room = new Map(eligible.map((account) => [account.accountId, headroom(state, account.accountId, now)]))
    eligible.sort(
      (a, b) =>
        room.get(b.accountId)! - room.get(a.accountId)! ||
        (state.inFlight.get(a.accountId) ?? 0) - (state.inFlight.get(b.accountId) ?? 0) ||
        (a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0)
    )
    const cacheKey = request.promptCacheKey
    if (cacheKey !== undefined && cacheKey.length > 0 && eligible.length > 1) {
      let best = 0
      let bestScore = -1
      for (let i = 0; i < eligible.length; i++) {
        const s = score(cacheKey, eligible[i]!.accountId)
        if (s > bestScore) {
          bestScore = s
          best = i
        }
      }
      if (best > 0) eligible.unshift(...eligible.splice(best, 1))
    }
    for (const account of eligible) {
      attempts.push({
        model: model.slug,
        requested: candidate.requested,
        effort,
        accountId: account.accountId,
        label: account.label
      })
    }
  }
  if (Arr.isArrayNonEmpty(attempts)) return { attempts, skipped, rule }
  if (request.account !== undefined && accounts.length === 1) {
    const limit = skipped.find((skip) => skip.reason === "usage_limit" || skip.reason === "window_full")
    if (limit !== undefined) {
      const account = accounts[0]!
      return new Errors.UsageLimitReached({
        account: nameOf(account),
        ...(account.plan === undefined ? {} : { plan: account.plan }),
        ...(limit.until === undefined ? {} : { resetsAt: Math.ceil(limit.until / 1000) })
      })
    }
  }
  let earliest: number | undefined
  for (const skip of skipped) {
    if (skip.until !== undefined && (earliest === undefined || skip.until < earliest)) earliest = skip.until
  }
  return new NoCandidate({ skipped, ...(earliest === undefined ? {} : { earliestUsable: earliest }) })
}

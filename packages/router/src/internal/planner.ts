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

/** A 32-bit FNV-1a hash of `text`. */
const fnv = (text: string) => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash
}

/** A final avalanche, so that close inputs give unrelated outputs. */
const mix = (value: number) => {
  let hash = value
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b)
  hash ^= hash >>> 13
  hash = Math.imul(hash, 0xc2b2ae35)
  hash ^= hash >>> 16
  return hash >>> 0
}

/** Account ids' hashes, computed once per process (accounts are few and long-lived). */
const accountHashes = new Map<string, number>()
const accountHash = (accountId: string) => {
  let hash = accountHashes.get(accountId)
  if (hash === undefined) {
    hash = mix(fnv(accountId))
    accountHashes.set(accountId, hash)
  }
  return hash
}

/**
 * Rendezvous hashing: the account with the highest `score(key, account)` takes the key, the same
 * in every process, so the fleet agrees without shared state and only the keys of an account that
 * leaves move.
 */
const score = (keyHash: number, accountId: string) => mix(keyHash ^ Math.imul(accountHash(accountId), 0x9e3779b1))

const nameOf = (account: PoolAccount) => account.label ?? account.accountId

/** The effort to ask of `model`: the requested one when the model offers it, else its default. */
const effortFor = (model: ModelCatalog.ModelInfo, effort: string | undefined) => {
  const levels = model.supported_reasoning_levels
  if (effort === undefined || levels === undefined) return effort
  return levels.some((level) => level.effort === effort) ? effort : undefined
}

type Reason = Pick<Skip, "reason" | "detail" | "until">

/** What a plan needs to know of an account, whatever the model: computed once per plan. */
interface Facts {
  readonly account: PoolAccount
  /** Not active: the first reason, before any model's. */
  readonly inactive: Reason | undefined
  /** Blocked by a usage limit, or a window at 100 %. */
  readonly limited: Reason | undefined
  readonly atCapacity: Reason | undefined
  /** 100 minus its fullest current window. */
  readonly room: number
  readonly inFlight: number
}

const factsOf = (state: PoolState, account: PoolAccount, now: number): Facts => {
  const inactive: Reason | undefined =
    account.status === "active"
      ? undefined
      : {
          reason: account.status,
          detail:
            account.status === "reauth_required"
              ? `must sign in again${account.statusReason ? ` (${account.statusReason})` : ""}: \`nexus login --label ${nameOf(account)}\``
              : "disabled"
        }
  let used = 0
  let full: PoolWindow | undefined
  for (const window of state.windows.get(account.accountId) ?? []) {
    if (window.resetsAt <= now) continue
    if (window.usedPercent > used) used = window.usedPercent
    if (window.usedPercent >= 100 && (full === undefined || window.resetsAt > full.resetsAt)) full = window
  }
  const blocked = state.blocks.get(account.accountId)
  const limited: Reason | undefined =
    blocked !== undefined && blocked > now
      ? { reason: "usage_limit", detail: "usage limit reached", until: blocked }
      : full !== undefined
        ? {
            reason: "window_full",
            detail: `its ${full.windowMinutes}-minute ${full.limitId} window is at ${full.usedPercent} %`,
            until: full.resetsAt
          }
        : undefined
  const inFlight = state.inFlight.get(account.accountId) ?? 0
  const atCapacity: Reason | undefined =
    state.maxInFlight > 0 && inFlight >= state.maxInFlight
      ? { reason: "at_capacity", detail: `${state.maxInFlight} requests in flight` }
      : undefined
  return { account, inactive, limited, atCapacity, room: 100 - used, inFlight }
}

/** Why an account cannot take a model now, or `undefined` when it can. */
const skipFor = (state: PoolState, facts: Facts, model: ModelCatalog.ModelInfo, now: number): Reason | undefined => {
  if (facts.inactive !== undefined) return facts.inactive
  const plans = model.available_in_plans
  const plan = facts.account.plan
  if (plans !== undefined && plan !== undefined && !plans.includes(plan)) {
    return { reason: "plan_excludes_model", detail: `${model.slug} is not available on the ${plan} plan` }
  }
  if (facts.limited !== undefined) return facts.limited
  if (state.cooldowns.size > 0) {
    const cooling = state.cooldowns.get(pairKey(facts.account.accountId, model.slug))
    if (cooling !== undefined && cooling > now) {
      return { reason: "cooling_down", detail: `${model.slug} failed repeatedly on it`, until: cooling }
    }
  }
  return facts.atCapacity
}

/** Most room first, then fewest in flight, then by id (the same order in every process). */
const byRoom = (a: Facts, b: Facts) =>
  b.room - a.room ||
  a.inFlight - b.inFlight ||
  (a.account.accountId < b.account.accountId ? -1 : a.account.accountId > b.account.accountId ? 1 : 0)

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
  const ranked = accounts.map((account) => factsOf(state, account, now)).sort(byRoom)
  const keyHash =
    request.promptCacheKey !== undefined && request.promptCacheKey.length > 0
      ? mix(fnv(request.promptCacheKey))
      : undefined
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
    const eligible: Array<Facts> = []
    let sticky = -1
    let best = -1
    for (const facts of ranked) {
      const skip = skipFor(state, facts, model, now)
      if (skip !== undefined) {
        skipped.push({ ...base, account: nameOf(facts.account), ...skip })
        continue
      }
      if (keyHash !== undefined) {
        const s = score(keyHash, facts.account.accountId)
        if (s > best) {
          best = s
          sticky = eligible.length
        }
      }
      eligible.push(facts)
    }
    if (sticky > 0) eligible.unshift(...eligible.splice(sticky, 1))
    for (const { account } of eligible) {
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
  return NoCandidate.fromSkipped(skipped)
}

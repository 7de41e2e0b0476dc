// The planner as a pure function: examples of each rule, then properties over any pool and policy.
import { assert, describe, it } from "@effect/vitest"
import type { ModelCatalog } from "@nexus/provider-codex"
import { Effect, Schema } from "effect"
import { type PoolAccount, type PoolState, type Resolved, pairKey, plan } from "../src/internal/planner.ts"
import { type Attempt, NoCandidate, type RouteRequest } from "../src/Route.ts"

const NOW = Date.parse("2026-12-02T12:00:00Z")
const HOUR = 3_600_000

const model = (slug: string, fields: Partial<ModelCatalog.ModelInfo> = {}): ModelCatalog.ModelInfo => ({
  slug,
  context_window: 272_000,
  supported_reasoning_levels: [{ effort: "low" }, { effort: "medium" }, { effort: "high" }],
  available_in_plans: ["plus", "pro"],
  ...fields
})

const account = (accountId: string, fields: Partial<PoolAccount> = {}): PoolAccount => ({
  accountId,
  label: undefined,
  plan: "plus",
  status: "active",
  statusReason: undefined,
  ...fields
})

const state = (accounts: ReadonlyArray<PoolAccount>, fields: Partial<PoolState> = {}): PoolState => ({
  accounts,
  windows: new Map(),
  blocks: new Map(),
  cooldowns: new Map(),
  inFlight: new Map(),
  maxInFlight: 0,
  ...fields
})

const candidate = (info: ModelCatalog.ModelInfo | undefined, requested?: string, effort?: string): Resolved => ({
  requested: requested ?? info?.slug ?? "missing",
  effort,
  model: info
})

const request = (fields: Partial<RouteRequest> = {}): RouteRequest => ({
  taskType: "coder",
  complexity: "medium",
  ...fields
})

const planned = (outcome: ReturnType<typeof plan>): ReadonlyArray<Attempt> => {
  if (!("attempts" in outcome)) assert.fail(`expected a plan, got ${outcome._tag}: ${outcome.message}`)
  return outcome.attempts
}

const pairs = (attempts: ReadonlyArray<Attempt>) => attempts.map((attempt) => `${attempt.model}@${attempt.accountId}`)

describe("plan", () => {
  const big = model("big")
  const small = model("small", { context_window: 100_000 })

  it("every account of the first model, best headroom first, then the next model", () => {
    const pool = state([account("a"), account("b"), account("c")], {
      windows: new Map([
        ["a", [{ limitId: "codex", windowMinutes: 300, usedPercent: 80, resetsAt: NOW + HOUR }]],
        ["b", [{ limitId: "codex", windowMinutes: 300, usedPercent: 10, resetsAt: NOW + HOUR }]],
        // A window that has reset counts for nothing.
        ["c", [{ limitId: "codex", windowMinutes: 300, usedPercent: 95, resetsAt: NOW - 1 }]]
      ])
    })
    const attempts = planned(plan(request(), [candidate(big), candidate(small)], 0, pool, NOW))
    assert.deepStrictEqual(pairs(attempts), ["big@c", "big@b", "big@a", "small@c", "small@b", "small@a"])
  })

  it("skips inactive accounts, excluded plans, blocks, full windows, cooldowns and full accounts, each with its reason", () => {
    const pool = state(
      [
        account("ok"),
        account("reauth", { status: "reauth_required", statusReason: "reused" }),
        account("off", { status: "disabled" }),
        account("free", { plan: "free" }),
        account("blocked"),
        account("full"),
        account("cool"),
        account("busy")
      ],
      {
        blocks: new Map([["blocked", NOW + HOUR]]),
        windows: new Map([
          ["full", [{ limitId: "codex", windowMinutes: 10080, usedPercent: 100, resetsAt: NOW + 2 * HOUR }]]
        ]),
        cooldowns: new Map([[pairKey("cool", "big"), NOW + 30_000]]),
        inFlight: new Map([["busy", 2]]),
        maxInFlight: 2
      }
    )
    const outcome = plan(request(), [candidate(big)], 0, pool, NOW)
    assert.deepStrictEqual(pairs(planned(outcome)), ["big@ok"])
    assert.ok("skipped" in outcome)
    const reasons = Object.fromEntries(outcome.skipped.map((skip) => [skip.account, [skip.reason, skip.until]]))
    assert.deepStrictEqual(reasons, {
      reauth: ["reauth_required", undefined],
      off: ["disabled", undefined],
      free: ["plan_excludes_model", undefined],
      blocked: ["usage_limit", NOW + HOUR],
      full: ["window_full", NOW + 2 * HOUR],
      cool: ["cooling_down", NOW + 30_000],
      busy: ["at_capacity", undefined]
    })
  })

  it("NoCandidate names every candidate and the earliest time one becomes usable", () => {
    const pool = state([account("a"), account("b")], {
      blocks: new Map([
        ["a", NOW + 2 * HOUR],
        ["b", NOW + HOUR]
      ])
    })
    const outcome = plan(request(), [candidate(big), candidate(undefined, "gone")], 0, pool, NOW)
    assert.instanceOf(outcome, NoCandidate)
    assert.strictEqual(outcome.earliestUsable, NOW + HOUR)
    assert.isTrue(outcome.isRetryable)
    assert.deepStrictEqual(
      outcome.skipped.map((skip) => `${skip.model}/${skip.account ?? "-"}/${skip.reason}`),
      ["big/a/usage_limit", "big/b/usage_limit", "gone/-/unknown_model"]
    )
    assert.include(outcome.message, "usage_limit")
  })

  it("a pinned account is the only one tried; blocked by its usage limit it fails as UsageLimitReached with the reset", () => {
    const pool = state([account("a", { label: "work" }), account("b")], { blocks: new Map([["a", NOW + HOUR]]) })
    assert.deepStrictEqual(pairs(planned(plan(request({ account: "b" }), [candidate(big)], 0, pool, NOW))), ["big@b"])
    const outcome = plan(request({ account: "work" }), [candidate(big)], 0, pool, NOW)
    assert.ok(!("attempts" in outcome))
    assert.strictEqual(outcome._tag, "UsageLimitReached")
    if (outcome._tag === "UsageLimitReached") {
      assert.strictEqual(outcome.account, "work")
      assert.strictEqual(outcome.resetsAt, (NOW + HOUR) / 1000)
    }
    const unknown = plan(request({ account: "nobody" }), [candidate(big)], 0, pool, NOW)
    assert.instanceOf(unknown, NoCandidate)
    assert.strictEqual(unknown.skipped[0]!.reason, "unknown_account")
  })

  it("no account signed in: NoCandidate says to log in", () => {
    const outcome = plan(request(), [candidate(big)], 0, state([]), NOW)
    assert.instanceOf(outcome, NoCandidate)
    assert.strictEqual(outcome.skipped[0]!.reason, "no_account")
    assert.include(outcome.skipped[0]!.detail, "nexus login")
    assert.isFalse(outcome.isRetryable)
  })

  it("context above a size keeps only models with a larger window; duplicates and unsupported efforts", () => {
    const pool = state([account("a")])
    const outcome = plan(
      request({ contextAbove: 150_000 }),
      [
        candidate(small),
        candidate(big, "alias-of-big", "high"),
        candidate(big, "big", "high"),
        candidate(big, "big", "max")
      ],
      0,
      pool,
      NOW
    )
    const attempts = planned(outcome)
    // "max" is not one of big's efforts: its default is asked for instead.
    assert.deepStrictEqual(
      attempts.map((attempt) => [attempt.model, attempt.requested, attempt.effort]),
      [
        ["big", "alias-of-big", "high"],
        ["big", "big", undefined]
      ]
    )
    assert.ok("skipped" in outcome)
    assert.deepStrictEqual(
      outcome.skipped.map((skip) => [skip.model, skip.reason]),
      [
        ["small", "context_too_small"],
        ["big", "duplicate"]
      ]
    )
  })

  it("a prompt cache key sticks to one account, the same in any process, and moves only when that account leaves", () => {
    const accounts = ["a", "b", "c", "d"].map((id) => account(id))
    const first = (pool: PoolState, key: string) =>
      planned(plan(request({ promptCacheKey: key }), [candidate(big)], 0, pool, NOW))[0]!.accountId
    const keys = Array.from({ length: 200 }, (_, i) => `conversation-${i}`)
    const before = keys.map((key) => first(state(accounts), key))
    // Spread over the accounts, whatever their headroom.
    assert.strictEqual(new Set(before).size, 4)
    const blocked = state(accounts, { blocks: new Map([["b", NOW + HOUR]]) })
    const after = keys.map((key) => first(blocked, key))
    keys.forEach((_, i) => {
      if (before[i] === "b") assert.notStrictEqual(after[i], "b")
      else assert.strictEqual(after[i], before[i], "a key not on the blocked account moved")
    })
  })
})

// Properties over any pool and policy.
const Ids = ["a", "b", "c", "d", "e"] as const
const ArbitraryAccount = Schema.Struct({
  accountId: Schema.Literals(Ids),
  plan: Schema.Literals(["plus", "pro", "free"]),
  status: Schema.Literals(["active", "active", "reauth_required", "disabled"]),
  used: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 120 })),
  blockedFor: Schema.Int.check(Schema.isBetween({ minimum: -2, maximum: 3 })),
  coolingModel: Schema.Literals(["none", "m1", "m2", "m3"]),
  inFlight: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 }))
})
const ArbitraryCandidate = Schema.Struct({
  model: Schema.Literals(["m1", "m2", "m3", "unknown"]),
  effort: Schema.Literals(["low", "high", "ultra", "none"])
})
const catalog: Record<string, ModelCatalog.ModelInfo> = {
  m1: model("m1", { available_in_plans: ["pro"] }),
  m2: model("m2"),
  m3: model("m3", { available_in_plans: ["plus", "pro", "free"], context_window: 100_000 })
}

const poolOf = (rows: ReadonlyArray<typeof ArbitraryAccount.Type>, maxInFlight: number): PoolState => {
  const byId = new Map(rows.map((row) => [row.accountId, row]))
  const unique = [...byId.values()]
  return state(
    unique.map((row) => account(row.accountId, { plan: row.plan, status: row.status })),
    {
      windows: new Map(
        unique.map((row) => [
          row.accountId,
          [{ limitId: "codex", windowMinutes: 300, usedPercent: row.used, resetsAt: NOW + HOUR }]
        ])
      ),
      blocks: new Map(unique.map((row) => [row.accountId, NOW + row.blockedFor * HOUR])),
      cooldowns: new Map(
        unique.flatMap((row) =>
          row.coolingModel === "none" ? [] : [[pairKey(row.accountId, row.coolingModel), NOW + 1000]]
        )
      ),
      inFlight: new Map(unique.map((row) => [row.accountId, row.inFlight])),
      maxInFlight
    }
  )
}

describe("plan, for any pool and policy", () => {
  const Case = {
    accounts: Schema.Array(ArbitraryAccount),
    candidates: Schema.NonEmptyArray(ArbitraryCandidate),
    maxInFlight: Schema.Literals([0, 2]),
    pinned: Schema.Literals(["none", ...Ids]),
    contextAbove: Schema.Literals([0, 150_000])
  }

  it.effect.prop("a non-empty plan, or a failure whose reasons cover every candidate", Case, (input) =>
    Effect.sync(() => {
      const pool = poolOf(input.accounts, input.maxInFlight)
      const candidates = input.candidates.map((c) =>
        candidate(catalog[c.model], c.model, c.effort === "none" ? undefined : c.effort)
      )
      const pinned = input.pinned === "none" ? {} : { account: input.pinned }
      const outcome = plan(request({ ...pinned, contextAbove: input.contextAbove }), candidates, 0, pool, NOW)
      if ("attempts" in outcome) {
        assert.isAbove(outcome.attempts.length, 0)
        return
      }
      if (outcome._tag === "UsageLimitReached") {
        assert.notStrictEqual(input.pinned, "none", "UsageLimitReached only for a pinned account")
        return
      }
      const named = new Set(outcome.skipped.map((skip) => skip.model))
      for (const c of input.candidates) assert.isTrue(named.has(c.model), `candidate ${c.model} has no reason`)
    })
  )

  it.effect.prop(
    "no blocked, full, cooling, inactive, excluded or full-capacity account is ever planned",
    Case,
    (input) =>
      Effect.sync(() => {
        const pool = poolOf(input.accounts, input.maxInFlight)
        const candidates = input.candidates.map((c) => candidate(catalog[c.model], c.model))
        const outcome = plan(request({ contextAbove: input.contextAbove }), candidates, 0, pool, NOW)
        if (!("attempts" in outcome)) return
        for (const attempt of outcome.attempts) {
          const row = pool.accounts.find((a) => a.accountId === attempt.accountId)!
          assert.strictEqual(row.status, "active")
          assert.isFalse((pool.blocks.get(row.accountId) ?? 0) > NOW, "blocked account planned")
          const used = pool.windows.get(row.accountId)![0]!.usedPercent
          assert.isBelow(used, 100, "full window planned")
          assert.isFalse((pool.cooldowns.get(pairKey(row.accountId, attempt.model)) ?? 0) > NOW, "cooling pair planned")
          if (pool.maxInFlight > 0) assert.isBelow(pool.inFlight.get(row.accountId) ?? 0, pool.maxInFlight)
          const plans = catalog[attempt.model]!.available_in_plans!
          assert.include(plans, row.plan)
          if (input.contextAbove > 0) assert.isAbove(catalog[attempt.model]!.context_window!, input.contextAbove)
        }
      })
  )
})

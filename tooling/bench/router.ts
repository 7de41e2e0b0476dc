// Router.plan per request with 10 accounts (windows, blocks, a cooldown) and 20 rules, side by side
// in one run with a bare function doing a map lookup (the seed's select_model): the time planning
// adds, and the database round trips per plan in steady state (the pool is in memory, kept by
// LISTEN). Goals: at most 20 µs added per plan, 0 round trips per request.
//   node tooling/bench/router.ts [--seconds 6] [--rounds 6] [--quick] [--json FILE]   (seconds per side, split over the rounds)
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Emulator } from "@nexus/codex-emulator"
import { OAuthClient, TokenSet } from "@nexus/oauth"
import { CodexClient, Migrations as ProviderMigrations, ModelCatalog, UsageWindows } from "@nexus/provider-codex"
import { AccountPool, Migrations as RouterMigrations, Router, RoutingPolicy } from "@nexus/router"
import { TestDatabase } from "@nexus/testing"
import { Credentials, Crypto, Migrations as TokenStoreMigrations, TokenStore } from "@nexus/token-store"
import { Console, DateTime, Effect, Layer } from "effect"
import { benchArgs } from "./args.ts"
import { transactions } from "./measure.ts"
import { makeReport } from "./report.ts"

const values = benchArgs(
  {
    seconds: { type: "string", default: "6" },
    rounds: { type: "string", default: "6" }
  },
  { seconds: "0.4", rounds: "1" }
)
const report = makeReport("router", values)
const seconds = Number(values.seconds)
const rounds = Math.max(1, Number(values.rounds))

/** 20 rules: 18 for task types nobody asks for, then the two the bench's requests match last. */
const policy: RoutingPolicy.Policy = {
  ...RoutingPolicy.defaults,
  maxInFlightPerAccount: 16,
  source: "bench",
  rules: [
    ...Array.from({ length: 18 }, (_, i) => ({
      complexity: "complex" as const,
      task_type: `task_${i}`,
      candidates: [{ model: "gpt-5.5", effort: "high" }] as const
    })),
    {
      complexity: "medium" as const,
      task_type: "coder",
      candidates: [
        { model: "gpt-4o", effort: "medium" },
        { model: "@strongest", effort: "medium" },
        { model: "@largest", effort: "medium" }
      ] as const
    },
    { candidates: [{ model: "@small", effort: "low" }, { model: "@strongest" }] as const }
  ]
}

const Live = Layer.unwrap(
  Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    const credentials = Credentials.Credentials.layerStack({
      crypto: Crypto.Crypto.layerRandom,
      oauth: OAuthClient.OAuthClient.layerWith({ issuer: emulator.urls.issuer }),
      sources: "postgres"
    }).pipe(Layer.provide(NodeHttpClient.layerUndici))
    return Router.Router.layer.pipe(
      Layer.provideMerge(
        CodexClient.CodexClient.layerNoDeps({ baseUrl: emulator.urls.codexBaseUrl }).pipe(
          Layer.provide(NodeHttpClient.layerDispatcher)
        )
      ),
      Layer.provideMerge(AccountPool.AccountPool.layer),
      Layer.provideMerge(RoutingPolicy.RoutingPolicy.layerWith(policy)),
      Layer.provideMerge(
        ModelCatalog.ModelCatalog.layer({ baseUrl: emulator.urls.codexBaseUrl }).pipe(
          Layer.provide(NodeHttpClient.layerUndici)
        )
      ),
      Layer.provideMerge(UsageWindows.UsageWindows.layer),
      Layer.provideMerge(credentials)
    )
  })
).pipe(
  Layer.provideMerge(
    TestDatabase.layer({
      migrations: [TokenStoreMigrations.migrations, ProviderMigrations.migrations, RouterMigrations.migrations]
    })
  ),
  Layer.provideMerge(Emulator.Emulator.layer())
)

/** The seed's select_model: a lookup in a table of (complexity, task type). */
const seedTable = new Map([
  ["complex/code_generation", "gpt-5-codex"],
  ["complex/architect", "gpt-5-codex"],
  ["medium/coder", "gpt-4o"]
])
const selectModel = (complexity: string, taskType: string) => seedTable.get(`${complexity}/${taskType}`) ?? "gpt-5.5"

const program = Effect.gen(function* () {
  const emulator = yield* Emulator.Emulator
  const store = yield* TokenStore.TokenStore
  const usage = yield* UsageWindows.UsageWindows
  const pool = yield* AccountPool.AccountPool
  const router = yield* Router.Router
  // 10 accounts on three plans, each with windows at a different use; one blocked, one cooling down.
  const now = Date.now()
  for (let i = 0; i < 10; i++) {
    const account = yield* emulator.addAccount({
      id: `bench-${i}`,
      email: `bench-${i}@example.com`,
      plan: (["plus", "pro", "team"] as const)[i % 3]
    })
    yield* store.put(yield* TokenSet.fromTokenResponse(yield* emulator.issueTokens(account.id)), { label: `b${i}` })
    yield* usage.record(account.id, [
      {
        limitId: "codex",
        kind: "five_hour",
        windowMinutes: 300,
        usedPercent: i * 9,
        resetsAt: DateTime.makeUnsafe(now + 3_600_000)
      },
      {
        limitId: "codex",
        kind: "weekly",
        windowMinutes: 10080,
        usedPercent: i * 4,
        resetsAt: DateTime.makeUnsafe(now + 86_400_000)
      }
    ])
  }
  yield* pool.block("bench-3", now + 3_600_000, "usage_limit_reached")
  for (let i = 0; i < policy.cooldown.failures; i++) yield* pool.failure("bench-5", "gpt-5.5")
  yield* pool.refresh
  const medium = { taskType: "coder", complexity: "medium" } as const
  const check = yield* router.plan(medium)
  yield* Console.log(
    `${check.attempts.length} attempts planned, ${check.skipped.length} candidates skipped (10 accounts, 20 rules; one blocked, one cooling down)`
  )
  // 1,000 conversations, their requests made beforehand (as a worker gets them, decoded from JSON).
  const keyed = Array.from(
    { length: 1000 },
    (_, i) => JSON.parse(JSON.stringify({ ...medium, promptCacheKey: `conversation-${i}` })) as typeof medium
  )
  let next = 0
  const sides: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
    ["select_model (a map lookup, the seed)", Effect.sync(() => selectModel("medium", "coder"))],
    ["Router.plan (medium coder, rule 19)", router.plan(medium)],
    ["Router.plan with a prompt cache key", Effect.suspend(() => router.plan(keyed[next++ % keyed.length]!))],
    ["Router.plan (no rule but the catch-all)", router.plan({ taskType: "other", complexity: "simple" })]
  ]
  // Warm-up (the JIT, and the database settling after the setup), then the sides take turns in
  // `rounds` rounds, each round starting one side further: the machine's drift falls on all alike.
  for (const [, call] of sides) {
    const until = performance.now() + (values.quick ? 200 : 500)
    while (performance.now() < until) for (let i = 0; i < 256; i++) yield* call
  }
  const before = yield* transactions
  const micros: Array<Array<number>> = sides.map(() => [])
  let planned = 0
  for (let round = 0; round < rounds; round++) {
    for (let turn = 0; turn < sides.length; turn++) {
      const index = (turn + round) % sides.length
      const call = sides[index]![1]
      const began = performance.now()
      const until = began + (seconds * 1000) / rounds
      let calls = 0
      while (performance.now() < until) {
        for (let i = 0; i < 256; i++) yield* call
        calls += 256
      }
      micros[index]!.push(((performance.now() - began) * 1000) / calls)
      if (index > 0) planned += calls
    }
  }
  // Every transaction of the database while the plans ran (the measuring query is one): what the
  // pool's steady state costs, its background included (LISTEN reloads, the in-flight report).
  const roundTrips = Math.max(0, (yield* transactions) - before - 1)
  const median = (times: Array<number>) => times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!
  const figures = micros.map(median)
  yield* Console.log(
    `sequential calls, ${seconds} s per side in ${rounds} rounds, one process (2 cores); median µs per call`
  )
  for (const [index, [name]] of sides.entries()) {
    yield* Console.log(`${name.padEnd(40)} ${figures[index]!.toFixed(2).padStart(8)} µs/call`)
  }
  yield* Console.log(
    ["plan", "plan with a key", "catch-all plan"]
      .map((name, i) => `${name}: ${(figures[i + 1]! - figures[0]!).toFixed(2)} µs added (goal ≤ 20)`)
      .join("\n")
  )
  yield* Console.log(
    `database round trips per plan: ${(roundTrips / planned).toFixed(5)} (${roundTrips} in all over ${planned} plans; goal 0)`
  )
  for (const [index, [name]] of sides.entries()) {
    if (index === 0) continue
    const added = figures[index]! - figures[0]!
    report.add({
      figure: name,
      value: figures[index]!,
      unit: "µs/plan",
      baseline: { name: "select_model (a map lookup)", value: figures[0]! },
      ratio: figures[index]! / figures[0]!,
      added,
      goal: "≤ 20 µs added",
      met: added <= 20
    })
  }
  report.add({
    figure: "Router.plan: database round trips per plan",
    value: roundTrips / planned,
    unit: "round trips",
    goal: "0 (< 0.001: background only)",
    met: roundTrips / planned < 0.001
  })
  report.write()
})

program.pipe(Effect.provide(Live), NodeRuntime.runMain)

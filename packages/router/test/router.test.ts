// The router against the emulator (several accounts on different plans) and a real database.
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { RecordedSpans } from "@nexus/testing"
import { Clock, Duration, Effect, Metric, Option, Stream } from "effect"
import { AccountPool } from "../src/AccountPool.ts"
import type { RouteRequest } from "../src/Route.ts"
import { fallbacks, planTime, routed as routedTurns, Router } from "../src/Router.ts"
import { defaults } from "../src/RoutingPolicy.ts"
import { Infrastructure, requestsByAccount, routerStack, shiftedClock, threeAccounts } from "./helpers.ts"

const conversation = (text: string) => ({ messages: [{ role: "user" as const, content: text }] })
const simple: RouteRequest = { taskType: "chat", complexity: "simple" }

const policy = { ...defaults, cooldown: { failures: 2, window: Duration.minutes(1), duration: Duration.seconds(1) } }

// Real time: the pool compares blocks and windows with the clock, and cooldowns end in real time.
layer(Infrastructure, { excludeTestServices: true, timeout: 120_000 })("the router against the emulator", (outer) => {
  outer.layer(routerStack(policy), { timeout: 120_000 })("one router", (it) => {
    it.effect(
      "an exhausted account's usage limit moves traffic to the others, blocked for the fleet until the reset",
      () =>
        Effect.gen(function* () {
          // a can serve one turn in its 5-hour window.
          const { a } = yield* threeAccounts({ primary: 1, secondary: 100 })
          const router = yield* Router
          const first = yield* router.execute(simple, conversation("one"))
          assert.strictEqual(first.route.served.accountId, a.id)
          // a's window is full (its answer said so, or its next one, a 429): the turn goes elsewhere.
          const second = yield* router.execute(simple, conversation("two"))
          assert.notStrictEqual(second.route.served.accountId, a.id)
          const skippedA = second.route.skipped.filter((skip) => skip.account === a.label)
          assert.isAbove(skippedA.length, 0)
          assert.oneOf(skippedA[0]!.reason, ["window_full", "usage_limit"])
          // From then on a is not asked at all.
          const before = (yield* requestsByAccount)[a.id] ?? 0
          const third = yield* router.execute(simple, conversation("three"))
          assert.notStrictEqual(third.route.served.accountId, a.id)
          assert.strictEqual((yield* requestsByAccount)[a.id] ?? 0, before)
        })
    )

    it.effect("a 429 usage_limit_reached blocks the account in Postgres and the turn is served by the next one", () =>
      Effect.gen(function* () {
        const { a, b } = yield* threeAccounts()
        const emulator = yield* Emulator.Emulator
        yield* emulator.injectFault({ kind: "usage_limit", account: a.id, times: 1 })
        const routed = yield* Effect.flatMap(Router, (router) => router.execute(simple, conversation("blocked")))
        assert.strictEqual(routed.route.served.accountId, b.id)
        assert.strictEqual(routed.route.attempts, 2)
        const skip = routed.route.skipped.find((entry) => entry.account === a.label)!
        assert.strictEqual(skip.reason, "usage_limit")
        assert.isAbove(skip.until!, Date.now())
        const sql = yield* PgClient.PgClient
        const rows = yield* sql<{ readonly account_id: string }>`SELECT account_id FROM nexus.account_blocks`
        assert.deepStrictEqual(
          rows.map((row) => row.account_id),
          [a.id]
        )
      })
    )

    it.effect(
      "every account exhausted: NoCandidate with the earliest reset; past the reset (emulator and router clocks advanced) traffic resumes",
      () =>
        Effect.gen(function* () {
          const { a, b, c } = yield* threeAccounts()
          const emulator = yield* Emulator.Emulator
          for (const account of [a, b, c])
            yield* emulator.updateAccount(account.id, { budget: { primary: 1, secondary: 100 } })
          const router = yield* Router
          for (let i = 0; i < 3; i++) yield* router.execute(simple, conversation(`use ${i}`))
          const error = yield* Effect.flip(router.execute(simple, conversation("none left")))
          assert.strictEqual(error._tag, "NoCandidate")
          if (error._tag !== "NoCandidate") return
          assert.isDefined(error.earliestUsable)
          const wait = error.earliestUsable! - Date.now()
          assert.isAbove(wait, 4 * 3_600_000)
          assert.isAtMost(wait, 5 * 3_600_000 + 60_000)
          assert.include(error.message, "becomes usable at")
          for (const account of [a, b, c]) {
            assert.isTrue(error.skipped.some((skip) => skip.account === account.label))
          }
          const past = Duration.sum(Duration.hours(5), Duration.minutes(1))
          yield* emulator.advanceClock(past)
          const later = yield* shiftedClock(past)
          const resumed = yield* router
            .execute(simple, conversation("after the reset"))
            .pipe(Effect.provideService(Clock.Clock, later))
          assert.include([a.id, b.id, c.id], resumed.route.served.accountId)
        })
    )

    it.effect(
      "repeated 5xx on (account, model) open a cooldown that skips it without a request, and it closes after its time",
      () =>
        Effect.gen(function* () {
          const { a, b } = yield* threeAccounts()
          const emulator = yield* Emulator.Emulator
          yield* emulator.injectFault({ kind: "server_error", account: a.id, times: 100 })
          const router = yield* Router
          // Two failed turns on a (each after the client's own two attempts): the cooldown opens.
          for (const text of ["first", "second"]) {
            const routed = yield* router.execute(simple, conversation(text))
            assert.strictEqual(routed.route.served.accountId, b.id)
            assert.strictEqual(routed.route.skipped.at(-1)?.reason, "failed")
          }
          const before = (yield* requestsByAccount)[a.id]
          const cooled = yield* router.execute(simple, conversation("third"))
          assert.strictEqual((yield* requestsByAccount)[a.id], before, "a cooling pair was asked")
          const skip = cooled.route.skipped.find((entry) => entry.account === a.label)!
          assert.strictEqual(skip.reason, "cooling_down")
          // Recorded for the fleet: every router skips the pair until the cooldown ends.
          const sql = yield* PgClient.PgClient
          const rows = yield* sql<{ readonly account_id: string; readonly model: string }>`
            SELECT account_id, model FROM nexus.model_cooldowns WHERE cooled_until > now()`
          assert.deepStrictEqual(
            rows.map((row) => [row.account_id, row.model]),
            [[a.id, "gpt-6-luna"]]
          )
          yield* emulator.clearFaults
          yield* Effect.sleep(Duration.millis(1100))
          const back = yield* router.execute(simple, conversation("fourth"))
          assert.strictEqual(back.route.served.accountId, a.id)
        })
    )

    it.effect("a conversation too long for a model moves to a model with a larger context window", () =>
      Effect.gen(function* () {
        const { a } = yield* threeAccounts()
        const emulator = yield* Emulator.Emulator
        yield* emulator.injectFault({
          kind: "response_failed",
          code: "context_length_exceeded",
          account: a.id,
          times: 1
        })
        const routed = yield* Effect.flatMap(Router, (router) =>
          router.execute({ ...simple, model: "gpt-5.5", account: a.label }, conversation("long"))
        ).pipe(Effect.flip)
        // Pinned to gpt-5.5: no larger model may be tried; the error is the caller's.
        assert.strictEqual(routed._tag, "ContextLengthExceeded")
        yield* emulator.injectFault({
          kind: "response_failed",
          code: "context_length_exceeded",
          account: a.id,
          times: 1
        })
        const larger = yield* Effect.flatMap(Router, (router) =>
          router.execute({ taskType: "long", complexity: "complex" }, conversation("long"))
        )
        assert.isAbove(larger.route.skipped.filter((skip) => skip.reason === "context_too_small").length, 0)
        assert.strictEqual(larger.route.served.model, "gpt-6.1-terra")
      })
    )

    it.effect(
      "an explicit model and an explicit account are honoured; a pinned account's usage limit is the caller's",
      () =>
        Effect.gen(function* () {
          const { b, c } = yield* threeAccounts()
          const router = yield* Router
          const pinned = yield* router.execute(
            { ...simple, model: "gpt-6-luna", account: c.label },
            conversation("pinned")
          )
          assert.strictEqual(pinned.route.served.model, "gpt-6-luna")
          assert.strictEqual(pinned.route.served.accountId, c.id)
          assert.strictEqual(pinned.result.model, "gpt-6-luna")
          const emulator = yield* Emulator.Emulator
          yield* emulator.injectFault({ kind: "usage_limit", account: b.id, times: 1 })
          const error = yield* Effect.flip(router.execute({ ...simple, account: b.label }, conversation("limit")))
          assert.strictEqual(error._tag, "UsageLimitReached")
          // Now known blocked: planning alone fails the same way, with the reset.
          const planned = yield* Effect.flip(router.plan({ ...simple, account: b.label }))
          assert.strictEqual(planned._tag, "UsageLimitReached")
        })
    )

    it.effect("InvalidRequest never falls back; a reauth_required account is skipped with that reason", () =>
      Effect.gen(function* () {
        const { a, b, c } = yield* threeAccounts()
        const emulator = yield* Emulator.Emulator
        yield* emulator.injectFault({ kind: "server_error", status: 400, account: a.id, times: 1 })
        const counts = yield* requestsByAccount
        const error = yield* Effect.flip(
          Effect.flatMap(Router, (router) => router.execute(simple, conversation("refused")))
        )
        assert.strictEqual(error._tag, "InvalidRequest")
        const after = yield* requestsByAccount
        assert.strictEqual(after[b.id] ?? 0, counts[b.id] ?? 0)
        assert.strictEqual(after[c.id] ?? 0, counts[c.id] ?? 0)

        const sql = yield* PgClient.PgClient
        yield* sql`UPDATE nexus.oauth_tokens SET status = 'reauth_required', status_reason = 'reused' WHERE account_id = ${a.id}`
        yield* (yield* AccountPool).refresh
        const plan = yield* Effect.flatMap(Router, (router) => router.plan(simple))
        assert.notInclude(
          plan.attempts.map((attempt) => attempt.accountId),
          a.id
        )
        const skip = plan.skipped.find((entry) => entry.account === a.label)!
        assert.strictEqual(skip.reason, "reauth_required")
        assert.include(skip.detail, "nexus login")
      })
    )

    it.effect(
      "observable: spans around the plan and each attempt (model, account, effort; never the prompt) and metrics by model, account, outcome and fallback reason",
      () =>
        Effect.gen(function* () {
          const { a, b } = yield* threeAccounts()
          const emulator = yield* Emulator.Emulator
          yield* emulator.injectFault({ kind: "usage_limit", account: a.id, times: 1 })
          const count = (metric: typeof routedTurns) => Effect.map(Metric.value(metric), (state) => state.count)
          const okOnB = Metric.withAttributes(routedTurns, { model: "gpt-6-luna", account: b.id, outcome: "ok" })
          const limitOnA = Metric.withAttributes(routedTurns, {
            model: "gpt-6-luna",
            account: a.id,
            outcome: "UsageLimitReached"
          })
          const usageFallbacks = Metric.withAttributes(fallbacks, { reason: "usage_limit" })
          const before = [yield* count(okOnB), yield* count(limitOnA), yield* count(usageFallbacks)]
          const plansBefore = (yield* Metric.value(planTime)).count
          const secret = "the prompt text must not reach a span"
          const { spans } = yield* RecordedSpans.withRecordedSpans(
            Effect.flatMap(Router, (router) => router.execute(simple, conversation(secret)))
          )
          assert.deepStrictEqual(
            [
              (yield* count(okOnB)) - before[0]!,
              (yield* count(limitOnA)) - before[1]!,
              (yield* count(usageFallbacks)) - before[2]!
            ],
            [1, 1, 1]
          )
          assert.isAbove((yield* Metric.value(planTime)).count, plansBefore)
          const named = (name: string) => spans.filter((span) => span.name === name)
          assert.lengthOf(named("Router.execute"), 1)
          assert.lengthOf(named("Router.plan"), 1)
          const attempts = named("Router.attempt")
          assert.deepStrictEqual(
            attempts.map((span) => [
              span.attributes.get("account"),
              span.attributes.get("model"),
              span.attributes.get("effort")
            ]),
            [
              [a.id, "gpt-6-luna", "low"],
              [b.id, "gpt-6-luna", "low"]
            ]
          )
          // Each attempt's client span is its child.
          const chats = named("CodexClient.chat")
          assert.lengthOf(chats, 2)
          assert.strictEqual(Option.getOrUndefined(chats[1]!.parent), attempts[1])
          for (const span of spans) {
            for (const value of span.attributes.values()) assert.notInclude(String(value), secret)
          }
        })
    )

    it.effect("requests in flight are reported for the fleet every few seconds, and drop when they end", () =>
      Effect.gen(function* () {
        const { a } = yield* threeAccounts()
        const pool = yield* AccountPool
        const inFlightOnA = Effect.map(pool.fleetInFlight, (fleet) => fleet.byAccount.get(a.id) ?? 0)
        const until = (expected: number) =>
          Effect.gen(function* () {
            const started = Date.now()
            while (Date.now() - started < 8_000) {
              if ((yield* inFlightOnA) === expected) return Date.now() - started
              yield* Effect.sleep("100 millis")
            }
            return assert.fail(`in flight on a never reached ${expected}`)
          })
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* pool.acquire(a.id)
            yield* pool.acquire(a.id)
            assert.isBelow(yield* until(2), 5_000)
          })
        )
        assert.isBelow(yield* until(0), 5_000)
      })
    )

    it.effect("stream: a RouteChosen, then the turn's events; fallback happens before any content", () =>
      Effect.gen(function* () {
        const { a, b } = yield* threeAccounts()
        const emulator = yield* Emulator.Emulator
        yield* emulator.injectFault({ kind: "usage_limit", account: a.id, times: 1 })
        const events = yield* Stream.runCollect(
          Stream.unwrap(Effect.map(Router, (router) => router.stream(simple, conversation("streamed"))))
        )
        assert.strictEqual(events[0]!._tag, "RouteChosen")
        const chosen = events[0]!
        if (chosen._tag === "RouteChosen") assert.strictEqual(chosen.route.served.accountId, b.id)
        assert.strictEqual(events.at(-1)!._tag, "Completed")
        assert.strictEqual(events.filter((event) => event._tag === "RouteChosen").length, 1)
      })
    )
  })
})

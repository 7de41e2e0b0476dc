// What the worker does with a failed turn: pure decisions, for every kind of failure.
import { assert, describe, it } from "@effect/vitest"
import { Errors } from "@nexus/provider-codex"
import { Route } from "@nexus/router"
import { Credentials } from "@nexus/token-store"
import { Duration } from "effect"
import { decide, deadlinePassed } from "../src/Disposition.ts"

const settings = { maxAttempts: 3, backoffBase: Duration.seconds(2), backoffMax: Duration.seconds(10) }
const now = 1_800_000_000_000
const at = (attempt: number, deadline?: number) => ({ now, attempt, deadline, settings })

const skip = (reason: Route.SkipReason, until?: number): Route.Skip => ({
  model: "gpt-5.5",
  account: "a",
  reason,
  detail: reason,
  ...(until === undefined ? {} : { until })
})

describe("Disposition.decide", () => {
  it("every account at its usage limit: wait until the earliest reset, whatever the attempt", () => {
    const error = Route.NoCandidate.fromSkipped([
      skip("usage_limit", now + 3_600_000),
      skip("window_full", now + 60_000)
    ])
    const decision = decide(error, at(9))
    assert.deepInclude(decision, { _tag: "Wait", until: now + 60_000, kind: "usage_limit" })
  })

  it("a usage limit whose reset is past the deadline: answered now, retryable, with the reset", () => {
    const error = Route.NoCandidate.fromSkipped([skip("usage_limit", now + 3_600_000)])
    const decision = decide(error, at(1, now + 60_000))
    assert.strictEqual(decision._tag, "Answer")
    if (decision._tag === "Answer") {
      assert.deepInclude(decision.failure, { tag: "NoCandidate", retryable: true, resetsAt: now + 3_600_000 })
    }
  })

  it("cooling down: back off, doubling, at least until the cooldown ends; then give up after the last attempt", () => {
    const cooling = Route.NoCandidate.fromSkipped([skip("cooling_down", now + 500)])
    assert.deepInclude(decide(cooling, at(1)), { _tag: "Wait", until: now + 2_000, kind: "backoff" })
    assert.deepInclude(decide(cooling, at(2)), { _tag: "Wait", until: now + 4_000 })
    const late = Route.NoCandidate.fromSkipped([skip("cooling_down", now + 30_000)])
    assert.deepInclude(decide(late, at(2)), { _tag: "Wait", until: now + 30_000 })
    const last = decide(cooling, at(3))
    assert.strictEqual(last._tag, "Answer")
    if (last._tag === "Answer") assert.isTrue(last.failure.retryable)
  })

  it("the backoff stops growing at its maximum", () => {
    const error = new Errors.UpstreamUnavailable({ reason: "server_error", detail: "500" })
    const decision = decide(error, { now, attempt: 8, deadline: undefined, settings: { ...settings, maxAttempts: 20 } })
    assert.deepInclude(decision, { _tag: "Wait", until: now + 10_000 })
  })

  it("a rate limit waits at least what the backend asked", () => {
    const error = new Errors.RateLimited({ detail: "slow down", retryAfter: Duration.seconds(7) })
    assert.deepInclude(decide(error, at(1)), { _tag: "Wait", until: now + 7_000 })
  })

  it("a backoff that would end past the deadline is answered now", () => {
    const error = new Errors.UpstreamUnavailable({ reason: "server_error", detail: "500" })
    assert.strictEqual(decide(error, at(1, now + 1_000))._tag, "Answer")
  })

  it("a reset already past is waited for no less than the first backoff", () => {
    const error = Route.NoCandidate.fromSkipped([skip("usage_limit", now - 60_000)])
    assert.deepInclude(decide(error, at(1)), { _tag: "Wait", until: now + 2_000, kind: "usage_limit" })
    const pinned = new Errors.UsageLimitReached({ account: "a", resetsAt: (now - 5_000) / 1000 })
    assert.deepInclude(decide(pinned, at(1)), { _tag: "Wait", until: now + 2_000 })
  })

  it("the pinned account's usage limit waits for its reset", () => {
    const error = new Errors.UsageLimitReached({ account: "a", resetsAt: (now + 120_000) / 1000 })
    assert.deepInclude(decide(error, at(4)), { _tag: "Wait", until: now + 120_000, kind: "usage_limit" })
  })

  it("permanent failures are answered at once, not retryable, saying what to do", () => {
    const signIn = Route.NoCandidate.fromSkipped([skip("reauth_required")])
    const refused = new Errors.InvalidRequest({ status: 400, detail: "bad tool schema" })
    const reauth = new Credentials.ReauthenticationRequired({
      account: "a",
      label: "work",
      reason: "refresh token reused"
    })
    for (const error of [signIn, refused, reauth]) {
      const decision = decide(error, at(1))
      assert.strictEqual(decision._tag, "Answer", error._tag)
      if (decision._tag === "Answer") assert.isFalse(decision.failure.retryable)
    }
    const decision = decide(reauth, at(1))
    if (decision._tag === "Answer") assert.include(decision.failure.message, "nexus login --label work")
  })

  it("a passed deadline says whether the turn had started", () => {
    assert.include(deadlinePassed(now, false).message, "before a worker could start it")
    assert.include(deadlinePassed(now, true).message, "before its turn finished")
  })
})

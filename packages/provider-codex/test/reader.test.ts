// The body reader and the wire-to-error mapping on their own, without a server: the cases a
// review found (a wake-up lost between "nothing buffered" and "wake me", an error body with one
// field of an unexpected type, Retry-After values that are not seconds).
import { assert, describe, it } from "@effect/vitest"
import { Duration } from "effect"
import { statusError } from "../src/internal/classify.ts"
import { readAnswer, TurnState, WAIT, type Owned, type Watch } from "../src/internal/turn.ts"
import * as Transport from "../src/internal/transport.ts"

const sse = (type: string, data: Record<string, unknown>) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`
const CREATED = sse("response.created", { response: { id: "resp_1" } })
const COMPLETED = sse("response.completed", {
  response: { id: "resp_1", usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 } }
})

/** A watch that only counts how often the reader starts and stops waiting. */
const countingWatch = () => {
  const counts = { waiting: 0, arrived: 0 }
  const watch: Watch = {
    waiting: () => void counts.waiting++,
    arrived: () => void counts.arrived++,
    onIdle: () => {},
    fired: false
  }
  return { watch, counts }
}

const answerOf = (body: Transport.Body): Transport.Answer => ({ status: 200, headers: {}, body })

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

describe("the body reader", () => {
  it("data and the end that arrive after next() said WAIT, but before onWake, still wake the reader", async () => {
    const body = new Transport.Body()
    const owned: Owned = []
    const answer = readAnswer(answerOf(body), new TurnState("acct"), owned, countingWatch().watch, Duration.minutes(5))
    assert.strictEqual(answer.next(), WAIT)
    // The last chunk and the end arrive while no one waits (the body calls back with no waiter).
    body.push(new TextEncoder().encode(CREATED + COMPLETED))
    body.finish()
    for (let i = 0; i < 5; i++) await tick()
    let woken = false
    answer.onWake(() => (woken = true))
    assert.isTrue(woken, "the reader slept through data that was already buffered")
    const events = answer.next()
    assert.isTrue(Array.isArray(events))
    assert.deepStrictEqual(
      (events as ReadonlyArray<{ _tag: string }>).map((event) => event._tag),
      ["Created", "Completed"]
    )
    for (const item of owned) item.destroy()
  })
})

describe("statusError", () => {
  it("a 429 usage limit whose code is a number is still a usage limit (not a retried rate limit)", () => {
    const error = statusError(
      429,
      {},
      JSON.stringify({
        error: { type: "usage_limit_reached", code: 429, plan_type: "plus", resets_at: 1_800_000_000 }
      }),
      "acct"
    )
    assert.strictEqual(error._tag, "UsageLimitReached")
    assert.strictEqual(error._tag === "UsageLimitReached" ? error.resetsAt : undefined, 1_800_000_000)
  })

  it("one field of an unexpected type does not hide the others", () => {
    const error = statusError(
      400,
      {},
      JSON.stringify({ error: { type: 5, code: "context_length_exceeded", message: "too long: 300k tokens" } }),
      "acct"
    )
    assert.strictEqual(error._tag, "ContextLengthExceeded")
    assert.include(error.message, "too long: 300k tokens")
  })

  it("Retry-After in seconds wins; an empty, negative or HTTP-date one falls back to the message", () => {
    const body = JSON.stringify({ error: { message: "Rate limit reached. Please try again in 20s." } })
    const delay = (header: string | undefined) => {
      const error = statusError(429, header === undefined ? {} : { "retry-after": header }, body, "acct")
      return error._tag === "RateLimited" && error.retryAfter !== undefined ? Duration.toMillis(error.retryAfter) : -1
    }
    assert.strictEqual(delay("3"), 3_000)
    assert.strictEqual(delay(""), 20_000)
    assert.strictEqual(delay("-1"), 20_000)
    assert.strictEqual(delay("Wed, 21 Oct 2026 07:28:00 GMT"), 20_000)
    assert.strictEqual(delay(undefined), 20_000)
  })
})

import { NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { TokenSet } from "@nexus/oauth"
import { TokenStore } from "@nexus/token-store"
import { Duration, Effect, Layer, Option, Stream } from "effect"
import type { ChatRequest } from "../src/ChatRequest.ts"
import { CodexClient } from "../src/CodexClient.ts"
import { ModelCatalog } from "../src/ModelCatalog.ts"
import { UsageWindows } from "../src/UsageWindows.ts"
import { withBackend } from "./helpers.ts"

const Live = withBackend((urls) =>
  CodexClient.layerNoDeps({ baseUrl: urls.codexBaseUrl, baseDelay: Duration.millis(10) }).pipe(
    Layer.provideMerge(UsageWindows.layer),
    Layer.provideMerge(ModelCatalog.layer({ baseUrl: urls.codexBaseUrl })),
    Layer.provide(NodeHttpClient.layerDispatcher)
  )
)

const request = (text: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: "gpt-5.5",
  messages: [{ role: "user", content: text }],
  ...extra
})

layer(Live, { excludeTestServices: true, timeout: 60_000 })("CodexClient against the emulator", (it) => {
  /** A fresh account signed in, and the emulator's counters before the test. */
  const setup = Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    yield* emulator.clearFaults
    const account = yield* emulator.addAccount({
      email: `c-${Math.random().toString(36).slice(2)}@example.com`,
      budget: { primary: 1e6, secondary: 1e6 }
    })
    yield* (yield* TokenStore.TokenStore).put(
      yield* TokenSet.fromTokenResponse(yield* emulator.issueTokens(account.id))
    )
    const responses = (yield* emulator.counters).requests.responses?.byAccount[account.id] ?? 0
    const requests = Effect.map(
      emulator.counters,
      (c) => (c.requests.responses?.byAccount[account.id] ?? 0) - responses
    )
    return { emulator, account: account.id, requests, client: yield* CodexClient }
  })

  it.effect(
    "chat sends the mapped request with the bearer, account and originator headers, and answers the finished text",
    () =>
      Effect.gen(function* () {
        const { client, account, emulator } = yield* setup
        const result = yield* client.chat(request("say hello", { temperature: 0.5 }), account)
        assert.strictEqual(result.text, "say hello")
        assert.isTrue(result.responseId.startsWith("resp_"))
        assert.isAbove(result.usage!.totalTokens, 0)
        assert.lengthOf(result.warnings, 1)
        const sent = Option.getOrThrow(yield* emulator.lastRequest("responses"))
        assert.isTrue(sent.headers.authorization!.startsWith("Bearer "))
        assert.strictEqual(sent.headers["chatgpt-account-id"], account)
        assert.strictEqual(sent.headers.originator, "codex_cli_rs")
        assert.strictEqual(sent.headers.accept, "text/event-stream")
        assert.isString(sent.headers["session-id"])
        const body = sent.body as Record<string, unknown>
        assert.strictEqual(body.store, false)
        assert.isString(body.instructions)
        assert.notProperty(body, "temperature")
      })
  )

  it.effect("every answer's usage windows are kept per account, classified by length, and on the result", () =>
    Effect.gen(function* () {
      const { client, account, emulator } = yield* setup
      yield* emulator.updateAccount(account, { budget: { primary: 4, secondary: 100 } })
      const result = yield* client.chat(request("count me"), account)
      const byKind = Object.fromEntries(result.rateLimits.map((w) => [w.kind, w]))
      assert.strictEqual(byKind.five_hour!.windowMinutes, 300)
      assert.strictEqual(byKind.five_hour!.usedPercent, 25)
      assert.strictEqual(byKind.weekly!.windowMinutes, 10080)
      const stored = yield* (yield* UsageWindows).get(account)
      assert.deepStrictEqual(
        stored.map((w) => [w.kind, w.usedPercent]),
        [
          ["five_hour", 25],
          ["weekly", 1]
        ]
      )
      // A 429 reports them too.
      yield* Effect.forEach([1, 2, 3], () => client.chat(request("more"), account))
      const limited = yield* Effect.flip(client.chat(request("one too many"), account))
      assert.strictEqual(limited._tag, "UsageLimitReached")
      const after = yield* (yield* UsageWindows).get(account)
      assert.strictEqual(after.find((w) => w.kind === "five_hour")!.usedPercent, 100)
    })
  )

  it.effect("stream yields text deltas then Completed", () =>
    Effect.gen(function* () {
      const { client, account } = yield* setup
      const events = yield* Stream.runCollect(client.stream(request("one two three"), account))
      const deltas = events.flatMap((e) => (e._tag === "TextDelta" ? [e.delta] : []))
      assert.strictEqual(deltas.join(""), "one two three")
      assert.strictEqual(events.at(-1)!._tag, "Completed")
    })
  )

  it.effect("a 401 is recovered once through Credentials, then the request succeeds", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "unauthorized", account })
      const result = yield* client.chat(request("after 401"), account)
      assert.strictEqual(result.text, "after 401")
      assert.strictEqual(yield* requests, 2)
      assert.strictEqual((yield* emulator.counters).refreshes.byRefreshReason.unauthorized_recovery, 1)
    })
  )

  it.effect("usage_limit_reached is UsageLimitReached with plan and reset, and is not retried", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "usage_limit", account })
      const error = yield* Effect.flip(client.chat(request("limited"), account))
      assert.strictEqual(error._tag, "UsageLimitReached")
      assert.isNumber(error._tag === "UsageLimitReached" ? error.resetsAt : undefined)
      assert.strictEqual(yield* requests, 1)
    })
  )

  it.effect("5xx answers are retried with backoff until one gets through", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "server_error", account, times: 2 })
      assert.strictEqual((yield* client.chat(request("eventually"), account)).text, "eventually")
      assert.strictEqual(yield* requests, 3)
    })
  )

  it.effect(
    "a stream cut before response.completed is retried by chat; a persistent one ends UpstreamUnavailable after 6 attempts",
    () =>
      Effect.gen(function* () {
        const { client, account, emulator, requests } = yield* setup
        yield* emulator.injectFault({ kind: "stream_cut", account, afterEvents: 3 })
        assert.strictEqual((yield* client.chat(request("cut once"), account)).text, "cut once")
        assert.strictEqual(yield* requests, 2)
        yield* emulator.injectFault({ kind: "stream_cut", account, afterEvents: 3, times: 10 })
        const error = yield* Effect.flip(client.chat(request("cut always"), account))
        assert.strictEqual(error._tag, "UpstreamUnavailable")
        assert.include(error.message, "response.completed")
        assert.strictEqual(yield* requests, 2 + 6)
      })
  )

  it.effect("a stream is never retried once a delta has reached the caller: no duplicated text", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "stream_cut", account, afterEvents: 6 })
      const seen: Array<string> = []
      const error = yield* Effect.flip(
        Stream.runForEach(client.stream(request("a b c d e f g h"), account), (event) =>
          Effect.sync(() => {
            if (event._tag === "TextDelta") seen.push(event.delta)
          })
        )
      )
      assert.strictEqual(error._tag, "UpstreamUnavailable")
      assert.isAbove(seen.length, 0)
      assert.strictEqual(yield* requests, 1)
    })
  )

  it.effect("context_length_exceeded inside the stream is ContextLengthExceeded, not retried", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "response_failed", account, code: "context_length_exceeded" })
      const error = yield* Effect.flip(client.chat(request("too long"), account))
      assert.strictEqual(error._tag, "ContextLengthExceeded")
      assert.strictEqual(yield* requests, 1)
    })
  )

  it.effect("a 429 with Retry-After is retried after that delay", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "rate_limit", account, retryAfterSeconds: 1 })
      const started = Date.now()
      assert.strictEqual((yield* client.chat(request("slow down"), account)).text, "slow down")
      assert.isAtLeast(Date.now() - started, 950)
      assert.strictEqual(yield* requests, 2)
    })
  )

  it.effect("a malformed event is a retryable failure: chat retries and succeeds", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "malformed_event", account, afterEvents: 2 })
      assert.strictEqual((yield* client.chat(request("malformed"), account)).text, "malformed")
      assert.strictEqual(yield* requests, 2)
    })
  )

  it.effect("a function call round trip: the call, then the tool's output answered with text", () =>
    Effect.gen(function* () {
      const { client, account } = yield* setup
      const tools = [{ name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } }]
      const first = yield* client.chat(request('call get_weather with {"city":"Paris"}', { tools }), account)
      assert.lengthOf(first.toolCalls, 1)
      assert.deepStrictEqual(JSON.parse(first.toolCalls[0]!.arguments), { city: "Paris" })
      const call = first.toolCalls[0]!
      const second = yield* client.chat(
        {
          model: "gpt-5.5",
          tools,
          messages: [
            { role: "user", content: 'call get_weather with {"city":"Paris"}' },
            {
              role: "assistant",
              content: "",
              toolCalls: [{ id: call.callId, name: call.name, arguments: call.arguments }]
            },
            { role: "tool", toolCallId: call.callId, content: "sunny" }
          ]
        },
        account
      )
      assert.include(second.text, "sunny")
    })
  )
})

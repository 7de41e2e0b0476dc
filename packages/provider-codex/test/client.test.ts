import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, layer } from "@effect/vitest"
import type { Domain } from "@nexus/codex-emulator"
import { TokenSet } from "@nexus/oauth"
import { Ports } from "@nexus/testing"
import { Context, Duration, Effect, Layer, Stream } from "effect"
import { CodexClient, type Settings } from "../src/CodexClient.ts"
import { UsageWindows } from "../src/UsageWindows.ts"
import { ClientLive, request, sent, setup } from "./helpers.ts"

layer(ClientLive, { excludeTestServices: true, timeout: 60_000 })("CodexClient against the emulator", (it) => {
  /** Injects `fault` for a fresh account; one chat then gets through on the 2nd request, no sooner than `atLeastMs`. */
  const retriedAfter = (fault: Omit<Domain.FaultRule, "account">, atLeastMs: number) =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ ...fault, account })
      const started = Date.now()
      assert.strictEqual((yield* client.chat(request("after a pause"), account)).text, "after a pause")
      assert.isAtLeast(Date.now() - started, atLeastMs)
      assert.strictEqual(yield* requests, 2)
    })

  /** Another client over the same Credentials, windows and catalog, with other settings. */
  const clientWith = (settings: Partial<Settings>) =>
    Effect.map(
      Layer.build(
        CodexClient.layerNoDeps({ baseDelay: Duration.millis(10), ...settings }).pipe(
          Layer.provide(NodeHttpClient.layerDispatcher)
        )
      ),
      (context) => Context.get(context, CodexClient)
    )

  it.effect(
    "chat sends the mapped request with the bearer, account and originator headers, and answers the finished text",
    () =>
      Effect.gen(function* () {
        const { client, account } = yield* setup
        const result = yield* client.chat(request("say hello", { temperature: 0.5 }), account)
        assert.strictEqual(result.text, "say hello")
        assert.isTrue(result.responseId.startsWith("resp_"))
        assert.isAbove(result.usage!.totalTokens, 0)
        assert.lengthOf(result.warnings, 1)
        const received = yield* sent
        assert.isTrue(received.headers.authorization!.startsWith("Bearer "))
        assert.strictEqual(received.headers["chatgpt-account-id"], account)
        assert.strictEqual(received.headers.originator, "codex_cli_rs")
        assert.strictEqual(received.headers.accept, "text/event-stream")
        assert.strictEqual(received.headers["content-type"], "application/json")
        assert.isUndefined(received.headers["content-encoding"])
        assert.isString(received.headers["session-id"])
        const body = received.body as Record<string, unknown>
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

  it.effect("a 401 that survives the recovery is Unauthorized, after exactly one retry", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "unauthorized", account, times: 2 })
      const error = yield* Effect.flip(client.chat(request("still refused"), account))
      assert.strictEqual(error._tag, "Unauthorized")
      assert.include(error.message, "nexus login")
      assert.strictEqual(yield* requests, 2)
    })
  )

  it.effect("an account that was never signed in fails with the store's error, before any request", () =>
    Effect.gen(function* () {
      const { client, requests } = yield* setup
      const error = yield* Effect.flip(
        client.chat(request("who?"), TokenSet.AccountId.make("00000000-0000-4000-8000-0000000000aa"))
      )
      assert.strictEqual(error._tag, "TokenNotFound")
      assert.strictEqual(yield* requests, 0)
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

  it.effect(
    "a stream that keeps failing before any content is retried a bounded number of times, showing nothing",
    () =>
      Effect.gen(function* () {
        const { client, account, emulator, requests } = yield* setup
        // Only response.created goes out before each cut.
        yield* emulator.injectFault({ kind: "stream_cut", account, afterEvents: 1, times: 20 })
        const seen: Array<string> = []
        const error = yield* Effect.flip(
          Stream.runForEach(client.stream(request("never"), account), (event) =>
            Effect.sync(() => void seen.push(event._tag))
          )
        )
        assert.strictEqual(error._tag, "UpstreamUnavailable")
        assert.strictEqual(yield* requests, 6)
        // Created was held back with the failed attempts: the caller saw none of them.
        assert.deepStrictEqual(seen, [])
      })
  )

  it.effect("a stream retried after a cut shows one Created, not one per attempt", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "stream_cut", account, afterEvents: 1, times: 2 })
      const events = yield* Stream.runCollect(client.stream(request("third time lucky"), account))
      assert.strictEqual(yield* requests, 3)
      assert.lengthOf(
        events.filter((event) => event._tag === "Created"),
        1
      )
      assert.strictEqual(
        events.flatMap((event) => (event._tag === "TextDelta" ? [event.delta] : [])).join(""),
        "third time lucky"
      )
    })
  )

  it.effect("a caller slower than the idle limit is not mistaken for an idle backend", () =>
    Effect.gen(function* () {
      const { account, emulator } = yield* setup
      const client = yield* clientWith({ baseUrl: emulator.urls.codexBaseUrl, idleTimeout: Duration.millis(400) })
      // The backend pauses (under the limit) after the first delta, so the reply is still coming
      // while the caller dwells on that delta for longer than the limit.
      yield* emulator.injectFault({ kind: "idle", account, afterEvents: 5, delayMs: 100 })
      let deltas = ""
      yield* Stream.runForEach(client.stream(request("one two three four five six"), account), (event) =>
        event._tag === "TextDelta"
          ? // The caller dwells on the first delta longer than the idle limit.
            Effect.andThen(
              deltas === "" ? Effect.sleep(Duration.millis(700)) : Effect.void,
              Effect.sync(() => void (deltas += event.delta))
            )
          : Effect.void
      )
      assert.strictEqual(deltas, "one two three four five six")
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
    retriedAfter({ kind: "rate_limit", retryAfterSeconds: 1 }, 950)
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

  it.effect("an unknown model fails with UnknownModel, listing the available ones, before any request", () =>
    Effect.gen(function* () {
      const { client, account, requests } = yield* setup
      const error = yield* Effect.flip(client.chat(request("hi", { model: "gpt-2" }), account))
      assert.strictEqual(error._tag, "UnknownModel")
      assert.include(error.message, "gpt-5.5")
      const streamed = yield* Effect.flip(Stream.runDrain(client.stream(request("hi", { model: "gpt-2" }), account)))
      assert.strictEqual(streamed._tag, "UnknownModel")
      assert.strictEqual(yield* requests, 0)
    })
  )

  it.effect("a seed's model name is sent as the current model it stands for, and the result names it", () =>
    Effect.gen(function* () {
      const { client, account } = yield* setup
      const result = yield* client.chat(request("aliased", { model: "gpt-5-codex" }), account)
      assert.strictEqual(result.model, "gpt-5.5")
      assert.strictEqual(((yield* sent).body as { model: string }).model, "gpt-5.5")
    })
  )

  it.effect("an effort the model cannot take is dropped with a warning; one it can take is sent", () =>
    Effect.gen(function* () {
      const { client, account } = yield* setup
      const dropped = yield* client.chat(request("minimal", { reasoningEffort: "minimal" }), account)
      assert.deepStrictEqual(dropped.warnings, [
        'reasoningEffort "minimal" is not supported by gpt-5.5 (it takes low, medium, high, xhigh); dropped'
      ])
      assert.notProperty((yield* sent).body as object, "reasoning")
      yield* client.chat(request("high", { reasoningEffort: "high" }), account)
      assert.deepStrictEqual(((yield* sent).body as { reasoning: unknown }).reasoning, { effort: "high" })
    })
  )

  it.effect("the answer's credits are on the result", () =>
    Effect.gen(function* () {
      const { client, account } = yield* setup
      const result = yield* client.chat(request("credits"), account)
      assert.deepStrictEqual(result.credits, { hasCredits: false, unlimited: false, balance: 0 })
    })
  )

  it.effect("with zstd on, the body goes compressed (content-encoding: zstd) and the backend reads it", () =>
    Effect.gen(function* () {
      const { account, emulator } = yield* setup
      const client = yield* clientWith({ baseUrl: emulator.urls.codexBaseUrl, zstd: true })
      assert.strictEqual((yield* client.chat(request("squeezed"), account)).text, "squeezed")
      const request_ = yield* sent
      assert.strictEqual(request_.headers["content-encoding"], "zstd")
      assert.strictEqual((request_.body as { model: string }).model, "gpt-5.5")
    })
  )

  it.effect("the originator is configurable, and the User-Agent names Nexus, its version and the originator", () =>
    Effect.gen(function* () {
      const { account, emulator } = yield* setup
      const client = yield* clientWith({ baseUrl: emulator.urls.codexBaseUrl, originator: "nexus_fleet" })
      yield* client.chat(request("who are you"), account)
      const headers = (yield* sent).headers
      assert.strictEqual(headers.originator, "nexus_fleet")
      assert.match(
        headers["user-agent"]!,
        /^nexus\/\d+\.\d+\.\d+ \(\S+ [^;]+; \S+\) node\/\d+\.\d+\.\d+ \(nexus_fleet\)$/
      )
    })
  )

  it.effect("a stream that goes idle ends UpstreamUnavailable after the idle limit, and is retried", () =>
    Effect.gen(function* () {
      const { account, emulator, requests } = yield* setup
      // A second long enough that, under a full CI run, the retry's headers arrive within it.
      const client = yield* clientWith({
        baseUrl: emulator.urls.codexBaseUrl,
        idleTimeout: Duration.seconds(1),
        attempts: 2
      })
      yield* emulator.injectFault({ kind: "idle", account, afterEvents: 2, times: 2 })
      const error = yield* Effect.flip(client.chat(request("silence"), account))
      assert.strictEqual(error._tag, "UpstreamUnavailable")
      assert.include(error.message, "idle")
      assert.strictEqual(yield* requests, 2)
    })
  )

  it.effect("a first byte slower than the idle limit is an idle failure too", () =>
    Effect.gen(function* () {
      const { account, emulator, requests } = yield* setup
      // A second long enough that, under a full CI run, the emulator has received the request (and
      // counted it) before the client gives up on its headers.
      const client = yield* clientWith({
        baseUrl: emulator.urls.codexBaseUrl,
        idleTimeout: Duration.seconds(1),
        attempts: 1
      })
      yield* emulator.injectFault({ kind: "slow_first_byte", account, delayMs: 5_000 })
      const started = Date.now()
      const error = yield* Effect.flip(client.chat(request("slow"), account))
      assert.include(error.message, "idle")
      assert.isBelow(Date.now() - started, 3_500)
      assert.strictEqual(yield* requests, 1)
    })
  )

  it.effect("a backend that cannot be reached is UpstreamUnavailable after every attempt", () =>
    Effect.gen(function* () {
      const { account } = yield* setup
      const port = yield* Effect.promise(() => Ports.freePort())
      const client = yield* clientWith({ baseUrl: `http://127.0.0.1:${port}/backend-api/codex`, attempts: 3 })
      const started = Date.now()
      const error = yield* Effect.flip(client.chat(request("anyone?"), account))
      assert.strictEqual(error._tag, "UpstreamUnavailable")
      assert.include(error.message, "no answer")
      assert.include(error.message, "ECONNREFUSED")
      // Two backoffs of ~10 ms and ~20 ms: bounded, never a hang.
      assert.isBelow(Date.now() - started, 2_000)
    })
  )

  it.effect("a 429 without Retry-After is retried after the message's 'try again in' delay", () =>
    retriedAfter({ kind: "rate_limit", retryAfterSeconds: 0.4, retryAfterHeader: false }, 380)
  )

  it.effect("a Retry-After longer than the limit is not waited for: RateLimited at once, with the delay", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "rate_limit", account, retryAfterSeconds: 600 })
      const error = yield* Effect.flip(client.chat(request("later"), account))
      assert.strictEqual(error._tag, "RateLimited")
      assert.deepStrictEqual(error._tag === "RateLimited" ? error.retryAfter : undefined, Duration.seconds(600))
      assert.strictEqual(yield* requests, 1)
    })
  )

  it.effect("rate_limit_exceeded inside the stream is retried after the delay its message asks for", () =>
    retriedAfter(
      {
        kind: "response_failed",
        code: "rate_limit_exceeded",
        message: "Rate limit reached for gpt-5.5. Please try again in 300ms."
      },
      280
    )
  )

  it.effect("a 400 is InvalidRequest and is not retried", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "server_error", account, status: 400 })
      const error = yield* Effect.flip(client.chat(request("bad"), account))
      assert.strictEqual(error._tag, "InvalidRequest")
      assert.strictEqual(yield* requests, 1)
    })
  )

  it.effect("503 overloaded and 502 bad gateway are retried", () =>
    Effect.gen(function* () {
      const { client, account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "overloaded", account })
      assert.strictEqual((yield* client.chat(request("busy"), account)).text, "busy")
      yield* emulator.injectFault({ kind: "bad_gateway", account })
      assert.strictEqual((yield* client.chat(request("gateway"), account)).text, "gateway")
      assert.strictEqual(yield* requests, 4)
    })
  )

  it.effect("events come in order: Created first, the deltas, the finished message, Completed last", () =>
    Effect.gen(function* () {
      const { client, account } = yield* setup
      const events = yield* Stream.runCollect(client.stream(request("in order please"), account))
      const tags = events.map((event) => event._tag)
      assert.strictEqual(tags[0], "Created")
      assert.strictEqual(tags.at(-1), "Completed")
      assert.isBelow(tags.lastIndexOf("TextDelta"), tags.indexOf("OutputItemDone"))
      const done = events.find((event) => event._tag === "OutputItemDone")!
      assert.deepStrictEqual(done._tag === "OutputItemDone" && done.item.type === "message" ? done.item.content : [], [
        { type: "output_text", text: "in order please", annotations: [] }
      ])
    })
  )

  it.effect("reasoning: summary deltas are streamed, chat gives the summary and an encrypted reasoning item", () =>
    Effect.gen(function* () {
      const { client, account } = yield* setup
      const ask = request("think first", { reasoningEffort: "low", reasoningSummary: "auto" })
      const events = yield* Stream.runCollect(client.stream(ask, account))
      const summary = events.flatMap((event) => (event._tag === "ReasoningSummaryDelta" ? [event.delta] : []))
      assert.isAbove(summary.length, 0)
      const reasoning = events.flatMap((event) =>
        event._tag === "OutputItemDone" && event.item.type === "reasoning" ? [event.item] : []
      )
      assert.lengthOf(reasoning, 1)
      assert.isString(reasoning[0]!.encrypted_content)
      assert.strictEqual(reasoning[0]!.summary.map((part) => part.text).join(""), summary.join(""))
      const result = yield* client.chat(ask, account)
      assert.strictEqual(result.reasoningSummary, summary.join(""))
      assert.isAbove(result.usage!.reasoningTokens, 0)
      assert.deepStrictEqual(((yield* sent).body as { include: unknown }).include, ["reasoning.encrypted_content"])
    })
  )

  it.effect("structured output: the text is JSON that satisfies the schema", () =>
    Effect.gen(function* () {
      const { client, account } = yield* setup
      const schema = {
        type: "object",
        properties: { city: { type: "string" }, population: { type: "integer", minimum: 1 } },
        required: ["city", "population"],
        additionalProperties: false
      }
      const result = yield* client.chat(
        request("the biggest city of France", { responseFormat: { name: "city", schema } }),
        account
      )
      const parsed = JSON.parse(result.text) as { city: unknown; population: unknown }
      assert.isString(parsed.city)
      assert.isTrue(Number.isInteger(parsed.population) && (parsed.population as number) >= 1)
      assert.deepStrictEqual(((yield* sent).body as { text: unknown }).text, {
        format: { type: "json_schema", name: "city", schema, strict: true }
      })
    })
  )

  it.effect("tool-call deltas carry the call id and name, and add up to the finished arguments", () =>
    Effect.gen(function* () {
      const { client, account } = yield* setup
      const tools = [{ name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } }]
      const events = yield* Stream.runCollect(
        client.stream(request('call get_weather with {"city":"Paris"}', { tools }), account)
      )
      const deltas = events.flatMap((event) => (event._tag === "ToolCallDelta" ? [event] : []))
      const done = events.flatMap((event) => (event._tag === "ToolCallDone" ? [event] : []))
      assert.lengthOf(done, 1)
      assert.isAbove(deltas.length, 0)
      assert.isTrue(deltas.every((delta) => delta.callId === done[0]!.callId && delta.name === "get_weather"))
      assert.strictEqual(deltas.map((delta) => delta.delta).join(""), done[0]!.arguments)
    })
  )

  it.effect("a caller that stops early aborts the request; the next turn on the client works", () =>
    Effect.gen(function* () {
      const { client, account } = yield* setup
      const first = yield* Stream.runCollect(
        client.stream(request("one two three four five six seven eight nine ten"), account).pipe(Stream.take(2))
      )
      assert.lengthOf(first, 2)
      assert.strictEqual((yield* client.chat(request("still here"), account)).text, "still here")
    })
  )
})

// The effect/ai LanguageModel over CodexClient, against the emulator (real HTTP) and a scratch database.
import { assert, describe, it as test, layer } from "@effect/vitest"
import type { TokenSet } from "@nexus/oauth"
import { Effect, Schema, Stream } from "effect"
import { type AiError, Chat, LanguageModel, Prompt, Tool, Toolkit } from "effect/ai"
import * as CodexLanguageModel from "../src/CodexLanguageModel.ts"
import { collect, PartsMapper } from "../src/internal/parts.ts"
import { ClientLive, sentBody, setup } from "./helpers.ts"

const GetWeather = Tool.make("GetWeather", {
  description: "The weather in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Struct({ city: Schema.String, celsius: Schema.Finite })
})

// Strict: the backend sends every property, null for an absent optional one.
const Convert = Tool.make("Convert", {
  parameters: Schema.Struct({ city: Schema.String, unit: Schema.optional(Schema.Literals(["C", "F"])) }),
  success: Schema.String
}).annotate(Tool.Strict, true)

const Weather = Toolkit.make(GetWeather)
const Units = Toolkit.make(Convert)

/** Runs `effect` on the Codex language model for `account` (gpt-5.5 unless said otherwise). */
const onCodex =
  (account: TokenSet.AccountId, config: Partial<CodexLanguageModel.Config> = {}) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.provide(effect, CodexLanguageModel.layer({ model: "gpt-5.5", account, ...config }))

/** The input items of the last /responses request. */
const sentInput = Effect.map(sentBody, (body) => body.input as ReadonlyArray<Record<string, unknown>>)

const reasonOf = (error: AiError.AiError) => error.reason

layer(ClientLive, { excludeTestServices: true, timeout: 60_000 })("CodexLanguageModel against the emulator", (it) => {
  it.effect("generateText answers the text, the usage, a stop finish and the served model behind an alias", () =>
    Effect.gen(function* () {
      const { account } = yield* setup
      const response = yield* LanguageModel.generateText({ prompt: "say hello" }).pipe(
        onCodex(account, { model: "gpt-4o" })
      )
      assert.strictEqual(response.text, "say hello")
      assert.strictEqual(response.finishReason, "stop")
      assert.isAbove(response.usage.inputTokens.total ?? 0, 0)
      assert.isAbove(response.usage.outputTokens.total ?? 0, 0)
      assert.strictEqual(response.usage.inputTokens.cacheRead, 0)
      const metadata = response.content.find((part) => part.type === "response-metadata")
      assert.isTrue(metadata?.id?.startsWith("resp_"))
      assert.strictEqual(metadata?.modelId, "gpt-5.5")
      assert.isDefined(metadata?.timestamp)
      assert.strictEqual((yield* sentBody).model, "gpt-5.5")
    })
  )

  it.effect("streamText streams the text in several deltas between a start and an end, then the finish", () =>
    Effect.gen(function* () {
      const { account } = yield* setup
      const parts = yield* Stream.runCollect(LanguageModel.streamText({ prompt: "one two three four" })).pipe(
        onCodex(account)
      )
      const deltas = parts.flatMap((part) => (part.type === "text-delta" ? [part.delta] : []))
      assert.isAtLeast(deltas.length, 2)
      assert.strictEqual(deltas.join(""), "one two three four")
      const kinds = parts.map((part) => part.type)
      assert.strictEqual(kinds[0], "response-metadata")
      assert.isBelow(kinds.indexOf("text-start"), kinds.indexOf("text-delta"))
      assert.isBelow(kinds.lastIndexOf("text-delta"), kinds.indexOf("text-end"))
      const finish = parts.at(-1)
      assert.strictEqual(finish?.type, "finish")
      assert.strictEqual(finish?.type === "finish" ? finish.reason : undefined, "stop")
    })
  )

  it.effect("a reasoning summary streams as reasoning parts and comes whole with generateText", () =>
    Effect.gen(function* () {
      const { account } = yield* setup
      const parts = yield* Stream.runCollect(LanguageModel.streamText({ prompt: "think first" })).pipe(
        onCodex(account, { reasoningSummary: "auto" })
      )
      const kinds = parts.map((part) => part.type)
      assert.includeMembers(kinds, ["reasoning-start", "reasoning-delta", "reasoning-end"])
      assert.isBelow(kinds.indexOf("reasoning-end"), kinds.indexOf("text-start"))
      const response = yield* LanguageModel.generateText({ prompt: "think first" }).pipe(
        onCodex(account, { reasoningSummary: "auto" })
      )
      assert.include(response.reasoningText ?? "", "Considering the request")
      assert.strictEqual(response.text, "think first")
    })
  )

  it.effect("generateObject decodes the JSON the backend returns for a strict schema", () =>
    Effect.gen(function* () {
      const { account } = yield* setup
      const Trip = Schema.Struct({ city: Schema.String, days: Schema.Int, note: Schema.optional(Schema.String) })
      const response = yield* LanguageModel.generateObject({
        prompt: "plan a trip",
        schema: Trip,
        objectName: "acme/Trip"
      }).pipe(onCodex(account))
      assert.deepStrictEqual(response.value, { city: "plan a trip", days: 11, note: "plan a trip" })
      const format = ((yield* sentBody).text as { format: Record<string, unknown> }).format
      assert.strictEqual(format.type, "json_schema")
      assert.strictEqual(format.name, "acme_Trip")
      assert.strictEqual(format.strict, true)
      const schema = format.schema as { required: ReadonlyArray<string>; additionalProperties: boolean }
      // Strict structured outputs: every property required, no others.
      assert.sameMembers([...schema.required], ["city", "days", "note"])
      assert.strictEqual(schema.additionalProperties, false)
    })
  )

  it.effect(
    "a tool call runs the Toolkit's handler with the decoded parameters, and the next turn gets its result",
    () =>
      Effect.gen(function* () {
        const { account } = yield* setup
        const seen: Array<{ readonly city: string }> = []
        const handlers = Weather.toLayer({
          GetWeather: (params) => Effect.sync(() => (seen.push(params), { city: params.city, celsius: 21 }))
        })
        const ask = 'call GetWeather with {"city":"Paris"}'
        const first = yield* LanguageModel.generateText({ prompt: ask, toolkit: Weather }).pipe(
          Effect.provide(handlers),
          onCodex(account)
        )
        assert.deepStrictEqual(seen, [{ city: "Paris" }])
        assert.strictEqual(first.finishReason, "tool-calls")
        assert.strictEqual(first.toolCalls[0]?.name, "GetWeather")
        assert.deepStrictEqual(first.toolResults[0]?.result, { city: "Paris", celsius: 21 })
        const tool = ((yield* sentBody).tools as ReadonlyArray<Record<string, unknown>>)[0]!
        assert.strictEqual(tool.name, "GetWeather")
        assert.strictEqual(tool.description, "The weather in a city")
        assert.strictEqual(tool.strict, false)
        assert.deepStrictEqual((tool.parameters as { required: unknown }).required, ["city"])

        const history = Prompt.fromMessages([
          ...Prompt.make(ask).content,
          ...Prompt.fromResponseParts(first.content).content
        ])
        const second = yield* LanguageModel.generateText({ prompt: history, toolkit: Weather }).pipe(
          Effect.provide(handlers),
          onCodex(account)
        )
        assert.strictEqual(second.text, 'GetWeather returned: {"city":"Paris","celsius":21}')
        assert.strictEqual(second.finishReason, "stop")
        assert.lengthOf(seen, 1)
        const input = yield* sentInput
        const call = input.find((item) => item.type === "function_call")!
        assert.strictEqual(call.name, "GetWeather")
        assert.deepStrictEqual(JSON.parse(call.arguments as string), { city: "Paris" })
        const output = input.find((item) => item.type === "function_call_output")!
        assert.strictEqual(output.call_id, call.call_id)
      })
  )

  it.effect("a Chat calls the tool, keeps its result and answers with it on the next turn", () =>
    Effect.gen(function* () {
      const { account } = yield* setup
      const answer = yield* Effect.gen(function* () {
        const chat = yield* Chat.fromPrompt([{ role: "user", content: 'call GetWeather with {"city":"Lima"}' }])
        const tools = yield* Weather
        const turns: Array<string> = []
        for (let turn = 0; turn < 3; turn++) {
          const response = yield* chat.generateText({ prompt: [], toolkit: tools })
          turns.push(response.finishReason)
          if (response.toolCalls.length === 0) return { text: response.text, turns }
        }
        return { text: "", turns }
      }).pipe(
        Effect.provide(Weather.toLayer({ GetWeather: ({ city }) => Effect.succeed({ city, celsius: 18 }) })),
        onCodex(account)
      )
      assert.deepStrictEqual(answer, {
        text: 'GetWeather returned: {"city":"Lima","celsius":18}',
        turns: ["tool-calls", "stop"]
      })
    })
  )

  it.effect("a strict tool's call comes back in the tool's own shape: a null optional parameter is absent", () =>
    Effect.gen(function* () {
      const { account, emulator } = yield* setup
      yield* emulator.setReplies([
        { match: "convert please", toolCall: { name: "Convert", arguments: '{"city":"Oslo","unit":null}' } }
      ])
      const seen: Array<unknown> = []
      const response = yield* LanguageModel.generateText({ prompt: "convert please", toolkit: Units }).pipe(
        Effect.provide(Units.toLayer({ Convert: (params) => Effect.sync(() => (seen.push(params), "done")) })),
        onCodex(account),
        Effect.ensuring(emulator.setReplies([]))
      )
      assert.deepStrictEqual(seen, [{ city: "Oslo" }])
      assert.strictEqual(response.toolResults[0]?.result, "done")
      const tool = ((yield* sentBody).tools as ReadonlyArray<Record<string, unknown>>)[0]!
      assert.strictEqual(tool.strict, true)
      const parameters = tool.parameters as { required: ReadonlyArray<string>; additionalProperties: boolean }
      assert.sameMembers([...parameters.required], ["city", "unit"])
      assert.strictEqual(parameters.additionalProperties, false)
    })
  )

  it.effect("user images reach the wire as input_image: bytes as a data: URL, a URL as it is", () =>
    Effect.gen(function* () {
      const { account } = yield* setup
      const response = yield* LanguageModel.generateText({
        prompt: [
          {
            role: "user",
            content: [
              { type: "text", text: "what is in these?" },
              { type: "file", mediaType: "image/png", data: new Uint8Array([137, 80, 78, 71]) },
              { type: "file", mediaType: "image/jpeg", data: new URL("https://example.com/cat.jpg") }
            ]
          }
        ]
      }).pipe(onCodex(account))
      assert.strictEqual(response.text, "what is in these?")
      assert.deepStrictEqual((yield* sentInput)[0], {
        type: "message",
        role: "user",
        content: [
          { type: "input_text", text: "what is in these?" },
          { type: "input_image", image_url: "data:image/png;base64,iVBORw==" },
          { type: "input_image", image_url: "https://example.com/cat.jpg" }
        ]
      })
    })
  )

  it.effect("system messages go as developer messages, and withConfigOverride changes one call's settings", () =>
    Effect.gen(function* () {
      const { account } = yield* setup
      yield* LanguageModel.generateText({
        prompt: [
          { role: "system", content: "Be terse." },
          { role: "user", content: "hi" }
        ]
      }).pipe(
        CodexLanguageModel.withConfigOverride({ instructions: "You are a test.", reasoningEffort: "high" }),
        onCodex(account, { instructions: "You are the default.", reasoningEffort: "low" })
      )
      const body = yield* sentBody
      assert.strictEqual(body.instructions, "You are a test.")
      assert.deepStrictEqual(body.reasoning, { effort: "high" })
      assert.deepStrictEqual((yield* sentInput)[0], {
        type: "message",
        role: "developer",
        content: [{ type: "input_text", text: "Be terse." }]
      })
      yield* LanguageModel.generateText({ prompt: "again" }).pipe(
        onCodex(account, { instructions: "You are the default." })
      )
      assert.strictEqual((yield* sentBody).instructions, "You are the default.")
    })
  )

  it.effect("a usage limit is a QuotaExhaustedError with its reset and the Codex message, from both calls", () =>
    Effect.gen(function* () {
      const { account, emulator, requests } = yield* setup
      yield* emulator.injectFault({ kind: "usage_limit", account, times: 2 })
      const generated = yield* Effect.flip(LanguageModel.generateText({ prompt: "limited" }).pipe(onCodex(account)))
      const streamed = yield* Effect.flip(
        Stream.runCollect(LanguageModel.streamText({ prompt: "limited" })).pipe(onCodex(account))
      )
      for (const [error, method] of [
        [generated, "generateText"],
        [streamed, "streamText"]
      ] as const) {
        assert.strictEqual(error.module, "CodexLanguageModel")
        assert.strictEqual(error.method, method)
        const reason = reasonOf(error)
        assert.strictEqual(reason._tag, "QuotaExhaustedError")
        if (reason._tag !== "QuotaExhaustedError") return
        assert.isDefined(reason.resetAt)
        assert.isFalse(error.isRetryable)
        const codex = reason.metadata.codex as { error: string; message: string }
        assert.strictEqual(codex.error, "UsageLimitReached")
        assert.include(codex.message, "usage limit")
      }
      assert.strictEqual(yield* requests, 2)
    })
  )

  it.effect("a sign-in refused even after recovery is an AuthenticationError", () =>
    Effect.gen(function* () {
      const { account, emulator } = yield* setup
      yield* emulator.injectFault({ kind: "unauthorized", account, times: 2 })
      const error = yield* Effect.flip(LanguageModel.generateText({ prompt: "who am I" }).pipe(onCodex(account)))
      const reason = reasonOf(error)
      assert.strictEqual(reason._tag, "AuthenticationError")
      assert.strictEqual(reason._tag === "AuthenticationError" ? reason.kind : undefined, "InvalidKey")
      assert.include(error.message, "nexus login")
    })
  )

  it.effect("provider-defined tools and non-image files are refused before any request", () =>
    Effect.gen(function* () {
      const { account, requests } = yield* setup
      const WebSearch = Tool.providerDefined({
        id: "openai.web_search",
        customName: "WebSearch",
        providerName: "web_search",
        args: Schema.Struct({})
      })({})
      const refusedTool = yield* Effect.flip(
        LanguageModel.generateText({ prompt: "search", toolkit: Toolkit.make(WebSearch) }).pipe(onCodex(account))
      )
      assert.strictEqual(reasonOf(refusedTool)._tag, "ToolConfigurationError")
      assert.include(refusedTool.message, "WebSearch")
      const refusedFile = yield* Effect.flip(
        LanguageModel.generateText({
          prompt: [{ role: "user", content: [{ type: "file", mediaType: "application/pdf", data: "JVBERi0=" }] }]
        }).pipe(onCodex(account))
      )
      assert.strictEqual(reasonOf(refusedFile)._tag, "InvalidRequestError")
      assert.include(refusedFile.message, "application/pdf")
      assert.strictEqual(yield* requests, 0)
    })
  )
})

// Pure mapping: what the emulator never sends (its turns always stream deltas).
describe("the events → parts mapping", () => {
  const mapped = (...batches: ReadonlyArray<Parameters<PartsMapper["add"]>[0]>) => {
    const mapper = new PartsMapper(() => 0)
    return batches.flatMap((batch) => mapper.add(batch))
  }

  test("a message, a summary and a call that finish without deltas come whole, each call once", () => {
    const parts = mapped(
      [
        { _tag: "Serving", model: "gpt-5.5" },
        { _tag: "Created", responseId: "resp_1" }
      ],
      [
        {
          _tag: "OutputItemDone",
          item: { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "Hm." }] }
        },
        {
          _tag: "OutputItemDone",
          item: { type: "message", id: "msg_1", role: "assistant", content: [{ type: "output_text", text: "Hi." }] }
        },
        { _tag: "ToolCallDone", callId: "call_1", name: "lookup", arguments: '{"q":1}', itemId: "fc_1" },
        {
          _tag: "OutputItemDone",
          item: { type: "function_call", id: "fc_1", call_id: "call_1", name: "lookup", arguments: '{"q":1}' }
        },
        {
          _tag: "Completed",
          responseId: "resp_1",
          usage: { inputTokens: 10, cachedTokens: 4, outputTokens: 5, reasoningTokens: 2, totalTokens: 15 }
        }
      ]
    )
    assert.deepStrictEqual(collect(parts), [
      { type: "response-metadata", id: "resp_1", modelId: "gpt-5.5", timestamp: "1970-01-01T00:00:00.000Z" },
      { type: "reasoning", text: "Hm." },
      { type: "text", text: "Hi." },
      { type: "tool-call", id: "call_1", name: "lookup", params: { q: 1 }, providerExecuted: false },
      {
        type: "finish",
        reason: "tool-calls",
        usage: {
          inputTokens: { uncached: 6, total: 10, cacheRead: 4 },
          outputTokens: { total: 5, text: 3, reasoning: 2 }
        }
      }
    ])
    assert.deepStrictEqual(
      parts.filter((part) => part.type.startsWith("tool-params")).map((part) => part.type),
      ["tool-params-start", "tool-params-delta", "tool-params-end"]
    )
  })

  test("streamed text ends with its item, and arguments that are not JSON go as their text", () => {
    const parts = mapped([
      { _tag: "TextDelta", itemId: "msg_1", delta: "Hel" },
      { _tag: "TextDelta", itemId: "msg_1", delta: "lo" },
      {
        _tag: "OutputItemDone",
        item: { type: "message", id: "msg_1", role: "assistant", content: [{ type: "output_text", text: "Hello" }] }
      },
      { _tag: "ToolCallDelta", callId: "call_1", name: "lookup", delta: "{oops", itemId: "fc_1" },
      { _tag: "ToolCallDone", callId: "call_1", name: "lookup", arguments: "{oops", itemId: "fc_1" }
    ])
    assert.deepStrictEqual(
      parts.map((part) => part.type),
      [
        "text-start",
        "text-delta",
        "text-delta",
        "text-end",
        "tool-params-start",
        "tool-params-delta",
        "tool-params-end",
        "tool-call"
      ]
    )
    assert.deepStrictEqual(collect(parts).slice(0, 1), [{ type: "text", text: "Hello" }])
    const call = parts.at(-1)
    assert.strictEqual(call?.type === "tool-call" ? call.params : undefined, "{oops")
  })
})

// One test per mapping rule (protocol §6.3, §12): each request goes through CodexClient to the
// emulator, in strict mode, and the test reads the request the emulator received.
import { assert, describe, it as unit, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { ChatRequest } from "../src/ChatRequest.ts"
import { ClientLive, request, sent, sentBody, setup } from "./helpers.ts"

/** Sends `extra` over a one-message request and answers the body the emulator received. */
const send = (extra: Partial<ChatRequest>) =>
  Effect.gen(function* () {
    const { client, account } = yield* setup
    const result = yield* client.chat(request("hi", extra), account)
    return { body: yield* sentBody, result }
  })

layer(ClientLive, { excludeTestServices: true, timeout: 60_000 })(
  "request mapping, as the backend receives it",
  (it) => {
    it.effect("store is false, stream is true, and instructions are always present (the default when not given)", () =>
      Effect.gen(function* () {
        const { body } = yield* send({})
        assert.strictEqual(body.store, false)
        assert.strictEqual(body.stream, true)
        assert.strictEqual(body.instructions, "You are a helpful assistant.")
        assert.strictEqual((yield* send({ instructions: "Be brief." })).body.instructions, "Be brief.")
      })
    )

    it.effect("system and developer messages become developer messages; there is never a system role", () =>
      Effect.gen(function* () {
        const { body } = yield* send({
          messages: [
            { role: "system", content: "rules" },
            { role: "developer", content: "more rules" },
            { role: "user", content: "hi" }
          ]
        })
        assert.deepStrictEqual(body.input, [
          { type: "message", role: "developer", content: [{ type: "input_text", text: "rules" }] },
          { type: "message", role: "developer", content: [{ type: "input_text", text: "more rules" }] },
          { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }
        ])
      })
    )

    it.effect("assistant text is output_text; tool calls and results are function_call and function_call_output", () =>
      Effect.gen(function* () {
        const { body } = yield* send({
          tools: [{ name: "get_weather", parameters: { type: "object", properties: {} } }],
          messages: [
            { role: "user", content: "weather?" },
            {
              role: "assistant",
              content: "",
              toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' }]
            },
            { role: "tool", toolCallId: "call_1", content: "sunny" },
            { role: "assistant", content: "It is sunny." },
            { role: "user", content: "thanks" }
          ]
        })
        assert.deepStrictEqual((body.input as Array<unknown>).slice(1, 4), [
          { type: "function_call", call_id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
          { type: "function_call_output", call_id: "call_1", output: "sunny" },
          { type: "message", role: "assistant", content: [{ type: "output_text", text: "It is sunny." }] }
        ])
      })
    )

    it.effect("images are input_image parts", () =>
      Effect.gen(function* () {
        const { body } = yield* send({
          messages: [
            {
              role: "user",
              content: [
                { type: "text", text: "what is this?" },
                { type: "image", url: "data:image/png;base64,iVBORw0KGgo=" }
              ]
            }
          ]
        })
        assert.deepStrictEqual((body.input as Array<{ content: unknown }>)[0]!.content, [
          { type: "input_text", text: "what is this?" },
          { type: "input_image", image_url: "data:image/png;base64,iVBORw0KGgo=" }
        ])
      })
    )

    it.effect("reasoning carries effort and summary, and asks for the encrypted content", () =>
      Effect.gen(function* () {
        const { body } = yield* send({ reasoningEffort: "high", reasoningSummary: "auto" })
        assert.deepStrictEqual(body.reasoning, { effort: "high", summary: "auto" })
        assert.deepStrictEqual(body.include, ["reasoning.encrypted_content"])
        const plain = (yield* send({})).body
        assert.notProperty(plain, "reasoning")
        assert.notProperty(plain, "include")
      })
    )

    it.effect("verbosity and structured output go under text", () =>
      Effect.gen(function* () {
        const schema = {
          type: "object",
          properties: { answer: { type: "string" } },
          required: ["answer"],
          additionalProperties: false
        }
        const { body, result } = yield* send({ verbosity: "low", responseFormat: { name: "answer", schema } })
        assert.deepStrictEqual(body.text, {
          verbosity: "low",
          format: { type: "json_schema", name: "answer", schema, strict: true }
        })
        assert.isString((JSON.parse(result.text) as { answer: unknown }).answer)
      })
    )

    it.effect("function tools, tool_choice and parallel_tool_calls", () =>
      Effect.gen(function* () {
        const tools = [{ name: "get_weather", description: "Weather", parameters: { type: "object", properties: {} } }]
        const auto = (yield* send({ tools })).body
        assert.deepStrictEqual(auto.tools, [
          {
            type: "function",
            name: "get_weather",
            description: "Weather",
            strict: false,
            parameters: { type: "object", properties: {} }
          }
        ])
        assert.strictEqual(auto.tool_choice, "auto")
        assert.strictEqual(auto.parallel_tool_calls, false)
        const chosen = (yield* send({ tools, toolChoice: { name: "get_weather" }, parallelToolCalls: true })).body
        assert.deepStrictEqual(chosen.tool_choice, { type: "function", name: "get_weather" })
        assert.strictEqual(chosen.parallel_tool_calls, true)
        const none = (yield* send({})).body
        assert.notProperty(none, "tools")
        assert.notProperty(none, "tool_choice")
      })
    )

    it.effect("the conversation id becomes prompt_cache_key", () =>
      Effect.gen(function* () {
        assert.strictEqual((yield* send({ conversationId: "conv-1" })).body.prompt_cache_key, "conv-1")
      })
    )

    it.effect("options the backend refuses are dropped with a warning, never sent and never a failure", () =>
      Effect.gen(function* () {
        const { body, result } = yield* send({ temperature: 0.2, topP: 0.9, maxOutputTokens: 100 })
        assert.notProperty(body, "temperature")
        assert.notProperty(body, "top_p")
        assert.notProperty(body, "max_output_tokens")
        assert.lengthOf(result.warnings, 3)
        assert.include(result.warnings[0]!, "temperature")
        assert.strictEqual(result.text, "hi")
      })
    )

    it.effect("headers: bearer, account, originator, session id, accept and content type", () =>
      Effect.gen(function* () {
        const { client, account } = yield* setup
        yield* client.chat(request("headers"), account)
        const first = (yield* sent).headers
        yield* client.chat(request("again"), account)
        const second = (yield* sent).headers
        assert.match(first.authorization!, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/)
        assert.strictEqual(first["chatgpt-account-id"], account)
        assert.strictEqual(first.originator, "codex_cli_rs")
        assert.strictEqual(first.accept, "text/event-stream")
        assert.strictEqual(first["content-type"], "application/json")
        assert.match(first["session-id"]!, /^[0-9a-f-]{36}$/)
        // One session id per client, as the Codex CLI keeps one per thread.
        assert.strictEqual(second["session-id"], first["session-id"])
      })
    )
  }
)

describe("ChatRequest as a Schema", () => {
  unit.effect(
    "a request as JSON (a queue message) decodes to what the client takes, and encodes back to the same JSON",
    () =>
      Effect.gen(function* () {
        const json = JSON.stringify({
          model: "gpt-5.5",
          messages: [
            { role: "system", content: "be brief" },
            { role: "user", content: [{ type: "text", text: "hi" }] },
            { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "f", arguments: "{}" }] },
            { role: "tool", content: "42", toolCallId: "c1" }
          ],
          tools: [{ name: "f", parameters: { type: "object" } }],
          toolChoice: { name: "f" },
          reasoningEffort: "max"
        })
        const decoded = yield* Schema.decodeUnknownEffect(Schema.fromJsonString(ChatRequest))(json)
        assert.strictEqual(decoded.messages.length, 4)
        assert.deepStrictEqual(decoded.toolChoice, { name: "f" })
        assert.deepStrictEqual(yield* Schema.encodeEffect(ChatRequest)(decoded), JSON.parse(json))
      })
  )

  unit.effect("a malformed request is refused with the path of what is wrong", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Schema.decodeUnknownEffect(ChatRequest)({ model: "gpt-5.5", messages: [{ role: "robot", content: "hi" }] })
      )
      assert.include(error.message, "role")
      const missing = yield* Effect.flip(Schema.decodeUnknownEffect(ChatRequest)({ messages: [] }))
      assert.include(missing.message, "model")
    })
  )
})

import { assert, describe, it as vitest, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { Effect } from "effect"
import { type ChatRequest, toResponsesBody } from "../src/ChatRequest.ts"

const DEFAULTS = { instructions: "You are a helpful assistant." }
const map = (request: Partial<ChatRequest>) =>
  toResponsesBody({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], ...request }, DEFAULTS)

describe("request mapping (protocol §6.3, §12)", () => {
  vitest("store is false, stream is true, and instructions are always present (the default when not given)", () => {
    const { body } = map({})
    assert.strictEqual(body.store, false)
    assert.strictEqual(body.stream, true)
    assert.strictEqual(body.instructions, DEFAULTS.instructions)
    assert.strictEqual(map({ instructions: "Be brief." }).body.instructions, "Be brief.")
  })

  vitest("system and developer messages become developer messages; there is never a system role", () => {
    const { body } = map({
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

  vitest("assistant text is output_text; tool calls and results are function_call and function_call_output", () => {
    const { body } = map({
      messages: [
        { role: "user", content: "weather?" },
        {
          role: "assistant",
          content: "",
          toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' }]
        },
        { role: "tool", toolCallId: "call_1", content: "sunny" },
        { role: "assistant", content: "It is sunny." }
      ]
    })
    assert.deepStrictEqual((body.input as Array<unknown>).slice(1), [
      { type: "function_call", call_id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
      { type: "function_call_output", call_id: "call_1", output: "sunny" },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: "It is sunny." }] }
    ])
  })

  vitest("images are input_image parts", () => {
    const { body } = map({
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "what is this?" },
            { type: "image", url: "data:image/png;base64,AAAA" }
          ]
        }
      ]
    })
    assert.deepStrictEqual((body.input as Array<{ content: unknown }>)[0]!.content, [
      { type: "input_text", text: "what is this?" },
      { type: "input_image", image_url: "data:image/png;base64,AAAA" }
    ])
  })

  vitest("reasoning carries effort and summary, and asks for the encrypted content", () => {
    const { body } = map({ reasoningEffort: "high", reasoningSummary: "auto" })
    assert.deepStrictEqual(body.reasoning, { effort: "high", summary: "auto" })
    assert.deepStrictEqual(body.include, ["reasoning.encrypted_content"])
    assert.isUndefined(map({}).body.reasoning)
  })

  vitest("verbosity and structured output go under text", () => {
    const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] }
    const { body } = map({ verbosity: "low", responseFormat: { name: "answer", schema } })
    assert.deepStrictEqual(body.text, {
      verbosity: "low",
      format: { type: "json_schema", name: "answer", schema, strict: true }
    })
  })

  vitest("function tools, tool_choice and parallel_tool_calls", () => {
    const tools = [{ name: "get_weather", description: "Weather", parameters: { type: "object", properties: {} } }]
    const auto = map({ tools }).body
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
    assert.deepStrictEqual(
      map({ tools, toolChoice: { name: "get_weather" }, parallelToolCalls: true }).body.tool_choice,
      {
        type: "function",
        name: "get_weather"
      }
    )
    assert.isUndefined(map({}).body.tools)
  })

  vitest("the conversation id becomes prompt_cache_key", () => {
    assert.strictEqual(map({ conversationId: "conv-1" }).body.prompt_cache_key, "conv-1")
  })

  vitest("options the backend refuses are dropped with a warning, never sent and never a failure", () => {
    const { body, warnings } = map({ temperature: 0.2, maxOutputTokens: 100 })
    assert.notProperty(body, "temperature")
    assert.notProperty(body, "max_output_tokens")
    assert.lengthOf(warnings, 2)
    assert.include(warnings[0]!, "temperature")
  })
})

layer(Emulator.Emulator.layer({ settings: { strict: true } }), { excludeTestServices: true })(
  "the emulator accepts the mapped request",
  (it) => {
    it.effect("a mapped request with every option streams a completed turn, in strict mode", () =>
      Effect.gen(function* () {
        const emulator = yield* Emulator.Emulator
        const tokens = yield* emulator.issueTokens()
        const [account] = yield* emulator.accounts
        const { body } = map({
          messages: [
            { role: "system", content: "rules" },
            { role: "user", content: 'call get_weather with {"city":"Paris"}' }
          ],
          reasoningEffort: "low",
          reasoningSummary: "auto",
          verbosity: "low",
          tools: [{ name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } }],
          conversationId: "conv-1",
          temperature: 1
        })
        const response = yield* Effect.promise(() =>
          fetch(`${emulator.urls.codexBaseUrl}/responses`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${tokens.access_token}`,
              "chatgpt-account-id": account!.id,
              "content-type": "application/json",
              accept: "text/event-stream"
            },
            body: JSON.stringify(body)
          })
        )
        const text = yield* Effect.promise(() => response.text())
        assert.strictEqual(response.status, 200, text)
        assert.include(text, "response.completed")
        assert.include(text, '"type":"function_call"')
      })
    )
  }
)

// A queued request as the router's input, and a turn's events as the request's result.
import { assert, describe, it } from "@effect/vitest"
import type { Contract } from "@nexus/queue-pgmq"
import { emptyOutput, errorResult, fromRequest, gather, okResult, UnsupportedRequest } from "../src/Turn.ts"

const base: Contract.LlmRequest = {
  version: 1,
  id: "5b0c4a52-7c1d-4c0b-9a53-2a1f8f5e7a10",
  task_type: "coder",
  complexity: "medium",
  messages: [{ role: "user", content: "hi" }]
}

describe("Turn.fromRequest", () => {
  it("maps the routing fields, the options and the prompt cache key", () => {
    const turn = fromRequest({
      ...base,
      model: "gpt-5.5",
      account: "work",
      options: { reasoning_effort: "high", max_output_tokens: 64, temperature: 0.2 },
      metadata: { prompt_cache_key: "conv-1", team: "x" }
    })
    assert.notInstanceOf(turn, UnsupportedRequest)
    if (turn instanceof UnsupportedRequest) return
    assert.deepStrictEqual(turn.route, {
      taskType: "coder",
      complexity: "medium",
      model: "gpt-5.5",
      account: "work",
      effort: "high",
      promptCacheKey: "conv-1"
    })
    assert.deepInclude(turn.conversation, { maxOutputTokens: 64, temperature: 0.2, conversationId: "conv-1" })
  })

  it("maps parts, tool calls and results, OpenAI-shaped tools, tool_choice and a JSON schema", () => {
    const turn = fromRequest({
      ...base,
      messages: [
        { role: "system", content: "be brief" },
        {
          role: "user",
          content: [
            { type: "input_text", text: "look" },
            { type: "image_url", image_url: { url: "https://example.com/a.png" } }
          ]
        },
        {
          role: "assistant",
          content: "",
          tool_calls: [{ id: "call_1", type: "function", function: { name: "add", arguments: '{"a":1}' } }]
        },
        { role: "tool", content: "2", tool_call_id: "call_1" }
      ],
      options: {
        tools: [{ type: "function", function: { name: "add", parameters: { type: "object" } } }],
        tool_choice: { type: "function", function: { name: "add" } },
        response_format: { type: "json_schema", json_schema: { name: "sum", schema: { type: "object" } } }
      }
    })
    if (turn instanceof UnsupportedRequest) return assert.fail(turn.message)
    assert.deepStrictEqual(turn.conversation.messages[1]!.content, [
      { type: "text", text: "look" },
      { type: "image", url: "https://example.com/a.png" }
    ])
    assert.deepStrictEqual(turn.conversation.messages[2]!.toolCalls, [
      { id: "call_1", name: "add", arguments: '{"a":1}' }
    ])
    assert.strictEqual(turn.conversation.messages[3]!.toolCallId, "call_1")
    assert.deepStrictEqual(turn.conversation.tools, [{ name: "add", parameters: { type: "object" } }])
    assert.deepStrictEqual(turn.conversation.toolChoice, { name: "add" })
    assert.deepStrictEqual(turn.conversation.responseFormat, { name: "sum", schema: { type: "object" } })
  })

  it("what it cannot send is refused, naming the field", () => {
    const audio = fromRequest({ ...base, messages: [{ role: "user", content: [{ type: "input_audio" }] }] })
    assert.instanceOf(audio, UnsupportedRequest)
    assert.include(
      audio instanceof UnsupportedRequest ? audio.message : "",
      'messages[0]: a content part of type "input_audio"'
    )
    const tool = fromRequest({ ...base, options: { tools: [{ type: "function" }] } })
    assert.include(tool instanceof UnsupportedRequest ? tool.message : "", "options.tools")
  })
})

describe("Turn results", () => {
  const served = { model: "gpt-5.5", requested: "gpt-5.5", effort: "low", accountId: "acct-1", label: "work" }
  const timing = { enqueuedAt: new Date(1000), startedAt: 1500, finishedAt: 2500, attempts: 2 }

  it("an ok result carries the text, tool calls, usage, the route and the timings", () => {
    const output = emptyOutput()
    const route = {
      served,
      skipped: [{ model: "gpt-6", account: "home", reason: "usage_limit" as const, detail: "", until: 5000 }],
      attempts: 2
    }
    gather(
      output,
      [
        { _tag: "RouteChosen", route },
        { _tag: "TextDelta", delta: "Hel", itemId: "m" }
      ],
      120
    )
    gather(
      output,
      [
        { _tag: "TextDelta", delta: "lo", itemId: "m" },
        { _tag: "ToolCallDone", callId: "c1", name: "add", arguments: "{}", itemId: "fc1" }
      ],
      140
    )
    gather(
      output,
      [
        {
          _tag: "Completed",
          responseId: "r",
          usage: { inputTokens: 5, cachedTokens: 1, outputTokens: 2, reasoningTokens: 0, totalTokens: 7 }
        }
      ],
      160
    )
    const result = okResult(base, output, route, timing)
    assert.deepInclude(result, { status: "ok", model: "gpt-5.5", account: "work", attempts: 2 })
    assert.deepStrictEqual(result.output, { text: "Hello", tool_calls: [{ id: "c1", name: "add", arguments: "{}" }] })
    assert.deepStrictEqual(result.usage, { input_tokens: 5, cached_tokens: 1, output_tokens: 2, reasoning_tokens: 0 })
    assert.deepStrictEqual(result["timings"], { queued_ms: 500, first_content_ms: 120, total_ms: 1000 })
    assert.deepStrictEqual((result["route"] as { skipped: unknown }).skipped, [
      { model: "gpt-6", account: "home", reason: "usage_limit", until: new Date(5000).toISOString() }
    ])
  })

  it("the text is the finished message's when one came, as the Codex client reads a turn", () => {
    const output = emptyOutput()
    gather(output, [{ _tag: "TextDelta", delta: "draft", itemId: "m" }], 1)
    gather(
      output,
      [
        {
          _tag: "OutputItemDone",
          item: { type: "message", id: "m", role: "assistant", content: [{ type: "output_text", text: "final" }] }
        }
      ],
      2
    )
    assert.strictEqual(output.events.finalText, "final")
  })

  it("an error result says what happened, whether to retry and when a limit resets", () => {
    const result = errorResult(base, { tag: "NoCandidate", message: "wait", retryable: true, resetsAt: 9000 }, timing)
    assert.deepStrictEqual(result.error, {
      tag: "NoCandidate",
      message: "wait",
      retryable: true,
      resets_at: new Date(9000).toISOString()
    })
    assert.deepInclude(result, { status: "error", model: null, account: null, attempts: 2 })
  })
})

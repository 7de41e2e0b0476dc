import { assert, describe, it } from "@effect/vitest"
import { Duration } from "effect"
import { MalformedEvent, type OutputItem } from "../src/ChatEvent.ts"
import { decodeEvent, makeEventDecoder, retryAfterFromMessage } from "../src/internal/decode.ts"
import type { SseMessage } from "../src/internal/sse.ts"

const message = (data: Record<string, unknown>): SseMessage => ({
  event: typeof data.type === "string" ? data.type : undefined,
  data: JSON.stringify(data)
})

const decode = (data: Record<string, unknown>) => decodeEvent(message(data))

describe("decodeEvent", () => {
  it("decodes response.created into Created", () => {
    assert.deepStrictEqual(decode({ type: "response.created", response: { id: "resp_1", status: "in_progress" } }), {
      _tag: "Created",
      responseId: "resp_1"
    })
  })

  it("decodes an output_text delta with its item id", () => {
    assert.deepStrictEqual(
      decode({
        type: "response.output_text.delta",
        item_id: "msg_1",
        output_index: 0,
        content_index: 0,
        delta: "h\u00e9"
      }),
      { _tag: "TextDelta", delta: "h\u00e9", itemId: "msg_1" }
    )
  })

  it("decodes a reasoning summary delta with its summary index", () => {
    assert.deepStrictEqual(
      decode({ type: "response.reasoning_summary_text.delta", item_id: "rs_1", summary_index: 2, delta: "Thinking" }),
      { _tag: "ReasoningSummaryDelta", delta: "Thinking", summaryIndex: 2 }
    )
  })

  it("decodes finished message, function_call and reasoning items", () => {
    const messageItem: OutputItem = {
      type: "message",
      id: "msg_1",
      role: "assistant",
      status: "completed",
      content: [{ type: "output_text", text: "hi", annotations: [] }]
    }
    const call: OutputItem = {
      type: "function_call",
      id: "fc_1",
      call_id: "call_1",
      name: "lookup",
      arguments: '{"q":1}',
      status: "completed"
    }
    const reasoning: OutputItem = {
      type: "reasoning",
      id: "rs_1",
      summary: [{ type: "summary_text", text: "why" }],
      encrypted_content: "opaque"
    }
    for (const item of [messageItem, call, reasoning]) {
      assert.deepStrictEqual(decode({ type: "response.output_item.done", output_index: 0, item }), {
        _tag: "OutputItemDone",
        item
      })
    }
  })

  it("ignores finished items of other types and rejects a known type that does not match", () => {
    assert.strictEqual(
      decode({ type: "response.output_item.done", item: { type: "web_search_call", id: "ws_1" } }),
      undefined
    )
    const result = decode({ type: "response.output_item.done", item: { type: "message", id: "msg_1" } })
    assert.instanceOf(result, MalformedEvent)
    for (const item of [
      { type: "message", id: "msg_1", role: "user", content: [] },
      { type: "message", id: "msg_1", role: "assistant", content: [{ type: "output_text" }] },
      { type: "message", id: "msg_1", role: "assistant", content: [{ type: "refusal", text: "no" }] },
      { type: "function_call", call_id: "call_1", name: "f", arguments: {} },
      { type: "function_call", call_id: "call_1", name: "f", arguments: "{}", id: 7 },
      { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text" }] },
      { type: "reasoning", id: "rs_1", summary: [], encrypted_content: 1 }
    ]) {
      assert.instanceOf(decode({ type: "response.output_item.done", item }), MalformedEvent, JSON.stringify(item))
    }
  })

  it("decodes response.completed with its usage", () => {
    assert.deepStrictEqual(
      decode({
        type: "response.completed",
        response: {
          id: "resp_1",
          status: "completed",
          usage: {
            input_tokens: 123,
            input_tokens_details: { cached_tokens: 100 },
            output_tokens: 7,
            output_tokens_details: { reasoning_tokens: 3 },
            total_tokens: 130
          }
        }
      }),
      {
        _tag: "Completed",
        responseId: "resp_1",
        usage: { inputTokens: 123, cachedTokens: 100, outputTokens: 7, reasoningTokens: 3, totalTokens: 130 }
      }
    )
  })

  it("decodes response.completed without usage as zero counts, and requires the response id", () => {
    assert.deepStrictEqual(decode({ type: "response.completed", response: { id: "resp_1" } }), {
      _tag: "Completed",
      responseId: "resp_1",
      usage: { inputTokens: 0, cachedTokens: 0, outputTokens: 0, reasoningTokens: 0, totalTokens: 0 }
    })
    assert.instanceOf(decode({ type: "response.completed", response: {} }), MalformedEvent)
    assert.instanceOf(
      decode({ type: "response.completed", response: { id: "resp_1", usage: { input_tokens: "12" } } }),
      MalformedEvent
    )
    assert.instanceOf(
      decode({ type: "response.completed", response: { id: "resp_1", usage: { output_tokens_details: 3 } } }),
      MalformedEvent
    )
  })

  it("reads the retry delay of a rate_limit_exceeded failure", () => {
    const result = decode({
      type: "response.failed",
      response: {
        id: "resp_1",
        status: "failed",
        error: {
          type: "rate_limit_error",
          code: "rate_limit_exceeded",
          message: "Rate limit reached. Please try again in 1.5s."
        }
      }
    })
    assert(result !== undefined && result._tag === "Failed")
    assert.strictEqual(result.code, "rate_limit_exceeded")
    assert.strictEqual(result.errorType, "rate_limit_error")
    assert.strictEqual(result.message, "Rate limit reached. Please try again in 1.5s.")
    assert(result.retryAfter !== undefined)
    assert.strictEqual(Duration.toMillis(result.retryAfter), 1500)
  })

  it("decodes a fatal failure without a retry delay", () => {
    const result = decode({
      type: "response.failed",
      response: {
        id: "resp_1",
        error: {
          code: "context_length_exceeded",
          message: "Your input exceeds the context window of this model. Please adjust your input and try again."
        }
      }
    })
    assert.deepStrictEqual(result, {
      _tag: "Failed",
      code: "context_length_exceeded",
      message: "Your input exceeds the context window of this model. Please adjust your input and try again."
    })
  })

  it("reads try-again delays in s, ms and seconds", () => {
    const millis = (text: string) => {
      const delay = retryAfterFromMessage(text)
      return delay === undefined ? undefined : Duration.toMillis(delay)
    }
    assert.strictEqual(millis("Please try again in 1.5s."), 1500)
    assert.strictEqual(millis("Please try again in 250ms."), 250)
    assert.strictEqual(millis("Please Try Again In 2 seconds"), 2000)
    assert.strictEqual(millis("Please try again later."), undefined)
  })

  it("decodes codex.rate_limits into RateLimits", () => {
    assert.deepStrictEqual(
      decode({
        type: "codex.rate_limits",
        plan_type: "plus",
        rate_limits: {
          primary: { used_percent: 12.5, window_minutes: 300, reset_at: 1_760_000_000 },
          secondary: { used_percent: 40, window_minutes: 10_080 }
        }
      }),
      {
        _tag: "RateLimits",
        primary: { usedPercent: 12.5, windowMinutes: 300, resetAt: 1_760_000_000 },
        secondary: { usedPercent: 40, windowMinutes: 10_080 },
        planType: "plus"
      }
    )
  })

  it("gives MalformedEvent for malformed JSON, a non-object and a missing field", () => {
    const bad = decodeEvent({ event: "response.output_text.delta", data: '{"type":"response.output_text.delta",' })
    assert.instanceOf(bad, MalformedEvent)
    assert.strictEqual(bad._tag, "MalformedEvent")
    assert.strictEqual(bad.eventType, "response.output_text.delta")
    assert.instanceOf(decodeEvent({ event: undefined, data: "[1,2]" }), MalformedEvent)
    assert.instanceOf(decodeEvent({ event: undefined, data: '{"delta":"x"}' }), MalformedEvent)
    assert.instanceOf(decode({ type: "response.output_text.delta", item_id: "msg_1" }), MalformedEvent)
  })

  it("gives undefined for unknown and uninteresting types", () => {
    for (const type of [
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.content_part.done",
      "response.output_text.done",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_part.done",
      "response.reasoning_summary_text.done",
      "response.something_new"
    ]) {
      assert.strictEqual(decode({ type, item: { type: "message", id: "msg_1" } }), undefined, type)
    }
  })

  it("does not even parse the payload of an event its event: line names as one it skips", () => {
    assert.strictEqual(decodeEvent({ event: "response.output_text.done", data: "{not json" }), undefined)
    // Without the event: line the payload is parsed, and bad JSON is reported.
    assert.instanceOf(decodeEvent({ event: undefined, data: "{not json" }), MalformedEvent)
  })
})

describe("makeEventDecoder", () => {
  it("gives tool-call deltas the call id and name of the announced item", () => {
    const decoder = makeEventDecoder()
    const events = [
      { type: "response.output_item.added", item: { type: "reasoning", id: "rs_1", summary: [] } },
      {
        type: "response.output_item.added",
        output_index: 1,
        item: { type: "function_call", id: "fc_1", call_id: "call_1", name: "lookup", arguments: "" }
      },
      {
        type: "response.output_item.added",
        output_index: 2,
        item: { type: "function_call", id: "fc_2", call_id: "call_2", name: "weather", arguments: "" }
      },
      { type: "response.function_call_arguments.delta", item_id: "fc_1", delta: '{"q":' },
      { type: "response.function_call_arguments.delta", item_id: "fc_2", delta: "{}" },
      { type: "response.function_call_arguments.delta", item_id: "fc_1", delta: "1}" },
      { type: "response.function_call_arguments.done", item_id: "fc_1", arguments: '{"q":1}' }
    ].map((data) => decoder.decode(message(data)))
    assert.deepStrictEqual(events, [
      undefined,
      undefined,
      undefined,
      { _tag: "ToolCallDelta", callId: "call_1", name: "lookup", delta: '{"q":', itemId: "fc_1" },
      { _tag: "ToolCallDelta", callId: "call_2", name: "weather", delta: "{}", itemId: "fc_2" },
      { _tag: "ToolCallDelta", callId: "call_1", name: "lookup", delta: "1}", itemId: "fc_1" },
      { _tag: "ToolCallDone", callId: "call_1", name: "lookup", arguments: '{"q":1}', itemId: "fc_1" }
    ])
  })

  it("rejects an argument delta for an item it never saw, as the stateless decodeEvent does", () => {
    const delta = message({ type: "response.function_call_arguments.delta", item_id: "fc_9", delta: "{}" })
    assert.instanceOf(makeEventDecoder().decode(delta), MalformedEvent)
    assert.instanceOf(decodeEvent(delta), MalformedEvent)
  })
})

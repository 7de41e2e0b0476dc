// The OpenAI shapes as Codex turns and back, without a server: what is dropped, refused and mapped.
import { assert, describe, it } from "@effect/vitest"
import { Errors, ModelCatalog } from "@nexus/provider-codex"
import { Route } from "@nexus/router"
import { Duration, Schema } from "effect"
import * as OpenAiChat from "../src/OpenAiChat.ts"
import * as OpenAiError from "../src/OpenAiError.ts"
import * as OpenAiResponses from "../src/OpenAiResponses.ts"

const chat = (body: Record<string, unknown>) =>
  OpenAiChat.fromRequest(Schema.decodeUnknownSync(OpenAiChat.CompletionRequest)(body), body)

const responses = (body: Record<string, unknown>) =>
  OpenAiResponses.fromRequest(Schema.decodeUnknownSync(OpenAiResponses.ResponsesRequest)(body), body)

describe("OpenAiChat.fromRequest", () => {
  it("maps messages, images, tool calls and results, tools, choice, formats; drops what the backend ignores", () => {
    const mapped = chat({
      model: "gpt-5.5",
      temperature: 0.3,
      max_tokens: 100,
      reasoning_effort: "high",
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "text", text: "what is this?" },
            { type: "image_url", image_url: { url: "data:image/png;base64,AAAA", detail: "low" } }
          ]
        },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "c1", type: "function", function: { name: "look", arguments: "{}" } }]
        },
        { role: "tool", tool_call_id: "c1", content: "a cat" }
      ],
      tools: [{ type: "function", function: { name: "look", parameters: { type: "object" } } }],
      tool_choice: { type: "function", function: { name: "look" } },
      response_format: { type: "json_object" }
    })
    assert.notInstanceOf(mapped, OpenAiChat.UnsupportedRequest)
    if (mapped instanceof OpenAiChat.UnsupportedRequest) return
    assert.deepStrictEqual(mapped.dropped, ["temperature", "max_tokens"])
    assert.strictEqual(mapped.effort, "high")
    assert.deepStrictEqual(mapped.conversation.messages[1]!.content, [
      { type: "text", text: "what is this?" },
      { type: "image", url: "data:image/png;base64,AAAA" }
    ])
    assert.deepStrictEqual(mapped.conversation.messages[2], {
      role: "assistant",
      content: "",
      toolCalls: [{ id: "c1", name: "look", arguments: "{}" }]
    })
    assert.deepStrictEqual(mapped.conversation.messages[3], { role: "tool", content: "a cat", toolCallId: "c1" })
    assert.deepStrictEqual(mapped.conversation.toolChoice, { name: "look" })
    assert.deepStrictEqual(mapped.conversation.responseFormat, { type: "json_object" })
  })

  it("refuses what a client would rely on and the backend cannot give, naming the parameter", () => {
    for (const [body, param] of [
      [{ n: 2 }, "n"],
      [{ logprobs: true }, "logprobs"],
      [{ stop: ["END"] }, "stop"],
      [{ modalities: ["text", "audio"] }, "modalities"],
      [{ messages: [{ role: "user", content: [{ type: "input_audio", input_audio: {} }] }] }, "messages[0]"],
      [{ messages: [{ role: "function", content: "x" }] }, "messages[0].role"]
    ] as const) {
      const refused = chat({ model: "gpt-5.5", messages: [{ role: "user", content: "hi" }], ...body })
      assert.instanceOf(refused, OpenAiChat.UnsupportedRequest)
      if (refused instanceof OpenAiChat.UnsupportedRequest) assert.strictEqual(refused.param, param)
    }
    // Their neutral values pass.
    assert.notInstanceOf(
      chat({ model: "m", n: 1, logprobs: false, stop: [], messages: [{ role: "user", content: "hi" }] }),
      OpenAiChat.UnsupportedRequest
    )
  })
})

describe("OpenAiChat.chunker", () => {
  it("the role first, deltas, each tool call numbered, the finish reason, then the usage when asked", () => {
    const served = { model: "gpt-5.5", requested: "gpt-5.5", effort: undefined, accountId: "a", label: undefined }
    const chunks = OpenAiChat.chunker("id", 1, true)
    const out = [
      { _tag: "RouteChosen", route: { served, skipped: [], attempts: 1 } },
      { _tag: "TextDelta", delta: "Hi", itemId: "m" },
      { _tag: "ToolCallDelta", callId: "c1", name: "f", delta: "{", itemId: "fc1" },
      { _tag: "ToolCallDelta", callId: "c1", name: "f", delta: "}", itemId: "fc1" },
      { _tag: "ToolCallDone", callId: "c2", name: "g", arguments: "{}", itemId: "fc2" },
      {
        _tag: "Completed",
        responseId: "r",
        usage: { inputTokens: 3, cachedTokens: 1, outputTokens: 2, reasoningTokens: 0, totalTokens: 5 }
      }
    ]
      // Each event's frames, as a client reads them: `data: {…}` separated by blank lines.
      .flatMap((event) => chunks(event as never).split("\n\n"))
      .filter((frame) => frame.length > 0)
      .map((frame) => {
        assert.match(frame, /^data: \{/)
        return JSON.parse(frame.slice("data: ".length)) as unknown
      }) as Array<{
      choices: Array<{ delta: unknown; finish_reason: unknown }>
      usage?: unknown
      model: string
    }>
    assert.deepStrictEqual(
      out.map((chunk) => chunk.choices[0]?.delta ?? "usage"),
      [
        { role: "assistant", content: "", refusal: null },
        { content: "Hi" },
        { tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "f", arguments: "" } }] },
        { tool_calls: [{ index: 0, function: { arguments: "{" } }] },
        { tool_calls: [{ index: 0, function: { arguments: "}" } }] },
        { tool_calls: [{ index: 1, id: "c2", type: "function", function: { name: "g", arguments: "" } }] },
        { tool_calls: [{ index: 1, function: { arguments: "{}" } }] },
        {},
        "usage"
      ]
    )
    assert.strictEqual(out.at(-2)!.choices[0]!.finish_reason, "tool_calls")
    assert.deepInclude(out.at(-1)!.usage as object, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 })
    assert.isTrue(out.every((chunk) => chunk.model === "gpt-5.5"))
  })

  it("a message that finishes without deltas is sent whole; one that had deltas is not sent twice", () => {
    const chunks = OpenAiChat.chunker("id", 1, false)
    const item = (id: string, text: string) => ({
      _tag: "OutputItemDone",
      item: { type: "message", id, role: "assistant", content: [{ type: "output_text", text }] }
    })
    const frames = [{ _tag: "TextDelta", delta: "streamed", itemId: "m1" }, item("m1", "streamed"), item("m2", "whole")]
      .map((event) => chunks(event as never))
      .join("")
      .split("\n\n")
      .filter((frame) => frame.length > 0)
    assert.deepStrictEqual(
      frames.map(
        (frame) =>
          (JSON.parse(frame.slice("data: ".length)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]!
            .delta.content
      ),
      ["", "streamed", "whole"]
    )
  })
})

describe("OpenAiResponses.fromRequest", () => {
  it("maps input items, instructions, function tools, reasoning and text.format; drops reasoning items and other tools", () => {
    const mapped = responses({
      model: "gpt-5.5",
      instructions: "Be brief.",
      input: [
        { role: "user", content: [{ type: "input_text", text: "run it" }] },
        { type: "reasoning", id: "rs_1", summary: [], encrypted_content: "opaque" },
        { type: "function_call", call_id: "c1", name: "exec", arguments: "{}" },
        { type: "function_call_output", call_id: "c1", output: "done" }
      ],
      tools: [
        { type: "function", name: "exec", parameters: { type: "object" }, strict: false },
        { type: "web_search" }
      ],
      reasoning: { effort: "low", summary: "auto" },
      text: { format: { type: "json_schema", name: "x", schema: { type: "object" }, strict: true }, verbosity: "low" },
      max_output_tokens: 10
    })
    assert.notInstanceOf(mapped, OpenAiChat.UnsupportedRequest)
    if (mapped instanceof OpenAiChat.UnsupportedRequest) return
    assert.strictEqual(mapped.conversation.instructions, "Be brief.")
    assert.deepStrictEqual(
      mapped.conversation.messages.map((message) => message.role),
      ["user", "assistant", "tool"]
    )
    assert.deepStrictEqual(
      mapped.conversation.tools?.map((tool) => tool.name),
      ["exec"]
    )
    assert.deepStrictEqual(mapped.conversation.responseFormat, { name: "x", schema: { type: "object" }, strict: true })
    assert.strictEqual(mapped.conversation.reasoningSummary, "auto")
    assert.strictEqual(mapped.effort, "low")
    assert.deepStrictEqual(mapped.dropped, ["max_output_tokens", "tools (other than functions)"])
  })

  it("refuses server-side state and unknown item types", () => {
    const stateful = responses({ model: "m", input: "hi", previous_response_id: "resp_1" })
    assert.instanceOf(stateful, OpenAiChat.UnsupportedRequest)
    const odd = responses({ model: "m", input: [{ type: "item_reference", id: "x" }] })
    assert.instanceOf(odd, OpenAiChat.UnsupportedRequest)
    if (odd instanceof OpenAiChat.UnsupportedRequest) assert.strictEqual(odd.param, "input[0]")
  })
})

describe("OpenAiError.fromFailure", () => {
  const now = 1_000_000
  it("gives each failure its status, OpenAI type and code, and Retry-After when waiting helps", () => {
    const limited = Route.NoCandidate.fromSkipped([
      { model: "gpt-5.5", account: "a", reason: "usage_limit", detail: "limit", until: now + 90_500 }
    ] as never)
    assert.deepInclude(OpenAiError.fromFailure(limited, now), {
      status: 429,
      type: "usage_limit_reached",
      code: "usage_limit_reached",
      retryAfter: 91,
      resetsAt: Math.ceil((now + 90_500) / 1000)
    })
    // A failing backend is a 502 even when another account is at its limit; rate limits are 429s.
    const failing = Route.NoCandidate.fromSkipped([
      { model: "gpt-5.5", account: "a", reason: "usage_limit", detail: "limit", until: now + 90_500 },
      { model: "gpt-5.5", account: "b", reason: "failed", detail: "HTTP 500" }
    ] as never)
    assert.deepInclude(OpenAiError.fromFailure(failing, now), { status: 502, code: "upstream_unavailable" })
    const cooling = Route.NoCandidate.fromSkipped([
      { model: "gpt-5.5", account: "a", reason: "cooling_down", detail: "429s", until: now + 30_000 }
    ] as never)
    assert.deepInclude(OpenAiError.fromFailure(cooling, now), {
      status: 429,
      code: "rate_limit_exceeded",
      retryAfter: 30
    })
    // The caller's own choices are 400s naming the header.
    const unknownAccount = Route.NoCandidate.fromSkipped([
      { model: "gpt-5.5", account: "nope", reason: "unknown_account", detail: "no such account" }
    ] as never)
    assert.deepInclude(OpenAiError.fromFailure(unknownAccount, now), { status: 400, param: "x-nexus-account" })
    const none = Route.NoCandidate.fromSkipped([{ model: "gpt-5.5", reason: "no_account", detail: "none" }] as never)
    assert.deepInclude(OpenAiError.fromFailure(none, now), { status: 503 })
    assert.deepInclude(
      OpenAiError.fromFailure(new ModelCatalog.UnknownModel({ model: "x", available: ["gpt-5.5"] }), now),
      { status: 404, code: "model_not_found", param: "model" }
    )
    assert.deepInclude(
      OpenAiError.fromFailure(new Errors.RateLimited({ detail: "slow down", retryAfter: Duration.seconds(2.5) }), now),
      { status: 429, retryAfter: 3 }
    )
    assert.deepInclude(OpenAiError.fromFailure(new Errors.InvalidRequest({ status: 400, detail: "bad" }), now), {
      status: 400
    })
    assert.deepInclude(
      OpenAiError.fromFailure(new Errors.UpstreamUnavailable({ reason: "server_error", detail: "502" }), now),
      { status: 502 }
    )
    assert.deepInclude(OpenAiError.fromFailure(new OpenAiError.InvalidBody({ detail: "it is not JSON" }), now), {
      status: 400,
      type: "invalid_request_error"
    })
    assert.deepInclude(
      OpenAiError.fromFailure(new OpenAiError.InvalidBody({ detail: "too big", tooLarge: true }), now),
      { status: 413, code: "request_too_large" }
    )
    const body = OpenAiError.body(OpenAiError.fromFailure(limited, now))
    assert.deepStrictEqual(Object.keys(body.error), ["message", "type", "param", "code", "resets_at"])
    assert.deepStrictEqual(Object.keys(OpenAiError.body(OpenAiError.fromFailure(failing, now)).error), [
      "message",
      "type",
      "param",
      "code"
    ])
  })
})

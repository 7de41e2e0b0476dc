/**
 * The OpenAI Chat Completions shapes Nexus accepts — messages, content parts, tools, tool choice,
 * response format — as a Codex turn (`Router.Conversation`), and a routed turn as a
 * `chat.completion` or its `chat.completion.chunk`s. Shared by the gateway's
 * `/v1/chat/completions` and the worker's queue contract, which speaks the same message shape.
 *
 * What the ChatGPT Codex backend cannot do is dropped or refused, as `DROPPED` and `REFUSED` say.
 *
 * @since 0.1.0
 */
import type { ChatEvent, ChatRequest } from "@nexus/provider-codex"
import type { Router } from "@nexus/router"
import { Result, Schema } from "effect"

/**
 * The request cannot be turned into a Codex turn (a content part, a tool or an option the backend
 * does not take): permanent, the sender must change the request.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedRequest extends Schema.TaggedError<UnsupportedRequest>()("UnsupportedRequest", {
  detail: Schema.String,
  /** The request field at fault, OpenAI's `param`. */
  param: Schema.optional(Schema.String)
}) {
  override get message() {
    return `The request cannot be sent to the Codex backend: ${this.detail}. Change the request and send it again.`
  }
}

/** An OpenAI-style function tool, or the flat shape. */
const FunctionTool = Schema.Union([
  Schema.Struct({
    type: Schema.Literal("function"),
    function: Schema.Struct({
      name: Schema.String,
      description: Schema.optional(Schema.String),
      parameters: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)),
      strict: Schema.optional(Schema.NullOr(Schema.Boolean))
    })
  }),
  Schema.Struct({
    name: Schema.String,
    description: Schema.optional(Schema.String),
    parameters: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)),
    strict: Schema.optional(Schema.NullOr(Schema.Boolean))
  })
])

const ToolChoice = Schema.Union([
  Schema.Literals(["auto", "none", "required"]),
  Schema.Struct({ type: Schema.Literal("function"), function: Schema.Struct({ name: Schema.String }) }),
  Schema.Struct({ name: Schema.String })
])

const ResponseFormat = Schema.Union([
  Schema.Struct({ type: Schema.Literals(["text", "json_object"]) }),
  Schema.Struct({
    type: Schema.Literal("json_schema"),
    json_schema: Schema.Struct({
      name: Schema.String,
      schema: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)),
      strict: Schema.optional(Schema.NullOr(Schema.Boolean))
    })
  })
])

const AssistantToolCalls = Schema.Array(
  Schema.Union([
    Schema.Struct({
      id: Schema.String,
      type: Schema.optional(Schema.Literal("function")),
      function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
    }),
    Schema.Struct({ id: Schema.String, name: Schema.String, arguments: Schema.String })
  ])
)

const decodeTools = Schema.decodeUnknownResult(Schema.Array(FunctionTool))
const decodeToolChoice = Schema.decodeUnknownResult(ToolChoice)
const decodeResponseFormat = Schema.decodeUnknownResult(ResponseFormat)
const decodeToolCalls = Schema.decodeUnknownResult(AssistantToolCalls)

const unsupported = (param: string, issue: { readonly message: string }) =>
  new UnsupportedRequest({ param, detail: `${param}: ${issue.message.replace(/\s+/g, " ").trim()}` })

/**
 * A message as the Chat Completions API (and the queue contract) writes it.
 *
 * @since 0.1.0
 * @category models
 */
export interface InputMessage {
  readonly role: string
  readonly content?: string | ReadonlyArray<{ readonly type: string }> | null | undefined
  readonly tool_call_id?: string | undefined
  readonly tool_calls?: unknown
}

const ROLES = new Set(["system", "developer", "user", "assistant", "tool"])

const part = (value: { readonly type: string }, where: string): ChatRequest.Part | UnsupportedRequest => {
  const record = value as Record<string, unknown>
  if ((value.type === "text" || value.type === "input_text") && typeof record.text === "string") {
    return { type: "text", text: record.text }
  }
  if (value.type === "image" || value.type === "input_image" || value.type === "image_url") {
    const url = record.url ?? record.image_url
    const href = typeof url === "string" ? url : (url as { readonly url?: unknown } | undefined)?.url
    if (typeof href === "string") return { type: "image", url: href }
  }
  return new UnsupportedRequest({
    param: where,
    detail: `${where}: a content part of type ${JSON.stringify(value.type)} (text and images are supported)`
  })
}

/**
 * One message as a Codex conversation message.
 *
 * @since 0.1.0
 * @category mapping
 */
export const message = (value: InputMessage, index: number): ChatRequest.Message | UnsupportedRequest => {
  const where = `messages[${index}]`
  if (!ROLES.has(value.role)) {
    return new UnsupportedRequest({
      param: `${where}.role`,
      detail: `${where}.role: ${JSON.stringify(value.role)} is not one of system, developer, user, assistant, tool`
    })
  }
  let content: ChatRequest.Message["content"]
  if (value.content === undefined || value.content === null) content = ""
  else if (typeof value.content === "string") content = value.content
  else {
    const parts: Array<ChatRequest.Part> = []
    for (const entry of value.content) {
      const mapped = part(entry, where)
      if (mapped instanceof UnsupportedRequest) return mapped
      parts.push(mapped)
    }
    content = parts
  }
  let toolCalls: Array<ChatRequest.ToolCall> | undefined
  if (value.role === "assistant" && value.tool_calls !== undefined && value.tool_calls !== null) {
    const calls = decodeToolCalls(value.tool_calls)
    if (Result.isFailure(calls)) return unsupported(`${where}.tool_calls`, calls.failure)
    toolCalls = calls.success.map((call) =>
      "function" in call
        ? { id: call.id, name: call.function.name, arguments: call.function.arguments }
        : { id: call.id, name: call.name, arguments: call.arguments }
    )
  }
  return {
    role: value.role as ChatRequest.Message["role"],
    content,
    ...(value.tool_call_id === undefined ? {} : { toolCallId: value.tool_call_id }),
    ...(toolCalls === undefined ? {} : { toolCalls })
  }
}

/**
 * The options a Chat Completions request (or a queued request's `options`) can carry.
 *
 * @since 0.1.0
 * @category models
 */
export interface InputOptions {
  readonly tools?: unknown
  readonly tool_choice?: unknown
  readonly response_format?: unknown
  readonly parallel_tool_calls?: unknown
}

/**
 * A conversation under construction (every field writable).
 *
 * @since 0.1.0
 * @category models
 */
export type MutableConversation = { -readonly [K in keyof Router.Conversation]: Router.Conversation[K] }

/**
 * The messages and options as a Codex conversation; `prefix` names where the options sit
 * (`options.` in a queued request, nothing in an HTTP body).
 *
 * @since 0.1.0
 * @category mapping
 */
export const conversation = (
  messages: ReadonlyArray<InputMessage>,
  options: InputOptions,
  prefix = ""
): MutableConversation | UnsupportedRequest => {
  const mapped: Array<ChatRequest.Message> = []
  for (const [index, entry] of messages.entries()) {
    const one = message(entry, index)
    if (one instanceof UnsupportedRequest) return one
    mapped.push(one)
  }
  const result: MutableConversation = { messages: mapped }
  if (options.tools !== undefined && options.tools !== null) {
    const tools = decodeTools(options.tools)
    if (Result.isFailure(tools)) return unsupported(`${prefix}tools`, tools.failure)
    if (tools.success.length > 0) {
      result.tools = tools.success.map((tool) => {
        const fn = "function" in tool ? tool.function : tool
        return {
          name: fn.name,
          parameters: fn.parameters ?? { type: "object", properties: {} },
          ...(fn.description === undefined ? {} : { description: fn.description }),
          ...(fn.strict === undefined || fn.strict === null ? {} : { strict: fn.strict })
        }
      })
    }
  }
  if (options.tool_choice !== undefined && options.tool_choice !== null) {
    const choice = decodeToolChoice(options.tool_choice)
    if (Result.isFailure(choice)) return unsupported(`${prefix}tool_choice`, choice.failure)
    const value = choice.success
    result.toolChoice =
      typeof value === "string" ? value : { name: "function" in value ? value.function.name : value.name }
  }
  if (typeof options.parallel_tool_calls === "boolean") result.parallelToolCalls = options.parallel_tool_calls
  if (options.response_format !== undefined && options.response_format !== null) {
    const format = decodeResponseFormat(options.response_format)
    if (Result.isFailure(format)) return unsupported(`${prefix}response_format`, format.failure)
    const value = format.success
    if (value.type === "json_object") result.responseFormat = { type: "json_object" }
    else if (value.type === "json_schema") {
      const { name, schema, strict } = value.json_schema
      result.responseFormat = {
        name,
        schema: schema ?? { type: "object" },
        ...(strict === undefined || strict === null ? {} : { strict })
      }
    }
  }
  return result
}

// ---------------------------------------------------------------------------------------------
// The HTTP request
// ---------------------------------------------------------------------------------------------

/**
 * Parameters the backend cannot honour and that change nothing a client relies on: accepted and
 * dropped; the response's `x-nexus-dropped` header names those that were given.
 *
 * @since 0.1.0
 * @category constants
 */
export const DROPPED = [
  "temperature",
  "top_p",
  "max_tokens",
  "max_completion_tokens",
  "presence_penalty",
  "frequency_penalty",
  "seed",
  "user",
  "logit_bias",
  "store",
  "metadata",
  "service_tier",
  "verbosity",
  "modalities"
] as const

/**
 * Parameters whose effect a client would rely on and that the backend cannot give: refused with a
 * 400 rather than silently ignored (`n` only above 1, `logprobs` only when true, `stop` only when
 * not empty, `modalities` only with audio).
 *
 * @since 0.1.0
 * @category constants
 */
export const REFUSED = [
  "n",
  "logprobs",
  "top_logprobs",
  "stop",
  "audio",
  "prediction",
  "web_search_options",
  "functions"
] as const

const refusedValue = (name: (typeof REFUSED)[number], value: unknown): boolean => {
  switch (name) {
    case "n":
      return typeof value === "number" && value > 1
    case "logprobs":
      return value === true
    case "stop":
      return value !== null && value !== undefined && !(Array.isArray(value) && value.length === 0)
    default:
      return value !== null && value !== undefined
  }
}

/** A content part: its type, and every other field kept for the mapping to read. */
const ContentPart = Schema.StructWithRest(Schema.Struct({ type: Schema.String }), [
  Schema.Record(Schema.String, Schema.Unknown)
])

/**
 * A `/v1/chat/completions` body, as far as Nexus reads it (other fields are checked against
 * `DROPPED` and `REFUSED`, then ignored).
 *
 * @since 0.1.0
 * @category schemas
 */
export const CompletionRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(
    Schema.Struct({
      role: Schema.String,
      content: Schema.optional(Schema.NullOr(Schema.Union([Schema.String, Schema.Array(ContentPart)]))),
      tool_call_id: Schema.optional(Schema.String),
      tool_calls: Schema.optional(Schema.Unknown)
    })
  ).check(Schema.isMinLength(1)),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  stream_options: Schema.optional(Schema.NullOr(Schema.Struct({ include_usage: Schema.optional(Schema.Boolean) }))),
  tools: Schema.optional(Schema.Unknown),
  tool_choice: Schema.optional(Schema.Unknown),
  parallel_tool_calls: Schema.optional(Schema.Unknown),
  response_format: Schema.optional(Schema.Unknown),
  reasoning_effort: Schema.optional(Schema.NullOr(Schema.String)),
  prompt_cache_key: Schema.optional(Schema.NullOr(Schema.String))
})

/**
 * @since 0.1.0
 * @category models
 */
export type CompletionRequest = typeof CompletionRequest.Type

/**
 * A Chat Completions request as a Codex conversation: what the router runs, whether to stream, and
 * which given parameters were dropped.
 *
 * @since 0.1.0
 * @category models
 */
export interface Mapped {
  readonly conversation: Router.Conversation
  readonly effort: string | undefined
  readonly stream: boolean
  readonly includeUsage: boolean
  readonly dropped: ReadonlyArray<string>
}

/**
 * Maps a decoded body (and the raw one, for the parameters Nexus does not read).
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromRequest = (
  body: CompletionRequest,
  raw: Readonly<Record<string, unknown>>
): Mapped | UnsupportedRequest => {
  for (const name of REFUSED) {
    if (refusedValue(name, raw[name])) {
      return new UnsupportedRequest({
        param: name,
        detail: `${name} is not supported by the ChatGPT Codex backend`
      })
    }
  }
  const modalities = raw.modalities
  if (Array.isArray(modalities) && modalities.includes("audio")) {
    return new UnsupportedRequest({
      param: "modalities",
      detail: "audio output is not supported by the ChatGPT Codex backend"
    })
  }
  const mapped = conversation(body.messages, body)
  if (mapped instanceof UnsupportedRequest) return mapped
  if (typeof body.prompt_cache_key === "string" && body.prompt_cache_key.length > 0) {
    mapped.conversationId = body.prompt_cache_key
  }
  return {
    conversation: mapped,
    effort: body.reasoning_effort ?? undefined,
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
    dropped: DROPPED.filter((name) => raw[name] !== undefined && raw[name] !== null)
  }
}

// ---------------------------------------------------------------------------------------------
// The response
// ---------------------------------------------------------------------------------------------

/**
 * OpenAI's `usage` of a turn.
 *
 * @since 0.1.0
 * @category encoding
 */
export const usageOf = (usage: ChatEvent.Usage) => ({
  prompt_tokens: usage.inputTokens,
  completion_tokens: usage.outputTokens,
  total_tokens: usage.inputTokens + usage.outputTokens,
  prompt_tokens_details: { cached_tokens: usage.cachedTokens },
  completion_tokens_details: { reasoning_tokens: usage.reasoningTokens }
})

/**
 * A whole turn as a `chat.completion`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const completion = (
  id: string,
  created: number,
  model: string,
  result: {
    readonly text: string
    readonly toolCalls: ReadonlyArray<{ readonly callId: string; readonly name: string; readonly arguments: string }>
    readonly usage: ChatEvent.Usage | undefined
  }
) => ({
  id,
  object: "chat.completion",
  created,
  model,
  choices: [
    {
      index: 0,
      message: {
        role: "assistant",
        content: result.text.length === 0 && result.toolCalls.length > 0 ? null : result.text,
        refusal: null,
        ...(result.toolCalls.length > 0
          ? {
              tool_calls: result.toolCalls.map((call) => ({
                id: call.callId,
                type: "function",
                function: { name: call.name, arguments: call.arguments }
              }))
            }
          : {})
      },
      logprobs: null,
      finish_reason: result.toolCalls.length > 0 ? "tool_calls" : "stop"
    }
  ],
  ...(result.usage ? { usage: usageOf(result.usage) } : {})
})

/**
 * Turns a routed stream's events into `chat.completion.chunk`s as Server-Sent Events (`data: {…}`
 * frames), one call per event: the role first, then content and tool-call deltas (each call
 * numbered by its order), the finish reason, and with `includeUsage` a last chunk with no choices
 * and the usage. The frame around a delta is the same for the whole stream: it is rendered once,
 * when the route is known, and only the delta is encoded per event.
 *
 * @since 0.1.0
 * @category encoding
 */
export const chunker = (id: string, created: number, includeUsage: boolean) => {
  let head = ""
  let started = false
  const calls = new Map<string, number>()
  const streamed = new Set<string>()
  /** Messages whose text came as deltas: one that finishes without any is sent whole. */
  const texted = new Set<string>()
  const frame = (delta: string, finish = "null") => `${head}${delta},"logprobs":null,"finish_reason":${finish}}]}\n\n`
  /** The fields every chunk of the stream shares, up to (not including) its choices. */
  let envelope = ""
  const setModel = (model: string) => {
    envelope = `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},`
    head = `${envelope}"choices":[{"index":0,"delta":`
  }
  setModel("")
  const start = (): string => {
    if (started) return ""
    started = true
    return frame('{"role":"assistant","content":"","refusal":null}')
  }
  const callIndex = (callId: string, name: string): { readonly index: number; readonly announce: string } => {
    const known = calls.get(callId)
    if (known !== undefined) return { index: known, announce: "" }
    const index = calls.size
    calls.set(callId, index)
    const call = { index, id: callId, type: "function", function: { name, arguments: "" } }
    return { index, announce: frame(`{"tool_calls":[${JSON.stringify(call)}]}`) }
  }
  const argumentsFrame = (index: number, text: string) =>
    frame(`{"tool_calls":[{"index":${index},"function":{"arguments":${JSON.stringify(text)}}}]}`)
  return (event: ChatEvent.ChatEvent | Router.RouteChosen): string => {
    switch (event._tag) {
      case "RouteChosen":
        setModel(event.route.served.model)
        return start()
      case "TextDelta":
        texted.add(event.itemId)
        return `${start()}${frame(`{"content":${JSON.stringify(event.delta)}}`)}`
      case "OutputItemDone": {
        const item = event.item
        if (item.type !== "message" || texted.has(item.id)) return ""
        const text = item.content.flatMap((content) => (content.type === "output_text" ? [content.text] : [])).join("")
        return text.length === 0 ? "" : `${start()}${frame(`{"content":${JSON.stringify(text)}}`)}`
      }
      case "ToolCallDelta": {
        const { index, announce } = callIndex(event.callId, event.name)
        streamed.add(event.callId)
        return `${start()}${announce}${argumentsFrame(index, event.delta)}`
      }
      case "ToolCallDone": {
        const { index, announce } = callIndex(event.callId, event.name)
        return `${start()}${announce}${streamed.has(event.callId) ? "" : argumentsFrame(index, event.arguments)}`
      }
      case "Completed": {
        const finish = frame("{}", calls.size > 0 ? '"tool_calls"' : '"stop"')
        const usage = includeUsage ? `${envelope}"choices":[],"usage":${JSON.stringify(usageOf(event.usage))}}\n\n` : ""
        return `${start()}${finish}${usage}`
      }
      default:
        return ""
    }
  }
}

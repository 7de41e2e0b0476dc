/**
 * The OpenAI Responses API on the Codex backend: a `/v1/responses` body (instructions, input items,
 * function tools, reasoning, `text.format`) as a routed Codex turn, and the turn's events as a
 * `response` object or as the Responses stream events (`response.created` … `response.completed`).
 *
 * The backend keeps no state (`store: false`): `previous_response_id` and `background` are refused;
 * reasoning items given back as input are dropped (their encrypted content is tied to the account
 * that made them, and the router may pick another); tools other than functions are dropped.
 *
 * @since 0.1.0
 */
import type { ChatEvent, ChatRequest } from "@nexus/provider-codex"
import type { Router } from "@nexus/router"
import { Schema } from "effect"
import { conversation, DROPPED as CHAT_DROPPED, type InputMessage, UnsupportedRequest } from "./OpenAiChat.ts"

const Content = Schema.Union([
  Schema.String,
  Schema.Array(
    Schema.StructWithRest(Schema.Struct({ type: Schema.String }), [Schema.Record(Schema.String, Schema.Unknown)])
  )
])

const Item = Schema.StructWithRest(Schema.Struct({ type: Schema.optional(Schema.String) }), [
  Schema.Record(Schema.String, Schema.Unknown)
])

/**
 * A `/v1/responses` body, as far as Nexus reads it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ResponsesRequest = Schema.Struct({
  model: Schema.String,
  input: Schema.Union([Schema.String, Schema.Array(Item)]),
  instructions: Schema.optional(Schema.NullOr(Schema.String)),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  tools: Schema.optional(Schema.NullOr(Schema.Array(Item))),
  tool_choice: Schema.optional(Schema.Unknown),
  parallel_tool_calls: Schema.optional(Schema.NullOr(Schema.Boolean)),
  reasoning: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        effort: Schema.optional(Schema.NullOr(Schema.String)),
        summary: Schema.optional(Schema.NullOr(Schema.String))
      })
    )
  ),
  text: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        format: Schema.optional(Schema.Unknown),
        verbosity: Schema.optional(Schema.NullOr(Schema.Literals(["low", "medium", "high"])))
      })
    )
  ),
  prompt_cache_key: Schema.optional(Schema.NullOr(Schema.String))
})

/**
 * @since 0.1.0
 * @category models
 */
export type ResponsesRequest = typeof ResponsesRequest.Type

/** Parameters dropped on `/v1/responses` (those of Chat Completions that exist here too, and more). */
const DROPPED = [
  ...CHAT_DROPPED.filter((name) => name !== "max_tokens" && name !== "max_completion_tokens"),
  "max_output_tokens",
  "include",
  "truncation",
  "client_metadata",
  "safety_identifier",
  "prompt_cache_retention"
]

const REFUSED = ["previous_response_id", "background", "conversation", "prompt"] as const

/** A content part of a Responses message as a Chat Completions one (text or image). */
const partOf = (part: { readonly type: string; readonly [key: string]: unknown }) => {
  switch (part.type) {
    case "input_text":
    case "output_text":
      return { type: "text", text: part.text }
    case "refusal":
      return { type: "text", text: part.refusal }
    case "input_image":
      return { type: "image_url", image_url: part.image_url }
    default:
      return part
  }
}

const outputText = (output: unknown): string =>
  typeof output === "string"
    ? output
    : Array.isArray(output)
      ? output
          .flatMap((part) =>
            typeof part === "object" && part !== null && typeof part.text === "string" ? [part.text] : []
          )
          .join("\n")
      : JSON.stringify(output)

/** The input items as Chat Completions messages; reasoning items dropped, unknown ones refused. */
const messagesOf = (input: ResponsesRequest["input"]): Array<InputMessage> | UnsupportedRequest => {
  if (typeof input === "string") return [{ role: "user", content: input }]
  const messages: Array<InputMessage> = []
  for (const [index, item] of input.entries()) {
    const type = item.type ?? (typeof item.role === "string" ? "message" : undefined)
    switch (type) {
      case "message": {
        const content = Schema.decodeUnknownOption(Content)(item.content)
        if (content._tag === "None" || typeof item.role !== "string") {
          return new UnsupportedRequest({
            param: `input[${index}]`,
            detail: `input[${index}]: a message needs a role and a content (a string or parts)`
          })
        }
        const parts = content.value
        messages.push({
          role: item.role,
          content: typeof parts === "string" ? parts : parts.map(partOf)
        })
        break
      }
      case "function_call":
        messages.push({
          role: "assistant",
          content: "",
          tool_calls: [{ id: item.call_id, type: "function", function: { name: item.name, arguments: item.arguments } }]
        })
        break
      case "function_call_output":
        messages.push({
          role: "tool",
          content: outputText(item.output),
          ...(typeof item.call_id === "string" ? { tool_call_id: item.call_id } : {})
        })
        break
      case "reasoning":
        break
      default:
        return new UnsupportedRequest({
          param: `input[${index}]`,
          detail: `input[${index}]: an item of type ${JSON.stringify(type)} (message, function_call, function_call_output and reasoning are supported)`
        })
    }
  }
  return messages
}

/** `text.format` as a Chat Completions `response_format`. */
const formatOf = (format: unknown): unknown => {
  if (typeof format !== "object" || format === null) return undefined
  const value = format as Record<string, unknown>
  if (value.type === "json_schema") {
    return { type: "json_schema", json_schema: { name: value.name, schema: value.schema, strict: value.strict } }
  }
  return value
}

/**
 * A Responses request as a Codex conversation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Mapped {
  readonly conversation: Router.Conversation
  readonly effort: string | undefined
  readonly stream: boolean
  readonly dropped: ReadonlyArray<string>
}

/**
 * Maps a decoded body (and the raw one, for the parameters Nexus does not read).
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromRequest = (
  body: ResponsesRequest,
  raw: Readonly<Record<string, unknown>>
): Mapped | UnsupportedRequest => {
  for (const name of REFUSED) {
    if (raw[name] !== undefined && raw[name] !== null && raw[name] !== false) {
      return new UnsupportedRequest({
        param: name,
        detail: `${name} is not supported: the ChatGPT Codex backend keeps no responses (store is always false); send the whole conversation as input`
      })
    }
  }
  const messages = messagesOf(body.input)
  if (messages instanceof UnsupportedRequest) return messages
  const tools = (body.tools ?? []).filter((tool) => tool.type === "function")
  const skippedTools = (body.tools ?? []).length - tools.length
  const mapped = conversation(messages, {
    tools: tools.map((tool) => ({
      name: tool.name,
      description: tool.description ?? undefined,
      parameters: tool.parameters ?? undefined,
      strict: tool.strict ?? undefined
    })),
    tool_choice: body.tool_choice,
    response_format: formatOf(body.text?.format)
  })
  if (mapped instanceof UnsupportedRequest) return mapped
  if (typeof body.instructions === "string") mapped.instructions = body.instructions
  if (typeof body.parallel_tool_calls === "boolean") mapped.parallelToolCalls = body.parallel_tool_calls
  const summary = body.reasoning?.summary
  if (summary === "auto" || summary === "concise" || summary === "detailed") mapped.reasoningSummary = summary
  if (body.text?.verbosity) mapped.verbosity = body.text.verbosity
  if (typeof body.prompt_cache_key === "string" && body.prompt_cache_key.length > 0) {
    mapped.conversationId = body.prompt_cache_key
  }
  return {
    conversation: mapped,
    effort: body.reasoning?.effort ?? undefined,
    stream: body.stream === true,
    dropped: [
      ...DROPPED.filter((name) => raw[name] !== undefined && raw[name] !== null),
      ...(skippedTools > 0 ? ["tools (other than functions)"] : [])
    ]
  }
}

// ---------------------------------------------------------------------------------------------
// The response
// ---------------------------------------------------------------------------------------------

/**
 * The Responses API's `usage` of a turn.
 *
 * @since 0.1.0
 * @category encoding
 */
export const usageOf = (usage: ChatEvent.Usage) => ({
  input_tokens: usage.inputTokens,
  input_tokens_details: { cached_tokens: usage.cachedTokens },
  output_tokens: usage.outputTokens,
  output_tokens_details: { reasoning_tokens: usage.reasoningTokens },
  total_tokens: usage.totalTokens
})

/**
 * The `response` object, as `response.created` and `response.completed` carry it and as a
 * non-streamed request gets it.
 *
 * @since 0.1.0
 * @category encoding
 */
export const responseObject = (
  base: {
    readonly id: string
    readonly createdAt: number
    readonly model: string
    readonly request: ChatRequest.ChatRequest | Router.Conversation
  },
  status: "in_progress" | "completed",
  output: ReadonlyArray<ChatEvent.OutputItem>,
  usage: ChatEvent.Usage | undefined
) => ({
  id: base.id,
  object: "response",
  created_at: base.createdAt,
  status,
  error: null,
  incomplete_details: null,
  instructions: base.request.instructions ?? null,
  model: base.model,
  output,
  parallel_tool_calls: base.request.parallelToolCalls ?? false,
  tool_choice: base.request.toolChoice ?? "auto",
  tools: (base.request.tools ?? []).map((tool) => ({ type: "function", ...tool })),
  store: false,
  usage: usage === undefined ? null : usageOf(usage),
  metadata: {}
})

/**
 * Turns a routed stream's events into Responses stream events, one call per event, numbered in
 * order: `response.created` and `response.in_progress` when the route is chosen, each output item
 * announced before its deltas and closed with its final shape, `response.completed` with every
 * item and the usage.
 *
 * @since 0.1.0
 * @category encoding
 */
export const streamer = (base: {
  readonly id: string
  readonly createdAt: number
  readonly request: Router.Conversation
}) => {
  let sequence = 0
  let model = ""
  const output: Array<ChatEvent.OutputItem> = []
  /** The open items: item id → output index. */
  const open = new Map<string, number>()
  let nextIndex = 0
  const event = (type: string, data: Record<string, unknown>) => ({ type, sequence_number: sequence++, ...data })
  const opened = (itemId: string, item: Record<string, unknown>, out: Array<{ readonly type: string }>): number => {
    const known = open.get(itemId)
    if (known !== undefined) return known
    const index = nextIndex++
    open.set(itemId, index)
    out.push(event("response.output_item.added", { output_index: index, item }))
    if (item.type === "message") {
      out.push(
        event("response.content_part.added", {
          item_id: itemId,
          output_index: index,
          content_index: 0,
          part: { type: "output_text", text: "", annotations: [] }
        })
      )
    }
    return index
  }
  const object = (status: "in_progress" | "completed", usage?: ChatEvent.Usage) =>
    responseObject({ ...base, model }, status, status === "completed" ? output : [], usage)
  const next = (input: ChatEvent.ChatEvent | Router.RouteChosen): ReadonlyArray<{ readonly type: string }> => {
    const out: Array<{ readonly type: string }> = []
    switch (input._tag) {
      case "RouteChosen":
        model = input.route.served.model
        out.push(event("response.created", { response: object("in_progress") }))
        out.push(event("response.in_progress", { response: object("in_progress") }))
        return out
      case "TextDelta": {
        const index = opened(
          input.itemId,
          { type: "message", id: input.itemId, role: "assistant", status: "in_progress", content: [] },
          out
        )
        out.push(
          event("response.output_text.delta", {
            item_id: input.itemId,
            output_index: index,
            content_index: 0,
            delta: input.delta,
            logprobs: []
          })
        )
        return out
      }
      case "ToolCallDelta":
      case "ToolCallDone": {
        const index = opened(
          input.itemId,
          {
            type: "function_call",
            id: input.itemId,
            call_id: input.callId,
            name: input.name,
            arguments: "",
            status: "in_progress"
          },
          out
        )
        out.push(
          input._tag === "ToolCallDelta"
            ? event("response.function_call_arguments.delta", {
                item_id: input.itemId,
                output_index: index,
                delta: input.delta
              })
            : event("response.function_call_arguments.done", {
                item_id: input.itemId,
                output_index: index,
                arguments: input.arguments
              })
        )
        return out
      }
      case "OutputItemDone": {
        const item = input.item
        const itemId = item.type === "function_call" ? (item.id ?? item.call_id) : item.id
        const index = opened(itemId, item.type === "reasoning" ? { ...item, summary: [] } : { ...item }, out)
        if (item.type === "message") {
          const text = item.content.flatMap((part) => (part.type === "output_text" ? [part.text] : [])).join("")
          out.push(
            event("response.output_text.done", {
              item_id: itemId,
              output_index: index,
              content_index: 0,
              text,
              logprobs: []
            })
          )
          out.push(
            event("response.content_part.done", {
              item_id: itemId,
              output_index: index,
              content_index: 0,
              part: { type: "output_text", text, annotations: [] }
            })
          )
        }
        out.push(event("response.output_item.done", { output_index: index, item }))
        output.push(item)
        return out
      }
      case "Completed":
        out.push(event("response.completed", { response: { ...object("completed", input.usage), id: base.id } }))
        return out
      default:
        return out
    }
  }
  /**
   * A failure after the stream started, as the Codex CLI reads one: `response.failed` with the
   * error (`type`, `code`, `message`, and `resets_at` for a usage limit), numbered in order.
   */
  const failed = (error: {
    readonly type: string
    readonly code: string | null
    readonly message: string
    readonly resetsAt?: number | undefined
  }) =>
    event("response.failed", {
      response: {
        ...object("in_progress"),
        status: "failed",
        error: {
          type: error.type,
          code: error.code,
          message: error.message,
          ...(error.resetsAt === undefined ? {} : { resets_at: error.resetsAt })
        }
      }
    })
  return { next, failed }
}

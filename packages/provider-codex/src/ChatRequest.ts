/**
 * A chat request as Nexus callers write it, and its mapping to exactly the Responses request the
 * Codex backend expects (protocol §6.3, §12): developer messages instead of a system role,
 * `instructions` always present, `store: false`, `stream: true`, typed input items, reasoning with
 * encrypted content, verbosity, structured output, function tools.
 *
 * @since 0.1.0
 */

import { Schema } from "effect"

/**
 * A JSON object, such as a JSON schema.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonObject = Schema.Record(Schema.String, Schema.Unknown)

/**
 * A part of a message's content.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Part = Schema.Union([
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({ type: Schema.Literal("image"), url: Schema.String })
])

/**
 * @since 0.1.0
 * @category models
 */
export type Part = typeof Part.Type

/**
 * A tool call the assistant made earlier in the conversation.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCall = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  /** JSON text, as the model produced it. */
  arguments: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export type ToolCall = typeof ToolCall.Type

/**
 * One message of the conversation.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Message = Schema.Struct({
  role: Schema.Literals(["system", "developer", "user", "assistant", "tool"]),
  content: Schema.Union([Schema.String, Schema.Array(Part)]),
  /** For `tool` messages: the call this is the result of. */
  toolCallId: Schema.optional(Schema.String),
  /** For `assistant` messages: the calls it made. */
  toolCalls: Schema.optional(Schema.Array(ToolCall))
})

/**
 * @since 0.1.0
 * @category models
 */
export type Message = typeof Message.Type

/**
 * A function the model may call.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Tool = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.String),
  /** A JSON schema for the arguments. */
  parameters: JsonObject,
  strict: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Tool = typeof Tool.Type

/**
 * A chat request: what a caller (or a queue message) asks of a turn. Decode untrusted input with
 * it, e.g. `Schema.decodeUnknownEffect(ChatRequest)(payload)`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Message),
  /** The base prompt; the configured default when absent (the backend requires the field). */
  instructions: Schema.optional(Schema.String),
  /** One the model's catalog entry lists (`minimal` … `xhigh`, `max`, `ultra`…); another is dropped with a warning. */
  reasoningEffort: Schema.optional(Schema.String),
  reasoningSummary: Schema.optional(Schema.Literals(["auto", "concise", "detailed"])),
  verbosity: Schema.optional(Schema.Literals(["low", "medium", "high"])),
  tools: Schema.optional(Schema.Array(Tool)),
  toolChoice: Schema.optional(
    Schema.Union([Schema.Literals(["auto", "none", "required"]), Schema.Struct({ name: Schema.String })])
  ),
  parallelToolCalls: Schema.optional(Schema.Boolean),
  /**
   * Structured output: the reply is JSON satisfying this schema — or, with `{ type: "json_object" }`,
   * any JSON object.
   */
  responseFormat: Schema.optional(
    Schema.Union([
      Schema.Struct({ name: Schema.String, schema: JsonObject, strict: Schema.optional(Schema.Boolean) }),
      Schema.Struct({ type: Schema.Literal("json_object") })
    ])
  ),
  /** Keeps the backend's prompt cache across the turns of one conversation. */
  conversationId: Schema.optional(Schema.String),
  /** Options of the public API that this backend refuses: dropped with a warning (protocol §12). */
  temperature: Schema.optional(Schema.Finite),
  topP: Schema.optional(Schema.Finite),
  maxOutputTokens: Schema.optional(Schema.Int)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ChatRequest = typeof ChatRequest.Type

/**
 * The Responses request body, and what was dropped from the request on the way.
 *
 * @since 0.1.0
 * @category models
 */
export interface Mapped {
  readonly body: Record<string, unknown>
  /** One line per option the backend cannot take, e.g. "temperature is not supported …; dropped". */
  readonly warnings: ReadonlyArray<string>
}

const textPart = (role: Message["role"], text: string) => ({
  type: role === "assistant" ? "output_text" : "input_text",
  text
})

const contentOf = (message: Message) =>
  typeof message.content === "string"
    ? [textPart(message.role, message.content)]
    : message.content.map((part) =>
        part.type === "text" ? textPart(message.role, part.text) : { type: "input_image", image_url: part.url }
      )

const textOf = (content: Message["content"]) =>
  typeof content === "string"
    ? content
    : content.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("\n")

/** The request's messages as Responses input items (protocol §6.3). */
const inputOf = (messages: ReadonlyArray<Message>): Array<Record<string, unknown>> =>
  messages.flatMap((message): Array<Record<string, unknown>> => {
    switch (message.role) {
      case "system":
      case "developer":
        // The backend refuses a system role: system prompts travel as developer messages.
        return [{ type: "message", role: "developer", content: contentOf({ ...message, role: "developer" }) }]
      case "user":
        return [{ type: "message", role: "user", content: contentOf(message) }]
      case "assistant": {
        const text = textOf(message.content)
        return [
          ...(text.length > 0 ? [{ type: "message", role: "assistant", content: contentOf(message) }] : []),
          ...(message.toolCalls ?? []).map((call) => ({
            type: "function_call",
            call_id: call.id,
            name: call.name,
            arguments: call.arguments
          }))
        ]
      }
      case "tool":
        return [{ type: "function_call_output", call_id: message.toolCallId ?? "", output: textOf(message.content) }]
    }
  })

/** The Responses `text.format` of a structured-output request. */
const formatOf = (format: NonNullable<ChatRequest["responseFormat"]>) =>
  "type" in format
    ? { type: format.type }
    : { type: "json_schema", name: format.name, schema: format.schema, strict: format.strict ?? true }

/**
 * Maps a chat request to the Responses body the Codex backend expects.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toResponsesBody = (
  request: ChatRequest,
  defaults: {
    readonly instructions: string
    /** The reasoning efforts the model accepts (from the catalog); another one is dropped with a warning. */
    readonly efforts?: ReadonlyArray<string> | undefined
  }
): Mapped => {
  const warnings: Array<string> = []
  for (const [option, value] of [
    ["temperature", request.temperature],
    ["topP", request.topP],
    ["maxOutputTokens", request.maxOutputTokens]
  ] as const) {
    if (value !== undefined) {
      warnings.push(
        `${option} is not supported by the ChatGPT Codex backend (it answers 400 Unsupported parameter); dropped`
      )
    }
  }
  let effort = request.reasoningEffort
  if (effort !== undefined && defaults.efforts !== undefined && !defaults.efforts.includes(effort)) {
    warnings.push(
      defaults.efforts.length === 0
        ? `reasoningEffort is not supported by ${request.model} (it does not reason); dropped`
        : `reasoningEffort "${effort}" is not supported by ${request.model} (it takes ${defaults.efforts.join(", ")}); dropped`
    )
    effort = undefined
  }
  const reasoning =
    effort !== undefined || request.reasoningSummary !== undefined
      ? {
          ...(effort ? { effort } : {}),
          ...(request.reasoningSummary ? { summary: request.reasoningSummary } : {})
        }
      : undefined
  const text =
    request.verbosity !== undefined || request.responseFormat !== undefined
      ? {
          ...(request.verbosity ? { verbosity: request.verbosity } : {}),
          ...(request.responseFormat ? { format: formatOf(request.responseFormat) } : {})
        }
      : undefined
  const tools = request.tools ?? []
  const body: Record<string, unknown> = {
    model: request.model,
    instructions: request.instructions ?? defaults.instructions,
    input: inputOf(request.messages),
    ...(tools.length > 0
      ? {
          tools: tools.map((tool) => ({
            type: "function",
            name: tool.name,
            ...(tool.description ? { description: tool.description } : {}),
            strict: tool.strict ?? false,
            parameters: tool.parameters
          }))
        }
      : {}),
    ...(request.toolChoice !== undefined
      ? {
          tool_choice:
            typeof request.toolChoice === "string"
              ? request.toolChoice
              : { type: "function", name: request.toolChoice.name }
        }
      : tools.length > 0
        ? { tool_choice: "auto" }
        : {}),
    ...(tools.length > 0 ? { parallel_tool_calls: request.parallelToolCalls ?? false } : {}),
    ...(reasoning ? { reasoning, include: ["reasoning.encrypted_content"] } : {}),
    store: false,
    stream: true,
    ...(request.conversationId ? { prompt_cache_key: request.conversationId } : {}),
    ...(text ? { text } : {})
  }
  return { body, warnings }
}

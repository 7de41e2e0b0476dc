/**
 * A chat request as Nexus callers write it, and its mapping to exactly the Responses request the
 * Codex backend expects (protocol §6.3, §12): developer messages instead of a system role,
 * `instructions` always present, `store: false`, `stream: true`, typed input items, reasoning with
 * encrypted content, verbosity, structured output, function tools.
 *
 * @since 0.1.0
 */

/**
 * A part of a message's content.
 *
 * @since 0.1.0
 * @category models
 */
export type Part = { readonly type: "text"; readonly text: string } | { readonly type: "image"; readonly url: string }

/**
 * A tool call the assistant made earlier in the conversation.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCall {
  readonly id: string
  readonly name: string
  /** JSON text, as the model produced it. */
  readonly arguments: string
}

/**
 * One message of the conversation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Message {
  readonly role: "system" | "developer" | "user" | "assistant" | "tool"
  readonly content: string | ReadonlyArray<Part>
  /** For `tool` messages: the call this is the result of. */
  readonly toolCallId?: string | undefined
  /** For `assistant` messages: the calls it made. */
  readonly toolCalls?: ReadonlyArray<ToolCall> | undefined
}

/**
 * A function the model may call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tool {
  readonly name: string
  readonly description?: string | undefined
  /** A JSON schema for the arguments. */
  readonly parameters: Record<string, unknown>
  readonly strict?: boolean | undefined
}

/**
 * A chat request.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatRequest {
  readonly model: string
  readonly messages: ReadonlyArray<Message>
  /** The base prompt; the configured default when absent (the backend requires the field). */
  readonly instructions?: string | undefined
  /** One the model's catalog entry lists (`minimal` … `xhigh`, `max`, `ultra`…); another is dropped with a warning. */
  readonly reasoningEffort?: string | undefined
  readonly reasoningSummary?: "auto" | "concise" | "detailed" | undefined
  readonly verbosity?: "low" | "medium" | "high" | undefined
  readonly tools?: ReadonlyArray<Tool> | undefined
  readonly toolChoice?: "auto" | "none" | "required" | { readonly name: string } | undefined
  readonly parallelToolCalls?: boolean | undefined
  /** Structured output: the reply is JSON satisfying this schema. */
  readonly responseFormat?:
    | { readonly name: string; readonly schema: Record<string, unknown>; readonly strict?: boolean | undefined }
    | undefined
  /** Keeps the backend's prompt cache across the turns of one conversation. */
  readonly conversationId?: string | undefined
  /** Options of the public API that this backend refuses: dropped with a warning (protocol §12). */
  readonly temperature?: number | undefined
  readonly topP?: number | undefined
  readonly maxOutputTokens?: number | undefined
}

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
          ...(request.responseFormat
            ? {
                format: {
                  type: "json_schema",
                  name: request.responseFormat.name,
                  schema: request.responseFormat.schema,
                  strict: request.responseFormat.strict ?? true
                }
              }
            : {})
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

// effect/ai's provider options as the parts of a Codex chat request they decide: the prompt's
// messages, the tools and the tool choice, the structured output. Used by CodexLanguageModel.makeWith.
import { Effect, Schema } from "effect"
import { AiError, LanguageModel, OpenAiStructuredOutput, Prompt, type Response, Tool } from "effect/ai"
import { Base64 } from "effect/encoding"
import type { ChatRequest, Message, Part, Tool as FunctionTool } from "../ChatRequest.ts"

/** What a prompt becomes: the parts of a chat request that effect/ai options decide. */
export type Prompted = Pick<ChatRequest, "messages" | "tools" | "toolChoice" | "responseFormat">

/** Makes an AiError of a reason, for the module and method at hand. */
export type Fail = (reason: AiError.AiErrorReason) => AiError.AiError

export const failWith =
  (module: string, method: string): Fail =>
  (reason) =>
    AiError.make({ module, method, reason })

/**
 * A schema as the backend's structured outputs take it: strict (every property required, no
 * others; optional ones nullable) through `effect/ai`'s OpenAI transform when the schema allows it
 * (an object at the root), else as it is and not strict — the backend refuses a strict schema that
 * is not.
 */
export const structured = <T, E, RD, RE>(schema: Schema.ConstraintCodec<T, E, RD, RE>) => {
  // The transform throws for a root it cannot make strict; that schema goes as it is.
  try {
    return { ...OpenAiStructuredOutput.toCodecOpenAI(schema), strict: true }
  } catch {
    return { ...LanguageModel.defaultCodecTransformer(schema), strict: false }
  }
}

/**
 * The codec transformer of `CodexLanguageModel.makeWith`: `generateObject` decodes what {@link structured}
 * asked for.
 */
export const codecTransformer: LanguageModel.CodecTransformer = (schema) => {
  const { codec, jsonSchema } = structured(schema)
  return { codec, jsonSchema }
}

/** A response format's name as the backend takes it: `^[A-Za-z0-9_-]{1,64}$`. */
const formatName = (name: string): string => name.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64) || "output"

/** An image's URL: as given, or a data: URL of its bytes (base64 when given as a string). */
const imageUrl = (part: Prompt.FilePart): string => {
  if (part.data instanceof URL) return part.data.href
  if (typeof part.data === "string" && /^(?:https?|data):/i.test(part.data)) return part.data
  const mediaType = part.mediaType === "image/*" ? "image/jpeg" : part.mediaType
  return `data:${mediaType};base64,${typeof part.data === "string" ? part.data : Base64.encode(part.data)}`
}

const userContent = (message: Prompt.UserMessage, fail: Fail): Effect.Effect<Array<Part>, AiError.AiError> => {
  const parts: Array<Part> = []
  for (const part of message.content) {
    if (part.type === "text") parts.push({ type: "text", text: part.text })
    else if (part.mediaType.startsWith("image/")) parts.push({ type: "image", url: imageUrl(part) })
    else {
      return Effect.fail(
        fail(
          new AiError.InvalidRequestError({
            parameter: "prompt",
            description: `the ChatGPT Codex backend takes images, not ${part.mediaType} files`
          })
        )
      )
    }
  }
  return Effect.succeed(parts)
}

/** An assistant message's text and calls; its reasoning cannot be replayed here, and is dropped. */
const assistantMessages = (message: Prompt.AssistantMessage): Array<Message> => {
  let text = ""
  const toolCalls: Array<{ id: string; name: string; arguments: string }> = []
  for (const part of message.content) {
    if (part.type === "text") text += part.text
    else if (part.type === "tool-call" && !part.providerExecuted) {
      toolCalls.push({ id: part.id, name: part.name, arguments: JSON.stringify(part.params ?? {}) })
    }
  }
  if (text.length === 0 && toolCalls.length === 0) return []
  return [{ role: "assistant", content: text, ...(toolCalls.length > 0 ? { toolCalls } : {}) }]
}

/** Each tool result as a tool message: its model output as text when given, else its JSON. */
const toolMessages = (message: Prompt.ToolMessage): Array<Message> =>
  message.content.flatMap((part): Array<Message> =>
    part.type === "tool-result"
      ? [
          {
            role: "tool",
            toolCallId: part.id,
            content:
              part.modelOutput === undefined
                ? (JSON.stringify(part.result) ?? "null")
                : Prompt.toolModelOutputToText(part.modelOutput)
          }
        ]
      : []
  )

/**
 * The prompt's messages as a chat request's: system messages as system (sent as developer), user
 * text and images, assistant text and tool calls, tool results as tool messages.
 */
export const toMessages = Effect.fnUntraced(function* (prompt: Prompt.Prompt, fail: Fail) {
  const messages: Array<Message> = []
  for (const message of prompt.content) {
    switch (message.role) {
      case "system":
        messages.push({ role: "system", content: message.content })
        break
      case "user":
        messages.push({ role: "user", content: yield* userContent(message, fail) })
        break
      case "assistant":
        messages.push(...assistantMessages(message))
        break
      case "tool":
        messages.push(...toolMessages(message))
        break
    }
  }
  return messages
})

const toolChoiceOf = (choice: LanguageModel.ToolChoice<string>): ChatRequest["toolChoice"] => {
  if (typeof choice === "string") return choice
  if ("tool" in choice) return { name: choice.tool }
  // `oneOf`: effect/ai offers only those tools already.
  return choice.mode === "required" ? "required" : "auto"
}

/**
 * The offered tools as function tools: non-strict with the tool's JSON schema, or strict (see
 * {@link structured}) when the tool is annotated `Tool.Strict` and its schema allows it — the
 * strict tools' schemas are answered too, since their calls' parameters come back in the strict
 * shape. Provider-defined tools are refused: this backend runs none of them.
 */
export const toTools = Effect.fnUntraced(function* (tools: ReadonlyArray<Tool.Any>, fail: Fail) {
  const functions: Array<FunctionTool> = []
  const strictTools = new Map<string, Schema.Top>()
  for (const tool of tools) {
    if (Tool.isProviderDefined(tool)) {
      return yield* fail(
        new AiError.ToolConfigurationError({
          toolName: tool.name,
          description:
            "the ChatGPT Codex backend runs no provider-defined tools; define it with Tool.make and handle it in a Toolkit"
        })
      )
    }
    const description = Tool.getDescription(tool)
    const strict =
      Tool.getStrictMode(tool) === true && Schema.isSchema(tool.parametersSchema)
        ? structured(tool.parametersSchema)
        : undefined
    if (strict?.strict === true) strictTools.set(tool.name, tool.parametersSchema)
    functions.push({
      name: tool.name,
      ...(description === undefined ? {} : { description }),
      parameters: strict?.strict === true ? strict.jsonSchema : Tool.getJsonSchema(tool),
      strict: strict?.strict === true
    })
  }
  return { functions, strictTools }
})

/**
 * The `effect/ai` provider options as the parts of a chat request they decide, and the strict
 * tools (see {@link toTools}).
 */
export const toPrompted = Effect.fnUntraced(function* (options: LanguageModel.ProviderOptions, fail: Fail) {
  const messages = yield* toMessages(options.prompt, fail)
  const { functions, strictTools } = yield* toTools(options.tools, fail)
  const format = options.responseFormat
  const output =
    format.type === "json"
      ? yield* Effect.try({
          try: () => structured(format.schema),
          catch: (error) =>
            fail(
              new AiError.UnsupportedSchemaError({
                description: error instanceof Error ? error.message : String(error)
              })
            )
        })
      : undefined
  const prompted: Prompted = {
    messages,
    ...(functions.length > 0 ? { tools: functions, toolChoice: toolChoiceOf(options.toolChoice) } : {}),
    ...(format.type === "json" && output !== undefined
      ? { responseFormat: { name: formatName(format.objectName), schema: output.jsonSchema, strict: output.strict } }
      : {})
  }
  return { prompted, strictTools }
})

/** A strict tool's call parameters in the tool's own encoding (absent for null optional ones). */
export const strictParams =
  (strictTools: ReadonlyMap<string, Schema.Top>) =>
  (part: Response.StreamPartEncoded): Effect.Effect<Response.StreamPartEncoded> => {
    const schema = part.type === "tool-call" ? strictTools.get(part.name) : undefined
    if (part.type !== "tool-call" || schema === undefined) return Effect.succeed(part)
    // The schema's services, if any, are the Toolkit's, which the caller of generateText or
    // streamText provides: this runs in that caller's context.
    const decode = Schema.decodeUnknownEffect(structured(schema).codec) as (
      input: unknown
    ) => Effect.Effect<unknown, Schema.SchemaError>
    const encode = Schema.encodeUnknownEffect(schema) as (input: unknown) => Effect.Effect<unknown, Schema.SchemaError>
    // Parameters that do not decode go as they came: the Toolkit reports them per the tool's failure mode.
    return decode(part.params).pipe(
      Effect.flatMap(encode),
      Effect.map((params): Response.StreamPartEncoded => ({ ...part, params })),
      Effect.orElseSucceed(() => part)
    )
  }

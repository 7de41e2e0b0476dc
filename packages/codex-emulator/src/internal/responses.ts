// What POST /responses answers: validation as the backend does it (protocol §6.3, §12) and a
// deterministic reply rendered as the real SSE event sequence (protocol §7).
import { createHash } from "node:crypto"
import type { ScriptedReply } from "../Domain.ts"

/** Parameters the ChatGPT backend refuses (the public Responses API takes them, this one does not). */
const UNSUPPORTED_PARAMETERS = [
  "temperature",
  "top_p",
  "max_output_tokens",
  "max_tokens",
  "frequency_penalty",
  "presence_penalty",
  "seed",
  "logprobs",
  "top_logprobs",
  "n",
  "stop"
]

type Json = Record<string, unknown>
const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

/** A validation failure: the 400 body the backend answers with. */
export interface Invalid {
  readonly status: number
  readonly detail: string
}

export const validate = (
  body: unknown,
  options: { readonly strict: boolean; readonly models: ReadonlySet<string> }
): Invalid | undefined => {
  if (!isObject(body)) return { status: 400, detail: "Request body must be a JSON object" }
  if (body.store !== false) return { status: 400, detail: "Store must be set to false" }
  if (body.stream !== true) return { status: 400, detail: "Stream must be set to true" }
  if (!Array.isArray(body.input)) return { status: 400, detail: "Input must be a list" }
  if (options.strict && typeof body.instructions !== "string")
    return { status: 400, detail: "Instructions are required" }
  if (typeof body.model !== "string" || body.model.length === 0) return { status: 400, detail: "Model is required" }
  if (!options.models.has(body.model)) {
    return {
      status: 400,
      detail: `The '${body.model}' model is not supported when using Codex with a ChatGPT account.`
    }
  }
  for (const parameter of UNSUPPORTED_PARAMETERS) {
    if (parameter in body) return { status: 400, detail: `Unsupported parameter: ${parameter}` }
  }
  for (const item of body.input) {
    if (!isObject(item)) return { status: 400, detail: "Input items must be objects" }
    if (item.role === "system") return { status: 400, detail: "System messages are not allowed" }
  }
  return undefined
}

const textOf = (content: unknown): string => {
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return ""
  let text = ""
  for (const part of content) {
    if (isObject(part) && typeof part.text === "string") text += (text ? "\n" : "") + part.text
  }
  return text
}

const estimateTokens = (chars: number) => Math.max(1, Math.ceil(chars / 4))

/** A value that satisfies a JSON schema, derived from the prompt so that it is deterministic. */
const sample = (schema: unknown, seed: string, depth = 0): unknown => {
  if (!isObject(schema) || depth > 8) return null
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0]
  if ("const" in schema) return schema.const
  const anyOf = schema.anyOf ?? schema.oneOf
  if (Array.isArray(anyOf) && anyOf.length > 0) return sample(anyOf[0], seed, depth + 1)
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type
  switch (type) {
    case "object": {
      const properties = isObject(schema.properties) ? schema.properties : {}
      const out: Json = {}
      for (const [name, property] of Object.entries(properties)) out[name] = sample(property, seed, depth + 1)
      return out
    }
    case "array": {
      const min = typeof schema.minItems === "number" ? schema.minItems : 1
      return Array.from({ length: min }, () => sample(schema.items, seed, depth + 1))
    }
    case "string":
      return typeof schema.minLength === "number" && seed.length < schema.minLength
        ? seed.padEnd(schema.minLength, ".")
        : seed
    case "integer":
      return typeof schema.minimum === "number" ? Math.ceil(schema.minimum) : seed.length
    case "number":
      return typeof schema.minimum === "number" ? schema.minimum : seed.length / 2
    case "boolean":
      return true
    case "null":
      return null
    default:
      return seed
  }
}

type Planned =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "ToolCall"; readonly name: string; readonly arguments: string }

const plan = (body: Json, replies: ReadonlyArray<ScriptedReply>): Planned => {
  const input = body.input as ReadonlyArray<Json>
  const last = input[input.length - 1]
  if (last?.type === "function_call_output") {
    const call = input.find((item) => item.type === "function_call" && item.call_id === last.call_id)
    const name = typeof call?.name === "string" ? call.name : "the tool"
    return {
      _tag: "Text",
      text: `${name} returned: ${typeof last.output === "string" ? last.output : JSON.stringify(last.output)}`
    }
  }
  let userText = ""
  for (let i = input.length - 1; i >= 0; i--) {
    const item = input[i]!
    if (item.role === "user") {
      userText = textOf(item.content)
      break
    }
  }
  for (const reply of replies) {
    if (!userText.includes(reply.match)) continue
    if (reply.toolCall) return { _tag: "ToolCall", name: reply.toolCall.name, arguments: reply.toolCall.arguments }
    return { _tag: "Text", text: reply.text ?? "" }
  }
  const tools = Array.isArray(body.tools) ? body.tools.filter(isObject) : []
  if (tools.length > 0 && body.tool_choice !== "none") {
    const asked = /\b(?:call|use|run)\s+(?:the\s+)?(?:tool\s+)?([A-Za-z_][\w.-]*)(?:\s+with\s+(\{.*\}))?/is.exec(
      userText
    )
    const tool = asked ? tools.find((t) => t.name === asked[1]) : undefined
    const forced =
      isObject(body.tool_choice) && typeof body.tool_choice.name === "string" ? body.tool_choice.name : undefined
    const chosen =
      tool ?? (forced || body.tool_choice === "required" ? tools.find((t) => !forced || t.name === forced) : undefined)
    if (chosen && typeof chosen.name === "string") {
      return { _tag: "ToolCall", name: chosen.name, arguments: tool && asked?.[2] ? asked[2] : "{}" }
    }
  }
  const format = isObject(body.text) && isObject(body.text.format) ? body.text.format : undefined
  if (format?.type === "json_schema") return { _tag: "Text", text: JSON.stringify(sample(format.schema, userText)) }
  if (format?.type === "json_object") return { _tag: "Text", text: JSON.stringify({ text: userText }) }
  return { _tag: "Text", text: userText }
}

/** Splits text into word-sized deltas, as a model streams it. */
const deltas = (text: string): Array<string> => {
  const out: Array<string> = []
  const re = /\s*\S+/g
  let match: RegExpExecArray | null
  let consumed = 0
  while ((match = re.exec(text)) !== null) {
    out.push(match[0])
    consumed = re.lastIndex
  }
  if (consumed < text.length) out.push(text.slice(consumed))
  return out.length > 0 ? out : [text]
}

/** One SSE event, framed as the backend frames it: `event:` then `data:`. */
export interface SseEvent {
  readonly type: string
  readonly data: Json
}

export const frame = (event: SseEvent): string => `event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`

/** The full event sequence for a successful turn. */
export const reply = (body: Json, replies: ReadonlyArray<ScriptedReply>, responseId: string, createdAt: number) => {
  const planned = plan(body, replies)
  const model = body.model as string
  const events: Array<SseEvent> = []
  let sequence = 0
  const push = (type: string, data: Json) => events.push({ type, data: { type, sequence_number: sequence++, ...data } })
  const base = { id: responseId, object: "response", created_at: createdAt, model }
  push("response.created", { response: { ...base, status: "in_progress", output: [] } })
  push("response.in_progress", { response: { ...base, status: "in_progress", output: [] } })

  const output: Array<Json> = []
  const suffix = responseId.slice(5)
  let reasoningTokens = 0
  const reasoning = isObject(body.reasoning) ? body.reasoning : undefined
  if (reasoning && typeof reasoning.summary === "string" && reasoning.summary !== "none") {
    const index = output.length
    const summary = `**Considering the request**\n\nThe user asked: ${planned._tag === "Text" ? planned.text.slice(0, 60) : `to call ${planned.name}`}.`
    const id = `rs_${suffix}`
    const include = Array.isArray(body.include) && body.include.includes("reasoning.encrypted_content")
    const item: Json = {
      type: "reasoning",
      id,
      summary: [{ type: "summary_text", text: summary }],
      ...(include ? { encrypted_content: createHash("sha256").update(summary).digest("base64") } : {})
    }
    push("response.output_item.added", { output_index: index, item: { type: "reasoning", id, summary: [] } })
    push("response.reasoning_summary_part.added", {
      item_id: id,
      output_index: index,
      summary_index: 0,
      part: { type: "summary_text", text: "" }
    })
    for (const delta of deltas(summary)) {
      push("response.reasoning_summary_text.delta", { item_id: id, output_index: index, summary_index: 0, delta })
    }
    push("response.reasoning_summary_text.done", { item_id: id, output_index: index, summary_index: 0, text: summary })
    push("response.reasoning_summary_part.done", {
      item_id: id,
      output_index: index,
      summary_index: 0,
      part: { type: "summary_text", text: summary }
    })
    push("response.output_item.done", { output_index: index, item })
    output.push(item)
    reasoningTokens = estimateTokens(summary.length)
  }

  let outputChars = 0
  const index = output.length
  if (planned._tag === "ToolCall") {
    const id = `fc_${suffix}`
    const callId = `call_${suffix}`
    const added = {
      type: "function_call",
      id,
      call_id: callId,
      name: planned.name,
      arguments: "",
      status: "in_progress"
    }
    push("response.output_item.added", { output_index: index, item: added })
    for (const delta of deltas(planned.arguments)) {
      push("response.function_call_arguments.delta", { item_id: id, output_index: index, delta })
    }
    push("response.function_call_arguments.done", { item_id: id, output_index: index, arguments: planned.arguments })
    const item = { ...added, arguments: planned.arguments, status: "completed" }
    push("response.output_item.done", { output_index: index, item })
    output.push(item)
    outputChars = planned.arguments.length + planned.name.length
  } else {
    const id = `msg_${suffix}`
    push("response.output_item.added", {
      output_index: index,
      item: { type: "message", id, role: "assistant", status: "in_progress", content: [] }
    })
    push("response.content_part.added", {
      item_id: id,
      output_index: index,
      content_index: 0,
      part: { type: "output_text", text: "", annotations: [] }
    })
    for (const delta of deltas(planned.text)) {
      push("response.output_text.delta", { item_id: id, output_index: index, content_index: 0, delta })
    }
    const part = { type: "output_text", text: planned.text, annotations: [] }
    push("response.output_text.done", { item_id: id, output_index: index, content_index: 0, text: planned.text })
    push("response.content_part.done", { item_id: id, output_index: index, content_index: 0, part })
    const item = { type: "message", id, role: "assistant", status: "completed", content: [part] }
    push("response.output_item.done", { output_index: index, item })
    output.push(item)
    outputChars = planned.text.length
  }

  let inputChars = typeof body.instructions === "string" ? body.instructions.length : 0
  for (const item of body.input as ReadonlyArray<Json>) {
    inputChars +=
      item.type === "function_call_output" && typeof item.output === "string"
        ? item.output.length
        : textOf(item.content).length
  }
  const outputTokens = estimateTokens(outputChars) + reasoningTokens
  const usage = {
    input_tokens: estimateTokens(inputChars),
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: reasoningTokens },
    total_tokens: estimateTokens(inputChars) + outputTokens
  }
  push("response.completed", { response: { ...base, status: "completed", output, usage } })
  return events
}

/** The events of a turn that fails inside the stream (`response.failed`). */
export const failed = (
  model: string,
  responseId: string,
  createdAt: number,
  code: string,
  message: string
): Array<SseEvent> => {
  const base = { id: responseId, object: "response", created_at: createdAt, model }
  return [
    {
      type: "response.created",
      data: { type: "response.created", sequence_number: 0, response: { ...base, status: "in_progress", output: [] } }
    },
    {
      type: "response.failed",
      data: {
        type: "response.failed",
        sequence_number: 1,
        response: {
          ...base,
          status: "failed",
          output: [],
          error: { type: code === "rate_limit_exceeded" ? "rate_limit_error" : "server_error", code, message }
        }
      }
    }
  ]
}

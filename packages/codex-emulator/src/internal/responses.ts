// What POST /responses answers: validation as the backend does it (protocol §6.3, §12) and a
// deterministic reply rendered as the real SSE event sequence (protocol §7).
import { Predicate } from "effect"
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
const { isObject } = Predicate

/** A validation failure: the 400 body the backend answers with. */
export interface Invalid {
  readonly status: number
  readonly detail: string
}

export const validate = (
  body: unknown,
  options: { readonly requireInstructions: boolean; readonly models: ReadonlySet<string> }
): Invalid | undefined => {
  if (!isObject(body)) return { status: 400, detail: "Request body must be a JSON object" }
  if (body.store !== false) return { status: 400, detail: "Store must be set to false" }
  if (body.stream !== true) return { status: 400, detail: "Stream must be set to true" }
  if (!Array.isArray(body.input)) return { status: 400, detail: "Input must be a list" }
  if (options.requireInstructions && typeof body.instructions !== "string")
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

/** The subschema a local `$ref` ("#/$defs/…", "#/definitions/…") points at in `root`. */
const resolveRef = (ref: string, root: Json): unknown => {
  if (!ref.startsWith("#")) return undefined
  let node: unknown = root
  for (const part of ref.slice(1).split("/").slice(1)) {
    node = isObject(node) ? node[part.replaceAll("~1", "/").replaceAll("~0", "~")] : undefined
  }
  return node
}

/** A number the schema's bounds (inclusive and exclusive) allow, `preferred` when they allow it. */
const bounded = (schema: Json, preferred: number, integer: boolean): number => {
  const bound = (key: string, fallback: number) => {
    const value = schema[key]
    return typeof value === "number" ? value : fallback
  }
  const min = bound("minimum", -Infinity)
  const max = bound("maximum", Infinity)
  const above = bound("exclusiveMinimum", -Infinity)
  const below = bound("exclusiveMaximum", Infinity)
  const fits = (n: number) =>
    Number.isFinite(n) && n >= min && n <= max && n > above && n < below && (!integer || Number.isInteger(n))
  const lo = Math.max(min, above)
  const hi = Math.min(max, below)
  const candidates = integer
    ? [preferred, Math.ceil(lo), Math.floor(lo) + 1, Math.floor(hi), Math.ceil(hi) - 1]
    : [preferred, lo, hi, (lo + hi) / 2, lo + 1, hi - 1]
  return candidates.find(fits) ?? preferred
}

const wantsObject = (schema: Json) => "properties" in schema || "required" in schema || "additionalProperties" in schema

/**
 * A value that satisfies a JSON schema (as strict structured outputs write them), derived from the
 * prompt so that it is deterministic. Every property is filled in, not only the required ones.
 */
const sample = (schema: unknown, seed: string, root: Json, depth = 0): unknown => {
  if (!isObject(schema) || depth > 32) return null
  if (typeof schema.$ref === "string") return sample(resolveRef(schema.$ref, root), seed, root, depth + 1)
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0]
  if ("const" in schema) return schema.const
  const variants = schema.anyOf ?? schema.oneOf
  if (Array.isArray(variants) && variants.length > 0) {
    // A nullable field is an anyOf with a null branch: answer with the other branch.
    const chosen = variants.find((variant) => !isObject(variant) || variant.type !== "null") ?? variants[0]
    return sample(chosen, seed, root, depth + 1)
  }
  const type = Array.isArray(schema.type)
    ? (schema.type.find((t) => t !== "null") ?? "null")
    : (schema.type ?? (wantsObject(schema) ? "object" : "items" in schema ? "array" : undefined))
  switch (type) {
    case "object": {
      const properties = isObject(schema.properties) ? schema.properties : {}
      const out: Json = {}
      for (const [name, property] of Object.entries(properties)) out[name] = sample(property, seed, root, depth + 1)
      return out
    }
    case "array": {
      // Recursive schemas end in empty arrays once deep enough.
      const length = bounded({ minimum: schema.minItems ?? 0, maximum: schema.maxItems }, depth < 8 ? 1 : 0, true)
      return Array.from({ length }, () => sample(schema.items, seed, root, depth + 1))
    }
    case "string": {
      const max = typeof schema.maxLength === "number" ? schema.maxLength : Infinity
      const min = typeof schema.minLength === "number" ? schema.minLength : 0
      return seed.slice(0, max).padEnd(min, ".")
    }
    case "integer":
      return bounded(schema, seed.length, true)
    case "number":
      return bounded(schema, seed.length / 2, false)
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
  | { readonly _tag: "CustomToolCall"; readonly name: string; readonly input: string }

/** A tool a request offers; `freeform` for `custom` tools, which take raw text instead of JSON. */
interface OfferedTool {
  readonly name: string
  readonly freeform: boolean
}

/** Adds the tools of a `tools` array, with the tools inside `namespace` entries flattened. */
const collectTools = (tools: unknown, out: Array<OfferedTool>) => {
  if (!Array.isArray(tools)) return
  for (const tool of tools) {
    if (!isObject(tool)) continue
    if (tool.type === "namespace") collectTools(tool.tools, out)
    else if (typeof tool.name === "string") out.push({ name: tool.name, freeform: tool.type === "custom" })
  }
}

/**
 * The tools a request offers: the top-level `tools` of a classic request, and the `tools` of the
 * `additional_tools` input items that a responses-lite request sends instead (protocol §6.4).
 */
const offeredTools = (body: Json, input: ReadonlyArray<Json>): ReadonlyArray<OfferedTool> => {
  const out: Array<OfferedTool> = []
  collectTools(body.tools, out)
  for (const item of input) if (item.type === "additional_tools") collectTools(item.tools, out)
  return out
}

/** Items that set up a turn rather than continue it: a lite follow-up ends with a configuration_update. */
const SETUP_ITEMS: ReadonlySet<unknown> = new Set(["configuration_update", "additional_tools"])

const TOOL_OUTPUTS: ReadonlySet<unknown> = new Set(["function_call_output", "custom_tool_call_output"])
const TOOL_CALLS: ReadonlySet<unknown> = new Set(["function_call", "custom_tool_call"])

/** A call of `tool`: a custom_tool_call with raw `input`, or a function_call with JSON `args`. */
const callOf = (tool: OfferedTool, args: string | undefined): Planned =>
  tool.freeform
    ? { _tag: "CustomToolCall", name: tool.name, input: args ?? "" }
    : { _tag: "ToolCall", name: tool.name, arguments: args !== undefined && /^\{[\s\S]*\}$/.test(args) ? args : "{}" }

/** `call <tool> [with <arguments>]` (or use/run): the arguments run to the end of the message. */
const ASKED = /\b(?:call|use|run)\s+(?:the\s+)?(?:tool\s+)?([A-Za-z_][\w.-]*)(?:\s+with\s+([\s\S]*))?/gi

/** The first tool call the user's text asks for that names an offered tool. */
const askedCall = (userText: string, tools: ReadonlyArray<OfferedTool>): Planned | undefined => {
  for (const asked of userText.matchAll(ASKED)) {
    const tool = tools.find((t) => t.name === asked[1])
    if (!tool) continue
    const rest = asked[2]?.trim()
    // A function tool takes the JSON object that follows; a freeform tool takes the text as it is.
    return callOf(tool, tool.freeform ? rest : /^\{[\s\S]*\}/.exec(rest ?? "")?.[0])
  }
  return undefined
}

const outputText = (output: unknown): string =>
  typeof output === "string" ? output : Array.isArray(output) ? textOf(output) : JSON.stringify(output)

const plan = (body: Json, replies: ReadonlyArray<ScriptedReply>): Planned => {
  const input = body.input as ReadonlyArray<Json>
  let lastIndex = input.length - 1
  while (lastIndex >= 0 && SETUP_ITEMS.has(input[lastIndex]!.type)) lastIndex--
  const last = input[lastIndex]
  if (last !== undefined && TOOL_OUTPUTS.has(last.type)) {
    const call = input.find((item) => TOOL_CALLS.has(item.type) && item.call_id === last.call_id)
    const name = typeof call?.name === "string" ? call.name : "the tool"
    return { _tag: "Text", text: `${name} returned: ${outputText(last.output)}` }
  }
  let userText = ""
  for (let i = input.length - 1; i >= 0; i--) {
    const item = input[i]!
    if (item.role === "user") {
      userText = textOf(item.content)
      break
    }
  }
  const tools = offeredTools(body, input)
  for (const reply of replies) {
    if (!userText.includes(reply.match)) continue
    const scripted = reply.toolCall
    if (scripted === undefined) return { _tag: "Text", text: reply.text ?? "" }
    const freeform =
      tools.find((t) => t.name === scripted.name)?.freeform ??
      (scripted.input !== undefined && scripted.arguments === undefined)
    return freeform
      ? { _tag: "CustomToolCall", name: scripted.name, input: scripted.input ?? "" }
      : { _tag: "ToolCall", name: scripted.name, arguments: scripted.arguments ?? "{}" }
  }
  if (tools.length > 0 && body.tool_choice !== "none") {
    const asked = askedCall(userText, tools)
    if (asked) return asked
    const forced =
      isObject(body.tool_choice) && typeof body.tool_choice.name === "string" ? body.tool_choice.name : undefined
    const chosen =
      forced || body.tool_choice === "required" ? tools.find((t) => !forced || t.name === forced) : undefined
    if (chosen) return callOf(chosen, undefined)
  }
  const format = isObject(body.text) && isObject(body.text.format) ? body.text.format : undefined
  if (format?.type === "json_schema") {
    const schema = isObject(format.schema) ? format.schema : {}
    return { _tag: "Text", text: JSON.stringify(sample(schema, userText, schema)) }
  }
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

/**
 * Starts a turn's event sequence with `response.created`: `push` numbers each event and puts its
 * type in the data, as the backend does; `response` is the response object's common fields.
 */
const turnEvents = (body: Json, responseId: string, createdAt: number) => {
  const events: Array<SseEvent> = []
  const push = (type: string, data: Json) => {
    events.push({ type, data: { type, sequence_number: events.length, ...data } })
  }
  const response = { id: responseId, object: "response", created_at: createdAt, model: body.model }
  push("response.created", { response: { ...response, status: "in_progress", output: [] } })
  return { events, push, response }
}

/** The full event sequence for a successful turn. */
export const reply = (body: Json, replies: ReadonlyArray<ScriptedReply>, responseId: string, createdAt: number) => {
  const planned = plan(body, replies)
  const { events, push, response: base } = turnEvents(body, responseId, createdAt)
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
  } else if (planned._tag === "CustomToolCall") {
    const id = `ctc_${suffix}`
    const added = {
      type: "custom_tool_call",
      id,
      call_id: `call_${suffix}`,
      name: planned.name,
      input: "",
      status: "in_progress"
    }
    push("response.output_item.added", { output_index: index, item: added })
    for (const delta of deltas(planned.input)) {
      push("response.custom_tool_call_input.delta", { item_id: id, output_index: index, delta })
    }
    push("response.custom_tool_call_input.done", { item_id: id, output_index: index, input: planned.input })
    const item = { ...added, input: planned.input, status: "completed" }
    push("response.output_item.done", { output_index: index, item })
    output.push(item)
    outputChars = planned.input.length + planned.name.length
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
    inputChars += TOOL_OUTPUTS.has(item.type) ? outputText(item.output).length : textOf(item.content).length
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

const FAILURE_MESSAGES: Record<string, string> = {
  context_length_exceeded:
    "Your input exceeds the context window of this model. Please adjust your input and try again.",
  rate_limit_exceeded: "Rate limit reached. Please try again in 1.5s."
}

/** The events of a turn that fails inside the stream (`response.failed`, protocol §7). */
export const failed = (
  body: Json,
  responseId: string,
  createdAt: number,
  code = "server_error",
  message = FAILURE_MESSAGES[code] ?? "An error occurred while processing your request."
): Array<SseEvent> => {
  const { events, push, response } = turnEvents(body, responseId, createdAt)
  const type = code === "rate_limit_exceeded" ? "rate_limit_error" : "server_error"
  push("response.failed", { response: { ...response, status: "failed", output: [], error: { type, code, message } } })
  return events
}

// Decoding the backend's SSE messages into ChatEvents (protocol §7).
//
// The decoder is the hot path of a turn (one call per delta), so it reads the `data:` JSON with
// plain `JSON.parse` and field checks written by hand (a Schema decode of a finished item cost more
// than parsing its JSON); events it has no use for are recognised by their `event:` line and never
// parsed. Only the rare `response.failed` is decoded with Schema.
import { Duration, Option, Schema } from "effect"
import {
  type ChatEvent,
  type DecodeFailure,
  type Failed,
  MalformedEvent,
  type OutputItem,
  type RateLimits,
  type RateLimitWindow,
  type Usage
} from "../ChatEvent.ts"
import type { SseMessage } from "./sse.ts"

/**
 * A stateful decoder for one response stream: it remembers function-call items announced by
 * `response.output_item.added` so argument deltas can carry their call id and tool name.
 */
export interface EventDecoder {
  /** `undefined` for events that carry nothing a caller needs (and for unknown types). */
  readonly decode: (message: SseMessage) => ChatEvent | DecodeFailure | undefined
}

type Json = Record<string, unknown>

interface KnownCall {
  readonly callId: string
  readonly name: string
}

const isJson = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

const malformed = (eventType: string | undefined, reason: string, cause?: unknown): MalformedEvent =>
  new MalformedEvent(
    eventType === undefined
      ? cause === undefined
        ? { reason }
        : { reason, cause }
      : cause === undefined
        ? { eventType, reason }
        : { eventType, reason, cause }
  )

const missing = (type: string, field: string) => malformed(type, `missing or invalid field "${field}"`)

const FailedError = Schema.Struct({
  type: Schema.optionalKey(Schema.NullOr(Schema.String)),
  code: Schema.optionalKey(Schema.NullOr(Schema.String)),
  message: Schema.optionalKey(Schema.NullOr(Schema.String)),
  plan_type: Schema.optionalKey(Schema.NullOr(Schema.String)),
  resets_at: Schema.optionalKey(Schema.NullOr(Schema.Finite))
})

const decodeFailedError = Schema.decodeUnknownOption(FailedError)

// `response.output_item.done` and `response.completed` come once per item and once per turn, yet a
// Schema decode of them cost more than parsing their JSON (tooling/bench/codex-client.ts): they are
// checked by hand, against the shapes of `OutputItem` (which stays the documentation and the type)
// and `Usage`, and the checked object is used as it is.

const isOptional = (u: unknown, type: "string" | "number") => u === undefined || typeof u === type
const isArrayOf = (u: unknown, element: (u: unknown) => boolean) => Array.isArray(u) && u.every(element)

const isMessageContent = (u: unknown) =>
  isJson(u) &&
  ((u.type === "output_text" &&
    typeof u.text === "string" &&
    (u.annotations === undefined || Array.isArray(u.annotations))) ||
    (u.type === "refusal" && typeof u.refusal === "string"))

const isSummaryPart = (u: unknown) => isJson(u) && u.type === "summary_text" && typeof u.text === "string"

/** Whether `item` has the shape of its `OutputItem` type. */
const isOutputItem = (item: Json): boolean => {
  switch (item.type) {
    case "message":
      return (
        typeof item.id === "string" &&
        item.role === "assistant" &&
        isOptional(item.status, "string") &&
        isArrayOf(item.content, isMessageContent)
      )
    case "function_call":
      return (
        typeof item.call_id === "string" &&
        typeof item.name === "string" &&
        typeof item.arguments === "string" &&
        isOptional(item.id, "string") &&
        isOptional(item.status, "string")
      )
    case "reasoning":
      return (
        typeof item.id === "string" &&
        isArrayOf(item.summary, isSummaryPart) &&
        (item.encrypted_content === undefined ||
          item.encrypted_content === null ||
          typeof item.encrypted_content === "string")
      )
    default:
      return false
  }
}

/** A count of `usage`, when present and a number; `undefined` when absent, `false` when wrong. */
const count = (holder: unknown, field: string): number | undefined | false => {
  if (holder === undefined || holder === null) return undefined
  if (!isJson(holder)) return false
  const value = holder[field]
  return value === undefined ? undefined : typeof value === "number" && Number.isFinite(value) ? value : false
}

/** The usage of a `response.completed`, or `undefined` when it has the wrong shape. */
const usageOf = (usage: unknown): Usage | undefined => {
  if (usage !== undefined && usage !== null && !isJson(usage)) return undefined
  const u = usage ?? undefined
  const counts = [
    count(u, "input_tokens"),
    count(isJson(u) ? u.input_tokens_details : undefined, "cached_tokens"),
    count(u, "output_tokens"),
    count(isJson(u) ? u.output_tokens_details : undefined, "reasoning_tokens"),
    count(u, "total_tokens")
  ]
  if (counts.includes(false)) return undefined
  const [inputTokens, cachedTokens, outputTokens, reasoningTokens, totalTokens] = counts as Array<number | undefined>
  return {
    inputTokens: inputTokens ?? 0,
    cachedTokens: cachedTokens ?? 0,
    outputTokens: outputTokens ?? 0,
    reasoningTokens: reasoningTokens ?? 0,
    totalTokens: totalTokens ?? 0
  }
}

const RETRY_AFTER = /try again in\s*(\d+(?:\.\d+)?)\s*(ms|seconds?|s)\b/i

/**
 * The delay a failure message asks for ("Please try again in 1.5s.", "… in 250ms", "… in 2
 * seconds"), as codex-rs reads it.
 */
export const retryAfterFromMessage = (message: string): Duration.Duration | undefined => {
  const match = RETRY_AFTER.exec(message)
  if (match === null) return undefined
  const amount = Number(match[1])
  return match[2]!.toLowerCase() === "ms" ? Duration.millis(amount) : Duration.millis(Math.round(amount * 1000))
}

const OUTPUT_ITEM_TYPES: ReadonlySet<unknown> = new Set(["message", "function_call", "reasoning"])

/**
 * Events that carry nothing a caller needs, recognised by their `event:` line so their payload
 * (often the whole text again) is never parsed. The backend names every event by its `type`; an
 * event without an `event:` line is parsed and dispatched on its `type`.
 */
const SKIPPED: ReadonlySet<string | undefined> = new Set([
  "response.in_progress",
  "response.content_part.added",
  "response.content_part.done",
  "response.output_text.done",
  "response.reasoning_summary_part.added",
  "response.reasoning_summary_part.done",
  "response.reasoning_summary_text.done"
])

const decodeWith = (
  calls: Map<string, KnownCall> | undefined,
  message: SseMessage
): ChatEvent | DecodeFailure | undefined => {
  if (SKIPPED.has(message.event)) return undefined
  const raw = message.data
  if (raw === "[DONE]") return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (cause) {
    return malformed(message.event, "data is not valid JSON", cause)
  }
  if (!isJson(parsed) || typeof parsed.type !== "string") {
    return malformed(message.event, 'data is not a JSON object with a string "type"')
  }
  const data = parsed
  const type = parsed.type
  switch (type) {
    case "response.output_text.delta": {
      const delta = data.delta
      const itemId = data.item_id
      if (typeof delta !== "string") return missing(type, "delta")
      if (typeof itemId !== "string") return missing(type, "item_id")
      return { _tag: "TextDelta", delta, itemId }
    }
    case "response.reasoning_summary_text.delta": {
      const delta = data.delta
      const summaryIndex = data.summary_index
      if (typeof delta !== "string") return missing(type, "delta")
      if (typeof summaryIndex !== "number") return missing(type, "summary_index")
      return { _tag: "ReasoningSummaryDelta", delta, summaryIndex }
    }
    case "response.function_call_arguments.delta":
    case "response.function_call_arguments.done": {
      const itemId = data.item_id
      if (typeof itemId !== "string") return missing(type, "item_id")
      const call = calls?.get(itemId)
      if (call === undefined) return malformed(type, `no function_call item ${itemId} was announced`)
      if (type === "response.function_call_arguments.delta") {
        const delta = data.delta
        if (typeof delta !== "string") return missing(type, "delta")
        return { _tag: "ToolCallDelta", callId: call.callId, name: call.name, delta, itemId }
      }
      const args = data.arguments
      if (typeof args !== "string") return missing(type, "arguments")
      return { _tag: "ToolCallDone", callId: call.callId, name: call.name, arguments: args, itemId }
    }
    case "response.output_item.added": {
      const item = data.item
      if (!isJson(item)) return missing(type, "item")
      if (item.type === "function_call" && calls !== undefined) {
        const { id, call_id, name } = item
        if (typeof call_id !== "string") return missing(type, "item.call_id")
        if (typeof name !== "string") return missing(type, "item.name")
        // Argument events name the item by `id`; fall back to the call id if the item has none.
        calls.set(typeof id === "string" ? id : call_id, { callId: call_id, name })
      }
      return undefined
    }
    case "response.output_item.done": {
      const item = data.item
      if (!isJson(item)) return missing(type, "item")
      if (!OUTPUT_ITEM_TYPES.has(item.type)) return undefined
      if (!isOutputItem(item)) return malformed(type, `item of type ${String(item.type)} does not match its schema`)
      const done = item as OutputItem
      if (done.type === "function_call" && done.id !== undefined) calls?.delete(done.id)
      return { _tag: "OutputItemDone", item: done }
    }
    case "response.completed": {
      const response = data.response
      if (!isJson(response) || typeof response.id !== "string") return missing(type, "response.id")
      const usage = usageOf(response.usage)
      if (usage === undefined) return missing(type, "response.usage")
      return { _tag: "Completed", responseId: response.id, usage }
    }
    case "response.failed": {
      const response = data.response
      if (!isJson(response)) return missing(type, "response")
      const decoded = decodeFailedError(response.error ?? {})
      if (Option.isNone(decoded)) return missing(type, "response.error")
      const error = decoded.value
      const text = error.message ?? "response.failed without a message"
      const retryAfter = retryAfterFromMessage(text)
      const failed: {
        -readonly [K in keyof Failed]: Failed[K]
      } = { _tag: "Failed", code: error.code ?? "unknown", message: text }
      if (retryAfter !== undefined) failed.retryAfter = retryAfter
      if (typeof error.type === "string") failed.errorType = error.type
      if (typeof error.plan_type === "string") failed.planType = error.plan_type
      if (typeof error.resets_at === "number") failed.resetsAt = error.resets_at
      return failed
    }
    case "response.created": {
      const response = data.response
      if (!isJson(response) || typeof response.id !== "string") return missing(type, "response.id")
      return { _tag: "Created", responseId: response.id }
    }
    case "codex.rate_limits":
      return decodeRateLimits(data)
    default:
      // response.in_progress, content_part.*, output_text.done, reasoning_summary_part.*,
      // reasoning_summary_text.done and anything newer carry nothing the client needs.
      return undefined
  }
}

const rateLimitWindow = (u: unknown): RateLimitWindow | undefined => {
  if (!isJson(u) || typeof u.used_percent !== "number") return undefined
  const window: { -readonly [K in keyof RateLimitWindow]: RateLimitWindow[K] } = { usedPercent: u.used_percent }
  if (typeof u.window_minutes === "number") window.windowMinutes = u.window_minutes
  const resetAt = u.reset_at ?? u.resets_at
  if (typeof resetAt === "number") window.resetAt = resetAt
  return window
}

const decodeRateLimits = (data: Json): RateLimits => {
  const limits = isJson(data.rate_limits) ? data.rate_limits : data
  const event: { -readonly [K in keyof RateLimits]: RateLimits[K] } = { _tag: "RateLimits" }
  const primary = rateLimitWindow(limits.primary)
  const secondary = rateLimitWindow(limits.secondary)
  const planType = data.plan_type ?? limits.plan_type
  if (primary !== undefined) event.primary = primary
  if (secondary !== undefined) event.secondary = secondary
  if (typeof planType === "string") event.planType = planType
  return event
}

/**
 * Decodes one SSE message on its own, dispatching on the JSON's `type`. It remembers nothing, so
 * function-call argument events come back as `MalformedEvent`; decode a stream with
 * {@link makeEventDecoder}.
 */
export const decodeEvent = (message: SseMessage): ChatEvent | DecodeFailure | undefined =>
  decodeWith(undefined, message)

/**
 * A decoder for one response stream (see {@link EventDecoder}); make a new one per request.
 */
export const makeEventDecoder = (): EventDecoder => {
  const calls = new Map<string, KnownCall>()
  return { decode: (message) => decodeWith(calls, message) }
}

/**
 * The typed events of a streamed Codex turn, as decoded from the backend's SSE messages (protocol §7).
 *
 * @since 0.1.0
 */
import type { Duration } from "effect"
import { Schema } from "effect"

// ---------------------------------------------------------------------------------------------
// Output items (wire shape: they go back into the next request's `input` unchanged)
// ---------------------------------------------------------------------------------------------

/**
 * A piece of an assistant message: generated text or a refusal.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageContent = Schema.Union([
  Schema.Struct({
    type: Schema.Literal("output_text"),
    text: Schema.String,
    annotations: Schema.optionalKey(Schema.Array(Schema.Unknown))
  }),
  Schema.Struct({ type: Schema.Literal("refusal"), refusal: Schema.String })
])

/**
 * @since 0.1.0
 * @category models
 */
export type MessageContent = typeof MessageContent.Type

/**
 * A finished assistant message.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageItem = Schema.Struct({
  type: Schema.Literal("message"),
  id: Schema.String,
  role: Schema.Literal("assistant"),
  status: Schema.optionalKey(Schema.String),
  content: Schema.Array(MessageContent)
})

/**
 * @since 0.1.0
 * @category models
 */
export type MessageItem = typeof MessageItem.Type

/**
 * A finished function call: `arguments` is the JSON text the model produced.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FunctionCallItem = Schema.Struct({
  type: Schema.Literal("function_call"),
  id: Schema.optionalKey(Schema.String),
  call_id: Schema.String,
  name: Schema.String,
  arguments: Schema.String,
  status: Schema.optionalKey(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type FunctionCallItem = typeof FunctionCallItem.Type

/**
 * A finished reasoning item: its summary parts and, when requested with
 * `include: ["reasoning.encrypted_content"]`, the opaque content to send back next turn.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReasoningItem = Schema.Struct({
  type: Schema.Literal("reasoning"),
  id: Schema.String,
  summary: Schema.Array(Schema.Struct({ type: Schema.Literal("summary_text"), text: Schema.String })),
  encrypted_content: Schema.optionalKey(Schema.NullOr(Schema.String))
})

/**
 * @since 0.1.0
 * @category models
 */
export type ReasoningItem = typeof ReasoningItem.Type

/**
 * The output items a turn can finish; other item types are not surfaced.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OutputItem = Schema.Union([MessageItem, FunctionCallItem, ReasoningItem])

/**
 * @since 0.1.0
 * @category models
 */
export type OutputItem = typeof OutputItem.Type

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/**
 * The backend accepted the turn (`response.created`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Created {
  readonly _tag: "Created"
  readonly responseId: string
}

/**
 * A piece of assistant text (`response.output_text.delta`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TextDelta {
  readonly _tag: "TextDelta"
  readonly delta: string
  readonly itemId: string
}

/**
 * A piece of a reasoning summary (`response.reasoning_summary_text.delta`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ReasoningSummaryDelta {
  readonly _tag: "ReasoningSummaryDelta"
  readonly delta: string
  readonly summaryIndex: number
}

/**
 * A piece of a function call's JSON arguments (`response.function_call_arguments.delta`), with the
 * call id and tool name remembered from the item's `response.output_item.added`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCallDelta {
  readonly _tag: "ToolCallDelta"
  readonly callId: string
  readonly name: string
  readonly delta: string
  /** The `function_call` output item's id (its `call_id` when the item had none). */
  readonly itemId: string
}

/**
 * A function call's complete arguments (`response.function_call_arguments.done`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCallDone {
  readonly _tag: "ToolCallDone"
  readonly callId: string
  readonly name: string
  readonly arguments: string
  /** The `function_call` output item's id (its `call_id` when the item had none). */
  readonly itemId: string
}

/**
 * A finished output item (`response.output_item.done`): what the turn's final output is made of.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutputItemDone {
  readonly _tag: "OutputItemDone"
  readonly item: OutputItem
}

/**
 * Token accounting of a finished turn; absent counts are 0.
 *
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly inputTokens: number
  readonly cachedTokens: number
  readonly outputTokens: number
  readonly reasoningTokens: number
  readonly totalTokens: number
}

/**
 * The turn finished (`response.completed`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Completed {
  readonly _tag: "Completed"
  readonly responseId: string
  readonly usage: Usage
}

/**
 * The turn failed inside the stream (`response.failed`). `retryAfter` is the delay the message
 * asks for ("Please try again in 1.5s."); `code` decides whether to retry (protocol §7).
 *
 * @since 0.1.0
 * @category models
 */
export interface Failed {
  readonly _tag: "Failed"
  readonly code: string
  readonly message: string
  readonly retryAfter?: Duration.Duration
  readonly errorType?: string
  readonly planType?: string
  /** Unix seconds, when the backend says when a usage limit resets. */
  readonly resetsAt?: number
}

/**
 * One rate-limit window: percent used, its length and when it resets (unix seconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimitWindow {
  readonly usedPercent: number
  readonly windowMinutes?: number
  readonly resetAt?: number
}

/**
 * The account's usage windows (`codex.rate_limits`).
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimits {
  readonly _tag: "RateLimits"
  readonly primary?: RateLimitWindow
  readonly secondary?: RateLimitWindow
  readonly planType?: string
}

/**
 * Every event a streamed turn produces.
 *
 * @since 0.1.0
 * @category models
 */
export type ChatEvent =
  | Created
  | TextDelta
  | ReasoningSummaryDelta
  | ToolCallDelta
  | ToolCallDone
  | OutputItemDone
  | Completed
  | Failed
  | RateLimits

/**
 * An SSE message that could not be decoded: bad JSON, a missing field, or an argument delta for
 * an item never announced. The client turns it into a retryable stream error. The message says
 * which event and why, never the payload (it may hold user content).
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedEvent extends Schema.TaggedError<MalformedEvent>()("MalformedEvent", {
  eventType: Schema.optionalKey(Schema.String),
  reason: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  override get message(): string {
    return `malformed SSE event${this.eventType === undefined ? "" : ` ${this.eventType}`}: ${this.reason}`
  }
}

/**
 * What `decode` returns instead of an event when the message is unusable.
 *
 * @since 0.1.0
 * @category errors
 */
export type DecodeFailure = MalformedEvent

/**
 * What a turn produced, gathered from its events as they arrive (`add` each batch): the text — the
 * finished message's when it came (protocol §7, §12.8), else the deltas' — the reasoning summary,
 * the tool calls, the usage and the response id. `CodexClient.chat` folds a turn with it; a caller
 * of `stream` that wants the whole result does the same.
 *
 * @since 0.1.0
 * @category models
 */
export class Gathered {
  /** The finished messages' text. */
  text = ""
  /** The text deltas, as they came. */
  deltas = ""
  summary = ""
  responseId = ""
  usage: Usage | undefined = undefined
  readonly toolCalls: Array<{ callId: string; name: string; arguments: string }> = []

  /** The turn's text: the finished message's, else (no message finished) the deltas'. */
  get finalText(): string {
    return this.text.length > 0 ? this.text : this.deltas
  }

  add(batch: ReadonlyArray<ChatEvent>): void {
    for (const event of batch) {
      switch (event._tag) {
        case "TextDelta":
          this.deltas += event.delta
          break
        case "ReasoningSummaryDelta":
          this.summary += event.delta
          break
        case "ToolCallDone":
          this.toolCalls.push({ callId: event.callId, name: event.name, arguments: event.arguments })
          break
        case "OutputItemDone":
          if (event.item.type === "message") {
            for (const part of event.item.content) if (part.type === "output_text") this.text += part.text
          }
          break
        case "Completed":
          this.responseId = event.responseId
          this.usage = event.usage
          break
        default:
          break
      }
    }
  }
}

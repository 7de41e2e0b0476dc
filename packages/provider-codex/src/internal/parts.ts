// A turn's events as effect/ai response parts (streamed, or folded into a whole response). Used by
// CodexLanguageModel.makeWith.
import type { Response } from "effect/ai"
import { Tool } from "effect/ai"
import type * as ChatEvent from "../ChatEvent.ts"

/** The model serving a turn, sent before `Created`; its metadata goes on the response-metadata part. */
export interface Serving {
  readonly _tag: "Serving"
  readonly model: string
  readonly metadata?: Response.ResponseMetadataPartMetadata | undefined
}

/** A call's arguments: their JSON, {} when empty, the text itself when it is not JSON (the Toolkit then says so). */
const paramsOf = (text: string): unknown => {
  if (text.trim().length === 0) return {}
  try {
    return Tool.unsafeSecureJsonParse(text)
  } catch {
    return text
  }
}

const usageOf = (usage: ChatEvent.Usage | undefined): Response.FinishPartEncoded["usage"] =>
  usage === undefined
    ? { inputTokens: {}, outputTokens: {} }
    : {
        inputTokens: {
          uncached: usage.inputTokens - usage.cachedTokens,
          total: usage.inputTokens,
          cacheRead: usage.cachedTokens
        },
        outputTokens: {
          total: usage.outputTokens,
          text: usage.outputTokens - usage.reasoningTokens,
          reasoning: usage.reasoningTokens
        }
      }

/**
 * A turn's events as `effect/ai` stream parts, batch by batch: response-metadata at `Created`;
 * text-start/delta/end per message item (a message that finished without deltas at once);
 * reasoning-start/delta/end per summary; tool-params-start/delta/end and a tool-call per function
 * call (`providerExecuted: false`); finish at `Completed`, "tool-calls" when calls were made.
 */
export class PartsMapper {
  private model: string | undefined = undefined
  private metadata: Response.ResponseMetadataPartMetadata | undefined = undefined
  private readonly texts = new Set<string>()
  private reasoning: string | undefined = undefined
  private reasoningItems = 0
  private reasoningStreamed = false
  private readonly params = new Set<string>()
  private readonly calls = new Set<string>()
  private out: Array<Response.StreamPartEncoded> = []
  private readonly now: () => number

  /** `now` stamps the response metadata (Unix milliseconds). */
  constructor(now: () => number) {
    this.now = now
  }

  add(batch: ReadonlyArray<ChatEvent.ChatEvent | Serving>): Array<Response.StreamPartEncoded> {
    this.out = []
    for (const event of batch) this.event(event)
    return this.out
  }

  private event(event: ChatEvent.ChatEvent | Serving): void {
    switch (event._tag) {
      case "Serving":
        this.model = event.model
        this.metadata = event.metadata
        return
      case "Created":
        this.out.push({
          type: "response-metadata",
          id: event.responseId,
          ...(this.model === undefined ? {} : { modelId: this.model }),
          timestamp: new Date(this.now()).toISOString(),
          ...(this.metadata === undefined ? {} : { metadata: this.metadata })
        })
        return
      case "TextDelta":
        if (!this.texts.has(event.itemId)) {
          this.texts.add(event.itemId)
          this.out.push({ type: "text-start", id: event.itemId })
        }
        this.out.push({ type: "text-delta", id: event.itemId, delta: event.delta })
        return
      case "ReasoningSummaryDelta": {
        const id = `rs_${this.reasoningItems}:${event.summaryIndex}`
        if (this.reasoning !== id) {
          this.endReasoning()
          this.reasoning = id
          this.reasoningStreamed = true
          this.out.push({ type: "reasoning-start", id })
        }
        this.out.push({ type: "reasoning-delta", id, delta: event.delta })
        return
      }
      case "ToolCallDelta":
        if (!this.params.has(event.callId)) {
          this.params.add(event.callId)
          this.out.push({ type: "tool-params-start", id: event.callId, name: event.name, providerExecuted: false })
        }
        this.out.push({ type: "tool-params-delta", id: event.callId, delta: event.delta })
        return
      case "ToolCallDone":
        return this.call(event.callId, event.name, event.arguments)
      case "OutputItemDone":
        return this.itemDone(event.item)
      case "Completed":
        for (const id of this.texts) this.out.push({ type: "text-end", id })
        this.texts.clear()
        this.endReasoning()
        this.out.push({
          type: "finish",
          reason: this.calls.size > 0 ? "tool-calls" : "stop",
          usage: usageOf(event.usage)
        })
        return
      // RateLimits are kept by the client; Failed never reaches here (the client fails the stream).
      default:
        return
    }
  }

  private itemDone(item: ChatEvent.OutputItem): void {
    switch (item.type) {
      case "message": {
        if (this.texts.delete(item.id)) {
          this.out.push({ type: "text-end", id: item.id })
          return
        }
        // The finished message is the final text (protocol §12.8): without deltas, it comes whole.
        const text = item.content.map((part) => (part.type === "output_text" ? part.text : part.refusal)).join("")
        if (text.length > 0) this.whole("text", item.id, text)
        return
      }
      case "reasoning":
        if (this.reasoningStreamed) this.endReasoning()
        else
          item.summary.forEach((part, index) =>
            this.whole("reasoning", `rs_${this.reasoningItems}:${index}`, part.text)
          )
        this.reasoningItems++
        this.reasoningStreamed = false
        return
      case "function_call":
        return this.call(item.call_id, item.name, item.arguments)
    }
  }

  private whole(kind: "text" | "reasoning", id: string, text: string): void {
    this.out.push(
      { type: `${kind}-start`, id },
      { type: `${kind}-delta`, id, delta: text },
      { type: `${kind}-end`, id }
    )
  }

  private endReasoning(): void {
    if (this.reasoning === undefined) return
    this.out.push({ type: "reasoning-end", id: this.reasoning })
    this.reasoning = undefined
  }

  /** A finished call (from its arguments' end or its item's, whichever comes first). */
  private call(callId: string, name: string, args: string): void {
    if (this.calls.has(callId)) return
    this.calls.add(callId)
    if (!this.params.delete(callId)) {
      this.out.push({ type: "tool-params-start", id: callId, name, providerExecuted: false })
      if (args.length > 0) this.out.push({ type: "tool-params-delta", id: callId, delta: args })
    }
    this.out.push({ type: "tool-params-end", id: callId })
    this.out.push({ type: "tool-call", id: callId, name, params: paramsOf(args), providerExecuted: false })
  }
}

/**
 * Stream parts folded into the parts of a whole response: each text and reasoning part whole, in
 * the place it started; the tool parameters' pieces dropped (the calls carry them).
 */
export const collect = (parts: Iterable<Response.StreamPartEncoded>): Array<Response.PartEncoded> => {
  const out: Array<Response.PartEncoded> = []
  const open = new Map<string, { readonly index: number; readonly type: "text" | "reasoning"; text: string }>()
  for (const part of parts) {
    switch (part.type) {
      case "text-start":
      case "reasoning-start": {
        const type = part.type === "text-start" ? "text" : "reasoning"
        open.set(`${type}:${part.id}`, { index: out.length, type, text: "" })
        out.push({ type, text: "" })
        break
      }
      case "text-delta":
      case "reasoning-delta": {
        const active = open.get(`${part.type === "text-delta" ? "text" : "reasoning"}:${part.id}`)
        if (active !== undefined) active.text += part.delta
        break
      }
      case "tool-call":
      case "response-metadata":
      case "finish":
        out.push(part)
        break
      default:
        break
    }
  }
  for (const { index, type, text } of open.values()) out[index] = { type, text }
  return out
}

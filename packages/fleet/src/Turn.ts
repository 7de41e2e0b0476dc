/**
 * A queued request as the router's input, and a routed turn's events as the request's result
 * (design §4): what the worker maps between the queue contract and the router, and nothing else.
 *
 * @since 0.1.0
 */
import { OpenAiChat } from "@nexus/gateway"
import { ChatEvent } from "@nexus/provider-codex"
import type { Contract } from "@nexus/queue-pgmq"
import type { Route, Router } from "@nexus/router"

/**
 * The router's input for one request.
 *
 * @since 0.1.0
 * @category models
 */
export interface Turn {
  readonly route: Route.RouteRequest
  readonly conversation: Router.Conversation
}

/**
 * The request cannot be turned into a Codex turn (a content part, a tool or an option this worker
 * does not know how to send): permanent, the sender must change the request.
 *
 * @since 0.1.0
 * @category errors
 */
export const UnsupportedRequest = OpenAiChat.UnsupportedRequest

/**
 * @since 0.1.0
 * @category errors
 */
export type UnsupportedRequest = OpenAiChat.UnsupportedRequest

/**
 * The router's input for `request`: its task type, complexity, model and account overrides,
 * reasoning effort and `metadata.prompt_cache_key`; its messages, tools and options as a Codex turn.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromRequest = (request: Contract.LlmRequest): Turn | UnsupportedRequest => {
  const options = request.options ?? {}
  const conversation = OpenAiChat.conversation(request.messages, options, "options.")
  if (conversation instanceof UnsupportedRequest) return conversation
  if (options.max_output_tokens !== undefined) conversation.maxOutputTokens = options.max_output_tokens
  if (options.temperature !== undefined) conversation.temperature = options.temperature
  const cacheKey = request.metadata?.prompt_cache_key
  if (typeof cacheKey === "string" && cacheKey.length > 0) conversation.conversationId = cacheKey
  return {
    route: {
      taskType: request.task_type,
      complexity: request.complexity,
      ...(request.model === undefined || request.model === "" ? {} : { model: request.model }),
      ...(request.account === undefined || request.account === "" ? {} : { account: request.account }),
      ...(options.reasoning_effort === undefined ? {} : { effort: options.reasoning_effort }),
      ...(typeof cacheKey === "string" && cacheKey.length > 0 ? { promptCacheKey: cacheKey } : {})
    },
    conversation
  }
}

/**
 * What a routed turn produced: its events gathered as the Codex client gathers a whole turn
 * (`ChatEvent.Gathered`: the finished message's text, else the deltas'), the route it took, and
 * when its first content came.
 *
 * @since 0.1.0
 * @category models
 */
export interface Output {
  readonly events: ChatEvent.Gathered
  route: Router.Taken | undefined
  /** Milliseconds from the start of the turn to its first content, when content came. */
  firstContentMs: number | undefined
}

/**
 * An empty output, to gather a turn's events into with `gather`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const emptyOutput = (): Output => ({
  events: new ChatEvent.Gathered(),
  route: undefined,
  firstContentMs: undefined
})

/**
 * Adds a batch of a routed stream's events to `output` (in place: a turn has thousands of deltas).
 *
 * @since 0.1.0
 * @category combinators
 */
export const gather = (
  output: Output,
  batch: ReadonlyArray<ChatEvent.ChatEvent | Router.RouteChosen>,
  sinceStartMs: number
): void => {
  const events: Array<ChatEvent.ChatEvent> = []
  for (const event of batch) {
    if (event._tag === "RouteChosen") {
      output.route = event.route
      output.firstContentMs = sinceStartMs
    } else events.push(event)
  }
  output.events.add(events)
}

/**
 * When the request started and was picked up, to time its result.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timing {
  readonly enqueuedAt: Date
  readonly startedAt: number
  readonly finishedAt: number
  readonly attempts: number
}

const times = (timing: Timing) => ({
  attempts: timing.attempts,
  started_at: new Date(timing.startedAt).toISOString(),
  finished_at: new Date(timing.finishedAt).toISOString()
})

const accountOf = (attempt: Route.Attempt) => attempt.label ?? attempt.accountId

/**
 * The `ok` result of a served turn: its output, usage, the model and account that served it, the
 * route (with every candidate skipped) and how long each part took.
 *
 * @since 0.1.0
 * @category constructors
 */
export const okResult = (
  request: Contract.LlmRequest,
  output: Output,
  route: Router.Taken,
  timing: Timing
): Contract.LlmResult => ({
  version: 1,
  request_id: request.id,
  status: "ok",
  model: route.served.model,
  account: accountOf(route.served),
  output: {
    text: output.events.finalText,
    ...(output.events.toolCalls.length > 0
      ? {
          tool_calls: output.events.toolCalls.map((call) => ({
            id: call.callId,
            name: call.name,
            arguments: call.arguments
          }))
        }
      : {})
  },
  ...(output.events.usage === undefined
    ? {}
    : {
        usage: {
          input_tokens: output.events.usage.inputTokens,
          cached_tokens: output.events.usage.cachedTokens,
          output_tokens: output.events.usage.outputTokens,
          reasoning_tokens: output.events.usage.reasoningTokens
        }
      }),
  route: routeOf(route),
  timings: {
    queued_ms: Math.max(0, timing.startedAt - timing.enqueuedAt.getTime()),
    ...(output.firstContentMs === undefined ? {} : { first_content_ms: output.firstContentMs }),
    total_ms: timing.finishedAt - timing.startedAt
  },
  ...times(timing)
})

const routeOf = (route: Router.Taken) => ({
  model: route.served.model,
  effort: route.served.effort ?? null,
  account: accountOf(route.served),
  tries: route.attempts,
  skipped: route.skipped.map((skip) => ({
    model: skip.model,
    ...(skip.account === undefined ? {} : { account: skip.account }),
    reason: skip.reason,
    ...(skip.until === undefined ? {} : { until: new Date(skip.until).toISOString() })
  }))
})

/**
 * What went wrong, for an `error` result.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failure {
  readonly tag: string
  readonly message: string
  readonly retryable: boolean
  /** Unix milliseconds, when a usage limit's reset is known. */
  readonly resetsAt?: number | undefined
  readonly skipped?: ReadonlyArray<Route.Skip> | undefined
}

/**
 * The `error` result of a request: what happened, whether sending it again later may help, and
 * when a usage limit resets.
 *
 * @since 0.1.0
 * @category constructors
 */
export const errorResult = (request: Contract.LlmRequest, failure: Failure, timing: Timing): Contract.LlmResult => ({
  version: 1,
  request_id: request.id,
  status: "error",
  model: null,
  account: null,
  error: {
    tag: failure.tag,
    message: failure.message,
    retryable: failure.retryable,
    ...(failure.resetsAt === undefined ? {} : { resets_at: new Date(failure.resetsAt).toISOString() })
  },
  ...(failure.skipped === undefined || failure.skipped.length === 0
    ? {}
    : {
        route: {
          skipped: failure.skipped.map((skip) => ({
            model: skip.model,
            ...(skip.account === undefined ? {} : { account: skip.account }),
            reason: skip.reason,
            detail: skip.detail
          }))
        }
      }),
  ...times(timing)
})

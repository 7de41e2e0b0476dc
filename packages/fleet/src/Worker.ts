/**
 * The worker: reads `llm_requests` (`LlmQueue.consume`), runs each request through the router as
 * a stream, and answers it with exactly one result on its reply queue — or puts it off when
 * waiting may help (a backoff, a usage limit's reset), within its deadline and a bounded number of
 * deliveries. Any number of workers, in any number of processes, share the queue.
 *
 * Prompt and output text reach the logs only when `logContent` is on (`NEXUS_LOG_CONTENT=1`);
 * spans carry ids, models, accounts and statuses, never text.
 *
 * @since 0.1.0
 */
import type { ChatEvent } from "@nexus/provider-codex"
import type { Contract, Pgmq } from "@nexus/queue-pgmq"
import { LlmQueue } from "@nexus/queue-pgmq"
import { Router } from "@nexus/router"
import { Clock, Context, Duration, Effect, Layer, Metric, Pull } from "effect"
import * as Disposition from "./Disposition.ts"
import * as Metrics from "./Metrics.ts"
import * as Turn from "./Turn.ts"

/**
 * How the worker runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** Requests streamed at once by this process. */
  readonly concurrency: number
  /** Seconds a request stays invisible to other workers once read; extended while it streams. */
  readonly visibilityTimeout: number
  /** Seconds between reads when no insert notification comes. */
  readonly pollSeconds: number
  /** How long requests in hand may finish after a stop before they are put back. */
  readonly grace: Duration.Duration
  readonly retry: Disposition.RetrySettings
  /** Prompt and output text in the logs (never by default). */
  readonly logContent: boolean
}

/**
 * The defaults of every setting.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaults: Settings = {
  // The queue's own defaults for its loop: one source for both.
  concurrency: LlmQueue.consumeDefaults.concurrency,
  visibilityTimeout: LlmQueue.consumeDefaults.visibilityTimeout,
  pollSeconds: LlmQueue.consumeDefaults.pollSeconds,
  grace: LlmQueue.consumeDefaults.grace,
  retry: { maxAttempts: 5, backoffBase: Duration.seconds(2), backoffMax: Duration.seconds(60) },
  logContent: false
}

/**
 * @since 0.1.0
 * @category services
 */
export class Worker extends Context.Service<
  Worker,
  {
    /** One delivery: its result, or `Later` when it is put off. Never fails. */
    readonly handle: (delivery: LlmQueue.Delivery) => Effect.Effect<Contract.LlmResult | LlmQueue.Later>
    /**
     * Serves the queue until `stop` completes, then lets the requests in hand finish within the
     * grace period and puts the rest back.
     */
    readonly run: (stop: Effect.Effect<void>) => Effect.Effect<void, Pgmq.QueueError>
  }
>()("@nexus/fleet/Worker") {
  /**
   * The worker over the queue and the router, with `settings`.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer = (settings: Settings): Layer.Layer<Worker, never, LlmQueue.LlmQueue | Router.Router> =>
    Layer.effect(Worker, make(settings))
}

/** The text of the conversation, for the content log. */
const promptText = (request: Contract.LlmRequest) =>
  request.messages
    .map(
      (message) =>
        `${message.role}: ${typeof message.content === "string" ? message.content : JSON.stringify(message.content)}`
    )
    .join("\n")

const make = (settings: Settings) =>
  Effect.gen(function* () {
    const queue = yield* LlmQueue.LlmQueue
    const router = yield* Router.Router

    const answered = (request: Contract.LlmRequest, result: Contract.LlmResult, startedAt: number, text?: string) =>
      Effect.gen(function* () {
        const tag = result.error?.tag ?? "none"
        yield* Metric.update(Metric.withAttributes(Metrics.requests, { status: result.status, error: tag }), 1)
        const finishedAt = Date.parse(result.finished_at)
        yield* Metric.update(Metrics.duration, (finishedAt - startedAt) / 1000)
        yield* Effect.annotateCurrentSpan({
          request_id: request.id,
          status: result.status,
          model: result.model ?? "",
          account: result.account ?? "",
          error: tag
        })
        const fields = {
          request_id: request.id,
          task_type: request.task_type,
          status: result.status,
          model: result.model,
          account: result.account,
          attempts: result.attempts,
          ms: finishedAt - startedAt,
          ...(result.error === undefined ? {} : { error: result.error.tag, reason: result.error.message }),
          ...(settings.logContent ? { prompt: promptText(request), output: text ?? "" } : {})
        }
        if (result.status === "ok") yield* Effect.logDebug("request answered", fields)
        else yield* Effect.logInfo("request answered with an error", fields)
        return result
      })

    const handle = (delivery: LlmQueue.Delivery): Effect.Effect<Contract.LlmResult | LlmQueue.Later> =>
      Effect.gen(function* () {
        const { request } = delivery
        const startedAt = yield* Clock.currentTimeMillis
        yield* Metric.update(Metrics.lag, Math.max(0, startedAt - delivery.enqueuedAt.getTime()) / 1000)
        const timing = (finishedAt: number): Turn.Timing => ({
          enqueuedAt: delivery.enqueuedAt,
          startedAt,
          finishedAt,
          attempts: delivery.readCt
        })
        const answer = (failure: Turn.Failure) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            answered(request, Turn.errorResult(request, failure, timing(now)), startedAt)
          )

        const deadline = request.deadline === undefined ? undefined : Date.parse(request.deadline)
        if (deadline !== undefined && Number.isNaN(deadline)) {
          return yield* answer({
            tag: "InvalidRequest",
            message: `The request's deadline ${JSON.stringify(request.deadline)} is not an ISO-8601 time. Send it again with a valid one.`,
            retryable: false
          })
        }
        if (deadline !== undefined && deadline <= startedAt) {
          return yield* answer(Disposition.deadlinePassed(deadline, false))
        }
        const turn = Turn.fromRequest(request)
        if (turn instanceof Turn.UnsupportedRequest) {
          return yield* answer({ tag: turn._tag, message: turn.message, retryable: false })
        }

        const output = Turn.emptyOutput()
        const gather = (events: ReadonlyArray<ChatEvent.ChatEvent | Router.RouteChosen>) =>
          Turn.gather(output, events, Date.now() - startedAt)
        // The turn's batches pulled in a loop, in a scope of the turn's own (its close ends the
        // upstream request): no stream between, which a turn per request would pay for in CPU.
        const streamed = Effect.scoped(
          Effect.gen(function* () {
            const opened = yield* router.open(turn.route, turn.conversation)
            gather(Router.headOf(opened))
            if (opened.first === undefined) return
            for (;;) {
              const batch = yield* Pull.catchDone(opened.pull, () => Effect.undefined)
              if (batch === undefined) return
              gather(batch)
            }
          })
        )
        const outcome = yield* Effect.result(
          deadline === undefined ? Effect.asSome(streamed) : Effect.timeoutOption(streamed, deadline - startedAt)
        )
        const now = yield* Clock.currentTimeMillis
        if (outcome._tag === "Success") {
          if (outcome.success._tag === "None") return yield* answer(Disposition.deadlinePassed(deadline!, true))
          const result = Turn.okResult(request, output, output.route!, timing(now))
          return yield* answered(request, result, startedAt, output.events.finalText)
        }
        const decision = Disposition.decide(outcome.failure, {
          now,
          attempt: delivery.readCt,
          deadline,
          settings: settings.retry
        })
        if (decision._tag === "Answer") return yield* answer(decision.failure)
        yield* Metric.update(Metric.withAttributes(Metrics.putOff, { reason: decision.kind }), 1)
        yield* Effect.logInfo("request put off", {
          request_id: request.id,
          until: new Date(decision.until).toISOString(),
          reason: decision.reason,
          error: outcome.failure.message
        })
        return new LlmQueue.Later({ delay: Duration.millis(decision.until - now), reason: decision.reason })
      })

    const run = (stop: Effect.Effect<void>) =>
      queue.consume(handle, {
        concurrency: settings.concurrency,
        visibilityTimeout: settings.visibilityTimeout,
        pollSeconds: settings.pollSeconds,
        grace: settings.grace,
        stop,
        onInFlight: (change) => Metric.modify(Metrics.inFlight, change)
      })

    return Worker.of({ handle, run })
  })

/**
 * `LlmQueue.consume`: the worker's read loop.
 *
 * - It reads when woken: by an insert notification on `llm_requests` (one LISTEN per process), by
 *   a handler that freed a slot while requests were left, by a request it put off coming due; and
 *   otherwise once every `pollSeconds` (for requests whose visibility timeout ran out, which no
 *   notification announces). An idle consumer makes one query per `pollSeconds`, nothing more.
 * - The visibility timeouts of every request in hand are extended together, one query per third
 *   of the timeout.
 * - When `stop` completes it reads no more, lets the requests in hand finish for `grace`, then
 *   interrupts them: each interrupted request is made visible again at once for another consumer.
 */
import type { PgClient } from "@effect/sql-pg"
import { Tracing } from "@nexus/telemetry"
import { Cause, Data, Deferred, Duration, Effect, FiberSet, Queue, Semaphore } from "effect"
import {
  DEFAULT_REPLY_TO,
  InvalidMessage,
  type LlmRequest,
  type LlmResult,
  parseRequest,
  REQUESTS
} from "../Contract.ts"
import type { Message, MessageId } from "../Messages.ts"
import type { Pgmq, QueueError } from "../Pgmq.ts"
import * as Wakeups from "./wakeups.ts"

/**
 * A request delivered to a consumer.
 *
 * @since 0.1.0
 * @category models
 */
export interface Delivery {
  readonly msgId: MessageId
  /** Which delivery of the request this is (1 for the first). */
  readonly readCt: number
  readonly enqueuedAt: Date
  readonly request: LlmRequest
  /** The queue its result goes to. */
  readonly replyTo: string
}

/**
 * A handler's answer that the request cannot be served now: it becomes visible again after
 * `delay` (to this consumer or another), and its next delivery counts one more read.
 *
 * @since 0.1.0
 * @category models
 */
export class Later extends Data.TaggedClass("Later")<{
  readonly delay: Duration.Duration
  /** Why, for the log. */
  readonly reason: string
}> {}

/**
 * How `consume` reads and stops.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumeOptions {
  /** Requests handled at once (default 16). */
  readonly concurrency?: number | undefined
  /** Seconds a delivered request stays invisible; extended every third of it while handled (default 30). */
  readonly visibilityTimeout?: number | undefined
  /** Seconds between reads when no notification comes (default 5). */
  readonly pollSeconds?: number | undefined
  /** When this completes, reading stops and the requests in hand get `grace` to finish. */
  readonly stop?: Effect.Effect<void> | undefined
  /** How long requests in hand may run after `stop` before they are put back (default 30 s). */
  readonly grace?: Duration.Input | undefined
  /** Called with each request taken in hand and each one let go (for a gauge of those in flight). */
  readonly onInFlight?: ((change: 1 | -1) => Effect.Effect<void>) | undefined
}

/**
 * What `consume` does when an option is not given.
 *
 * @since 0.1.0
 * @category models
 */
export const consumeDefaults = {
  concurrency: 16,
  visibilityTimeout: 30,
  pollSeconds: 5,
  grace: Duration.seconds(30)
} as const

/** What the consumer needs of `LlmQueue`. */
export interface Parts {
  readonly pgmq: Pgmq["Service"]
  readonly sql: PgClient.PgClient
  readonly maxBytes: number
  readonly complete: (delivery: Delivery, result: LlmResult) => Effect.Effect<boolean, QueueError>
  readonly deadLetter: (message: Message, reason: InvalidMessage) => Effect.Effect<boolean, QueueError>
  /** Makes the request visible again in `seconds`, if this delivery is still its latest. */
  readonly release: (msgId: MessageId, readCt: number, seconds: number) => Effect.Effect<boolean, QueueError>
  /** Extends by `vt` seconds the invisibility of the requests in hand (id → the delivery held). */
  readonly extend: (held: ReadonlyMap<MessageId, number>, vt: number) => Effect.Effect<void, QueueError>
}

/** A request delivered this many times without a result is dead-lettered (never an endless loop). */
const MAX_DELIVERIES = 25

/** Failures of `complete` that trying again cannot mend: the request is dead-lettered with them. */
const unpublishable = (error: QueueError) =>
  error._tag === "QueueNotFound" ||
  error._tag === "InvalidQueueName" ||
  (error._tag === "PgmqError" && error.reason === "rejected")

export const consume =
  (parts: Parts) =>
  <E, R>(
    handler: (delivery: Delivery) => Effect.Effect<LlmResult | Later, E, R>,
    options: ConsumeOptions = {}
  ): Effect.Effect<void, QueueError, R> =>
    Effect.gen(function* () {
      const { pgmq, sql, maxBytes } = parts
      const concurrency = Math.max(1, options.concurrency ?? consumeDefaults.concurrency)
      const vt = Math.max(1, options.visibilityTimeout ?? consumeDefaults.visibilityTimeout)
      const poll = Duration.seconds(options.pollSeconds ?? consumeDefaults.pollSeconds)
      const onInFlight = options.onInFlight ?? (() => Effect.void)
      const slots = yield* Semaphore.make(concurrency)
      const quarter = Math.ceil(concurrency / 4)
      const inFlight = yield* FiberSet.make<void, never>()
      /** Requests in hand: message id → the delivery (read count) this consumer holds. */
      const held = new Map<MessageId, number>()
      /** Something may be waiting: a notification came, a slot freed with requests left, a delay ran out. */
      const wake = yield* Queue.sliding<void>(1)
      const poke = Effect.asVoid(Queue.offer(wake, undefined))
      const stopping = yield* Deferred.make<void>()
      const scope = yield* Effect.scope
      /** The last read filled every free slot: more may be waiting. */
      let backlog = true

      yield* Effect.forkScoped(Wakeups.onInserts(pgmq, sql, REQUESTS, poke))
      yield* Effect.forkScoped(heartbeat(parts.extend, held, vt))
      if (options.stop !== undefined) {
        yield* Effect.forkScoped(Effect.andThen(options.stop, Deferred.succeed(stopping, undefined)))
      }

      const handle = (message: Message): Effect.Effect<void, never, R> => {
        const parsed =
          message.readCt > MAX_DELIVERIES
            ? new InvalidMessage({
                problem: "invalid",
                detail: `it was delivered ${message.readCt} times without a result (each ended in a failure the log shows)`
              })
            : parseRequest(message.message, maxBytes)
        if (parsed instanceof InvalidMessage) return logged(message, Effect.asVoid(parts.deadLetter(message, parsed)))
        const delivery: Delivery = {
          msgId: message.msgId,
          readCt: message.readCt,
          enqueuedAt: message.enqueuedAt,
          request: parsed,
          replyTo: parsed.reply_to ?? DEFAULT_REPLY_TO
        }
        const finish = (outcome: LlmResult | Later) =>
          outcome instanceof Later
            ? Effect.gen(function* () {
                const seconds = Math.ceil(Duration.toSeconds(outcome.delay))
                yield* parts.release(message.msgId, message.readCt, seconds)
                yield* Effect.logDebug("request put off", {
                  msgId: String(message.msgId),
                  seconds,
                  reason: outcome.reason
                })
                // Read again when it comes due, should nothing else wake this consumer by then.
                yield* Effect.forkIn(Effect.delay(poke, Duration.seconds(seconds)), scope)
              })
            : Effect.gen(function* () {
                const published = yield* parts.complete(delivery, outcome).pipe(
                  Effect.catchIf(unpublishable, (error) =>
                    parts.deadLetter(
                      message,
                      new InvalidMessage({
                        problem: "invalid",
                        detail:
                          error._tag === "QueueNotFound"
                            ? `its reply queue ${delivery.replyTo} does not exist`
                            : `its result cannot be published (${error.message})`
                      })
                    )
                  )
                )
                if (!published) {
                  yield* Effect.logInfo("request taken over by another consumer; this result is dropped", {
                    msgId: String(message.msgId)
                  })
                }
              })
        // Out of the heartbeat before it is let go: an extension under way must not undo a release.
        const letGo = Effect.sync(() => held.delete(message.msgId))
        return logged(
          message,
          handler(delivery).pipe(
            Effect.tap(() => letGo),
            Effect.flatMap(finish),
            // Put back at once when the consumer stops or is stopped before it is done.
            Effect.onInterrupt(() =>
              Effect.andThen(letGo, Effect.ignore(parts.release(message.msgId, message.readCt, 0), { log: "Warn" }))
            )
          )
        )
      }

      const start = (message: Message) =>
        Effect.gen(function* () {
          held.set(message.msgId, message.readCt)
          yield* onInFlight(1)
          yield* FiberSet.run(inFlight)(
            Tracing.traced(handle(message), "LlmQueue.handle", { msgId: String(message.msgId) }).pipe(
              Effect.ensuring(
                Effect.suspend(() => {
                  held.delete(message.msgId)
                  return Effect.andThen(onInFlight(-1), slots.release(1))
                })
              )
            )
          )
        })

      const untilStopped = <A, X>(effect: Effect.Effect<A, X>) =>
        Effect.raceFirst(Effect.asSome(effect), Effect.as(Deferred.await(stopping), undefined))

      while (!(yield* Deferred.isDone(stopping))) {
        if (!backlog) {
          if ((yield* untilStopped(Effect.timeoutOption(Queue.take(wake), poll))) === undefined) break
        }
        if ((yield* untilStopped(slots.take(1))) === undefined) break
        let free = 1
        while (free < concurrency && (yield* slots.takeIfAvailable(1))) free++
        // Busy (the last read filled every slot): a read per freed slot would cost a query per
        // request; waiting a millisecond for a quarter of the slots to free costs little latency.
        if (backlog && free < quarter) {
          yield* Effect.sleep("1 millis")
          while (free < concurrency && (yield* slots.takeIfAvailable(1))) free++
        }
        const read = yield* untilStopped(
          pgmq.read(REQUESTS, { vt, qty: free }).pipe(
            // The database going away for a while does not end the loop; a missing queue does.
            Effect.catchIf(
              (error) => error._tag === "PgmqError" && error.retryable,
              (error) =>
                Effect.as(
                  Effect.andThen(
                    Effect.logWarning("cannot read requests; trying again in a second", { reason: error.message }),
                    Effect.sleep("1 second")
                  ),
                  []
                )
            ),
            Effect.onError(() => slots.release(free))
          )
        )
        // A read the stop cut short: what it took comes back after its visibility timeout.
        if (read === undefined || read._tag === "None") break
        const messages = read.value
        if (messages.length < free) yield* slots.release(free - messages.length)
        backlog = messages.length === free
        for (const message of messages) yield* start(message)
      }

      const finished = yield* Effect.timeoutOption(
        FiberSet.awaitEmpty(inFlight),
        options.grace ?? consumeDefaults.grace
      )
      if (finished._tag === "None") {
        yield* Effect.logWarning("grace period over: putting back the requests still in hand", {
          requests: held.size
        })
        yield* FiberSet.clear(inFlight)
      }
    }).pipe(Effect.scoped)

/** A handler's failure or defect is logged; the request comes back after its visibility timeout. */
const logged = <R>(message: Message, effect: Effect.Effect<void, unknown, R>): Effect.Effect<void, never, R> =>
  Effect.catchCause(effect, (cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.void
      : Effect.andThen(
          Effect.logWarning("request not completed; it is delivered again after its visibility timeout", {
            msgId: String(message.msgId),
            error: Wakeups.causeLine(cause)
          }),
          Effect.logDebug("request not completed", cause)
        )
  )

/** Extends the visibility timeout of every request in hand, in one query, every third of it. */
const heartbeat = (extend: Parts["extend"], held: ReadonlyMap<MessageId, number>, vt: number): Effect.Effect<never> =>
  Effect.suspend(() =>
    held.size === 0
      ? Effect.void
      : extend(new Map(held), vt).pipe(
          Effect.catchCause((cause) =>
            Effect.logWarning("cannot extend the visibility timeout of the requests in hand", {
              error: Wakeups.causeLine(cause)
            })
          )
        )
  ).pipe(Effect.delay(Duration.seconds(vt / 3)), Effect.forever)

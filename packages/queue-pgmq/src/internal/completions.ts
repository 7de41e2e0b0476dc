// Group commit for `LlmQueue.complete`: the completions that arrive while one batch is being
// written go together in the next, as one statement (one round trip, one transaction). A busy
// worker finishing several requests at once then pays the database once for all of them; an
// idle one pays what a single statement costs. Should a batch fail (one reply queue missing),
// each of its completions is written alone, so that each caller gets its own answer.
import { Deferred, Effect, Exit, Metric, type Scope } from "effect"
import type { MessageId } from "../Messages.ts"
import type { QueueError } from "../Pgmq.ts"

/** How many completions each statement wrote (1: written alone). */
export const batchSize = Metric.histogram("nexus_queue_completion_batch_size", {
  description: "Completions (result sent, request archived) written by one statement",
  boundaries: [1, 2, 4, 8, 16, 32, 64]
})

export interface Completion {
  readonly msgId: MessageId
  readonly readCt: number
  readonly replyTo: string
  readonly body: unknown
}

interface Pending {
  readonly completion: Completion
  readonly answer: Deferred.Deferred<boolean, QueueError>
}

export const batcher = (options: {
  /** Writes the batch; answers the requests it archived (those still this consumer's). */
  readonly writeBatch: (batch: ReadonlyArray<Completion>) => Effect.Effect<ReadonlySet<MessageId>, QueueError>
  /** Writes one completion alone. */
  readonly writeOne: (completion: Completion) => Effect.Effect<boolean, QueueError>
  readonly scope: Scope.Scope
  readonly maxBatch: number
}): ((completion: Completion) => Effect.Effect<boolean, QueueError>) => {
  const pending: Array<Pending> = []
  let writing = false

  /** The batch being written, answered (interrupted) should the writer be stopped. */
  let current: ReadonlyArray<Pending> = []

  /**
   * The next batch; none (and no writer any more) when nothing is pending, decided in one step.
   * A request completed twice at once goes in one batch once: the other waits for the next, which
   * finds it archived — a statement must never publish two results for one request.
   */
  const next = Effect.sync(() => {
    if (pending.length === 0) {
      writing = false
      current = []
      return undefined
    }
    const ids = new Set<MessageId>()
    const batch: Array<Pending> = []
    const later: Array<Pending> = []
    for (const entry of pending) {
      if (batch.length < options.maxBatch && !ids.has(entry.completion.msgId)) {
        ids.add(entry.completion.msgId)
        batch.push(entry)
      } else later.push(entry)
    }
    pending.splice(0, pending.length, ...later)
    current = batch
    return batch
  })

  const writer: Effect.Effect<void> = Effect.gen(function* () {
    while (true) {
      const batch = yield* next
      if (batch === undefined) return
      const written =
        batch.length === 1 ? undefined : yield* Effect.exit(options.writeBatch(batch.map((entry) => entry.completion)))
      if (written !== undefined && Exit.isSuccess(written)) yield* Metric.update(batchSize, batch.length)
      for (const entry of batch) {
        if (written !== undefined && Exit.isSuccess(written)) {
          yield* Deferred.succeed(entry.answer, written.value.has(entry.completion.msgId))
        } else {
          yield* Metric.update(batchSize, 1)
          yield* Deferred.done(entry.answer, yield* Effect.exit(options.writeOne(entry.completion)))
        }
      }
    }
  }).pipe(
    Effect.onInterrupt(() =>
      Effect.sync(() => {
        writing = false
        for (const entry of [...current, ...pending.splice(0)]) Deferred.doneUnsafe(entry.answer, Exit.interrupt())
        current = []
      })
    ),
    // Its statements serve many requests: they belong to none of their traces.
    Effect.withTracerEnabled(false)
  )

  return (completion) =>
    Effect.suspend(() => {
      const answer = Deferred.makeUnsafe<boolean, QueueError>()
      pending.push({ completion, answer })
      if (writing) return Deferred.await(answer)
      writing = true
      return Effect.andThen(Effect.forkIn(writer, options.scope), Deferred.await(answer))
    })
}

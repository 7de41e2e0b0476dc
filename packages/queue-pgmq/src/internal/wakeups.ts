// Wake-ups on a queue's inserts: pgmq's insert notifications (enabled without throttle, so that
// none is skipped) on one LISTEN, calling `wake` once the LISTEN is up (for what came before) and
// at each notification. A lost connection is said once per loss and the LISTEN made again a
// second later; the caller reads on a timer meanwhile.
import type { PgClient } from "@effect/sql-pg"
import { Cause, Effect, Queue, Schedule } from "effect"
import { channel, type Pgmq } from "../Pgmq.ts"
import type { QueueName } from "../QueueName.ts"

export const onInserts = (
  pgmq: Pgmq["Service"],
  sql: PgClient.PgClient,
  queue: string,
  wake: Effect.Effect<void>
): Effect.Effect<never> =>
  Effect.gen(function* () {
    const throttles = yield* pgmq.listNotifyInsertThrottles
    if (!throttles.some((entry) => entry.queueName === queue && entry.throttleIntervalMs === 0)) {
      yield* pgmq.enableNotifyInsert(queue, 0)
    }
    const notifications = yield* sql.listen(channel(queue as QueueName))
    yield* wake
    while (true) {
      yield* Queue.take(notifications)
      yield* wake
    }
  }).pipe(
    Effect.scoped,
    Effect.catchCause((cause) =>
      Effect.logWarning(`LISTEN on ${queue} lost; reading on a timer until it is back`, {
        error: causeLine(cause)
      })
    ),
    Effect.repeat(Schedule.spaced("1 second")),
    Effect.andThen(Effect.never)
  )

/**
 * One line for a failure: what it says, not what it carries (a driver error may hold the SQL
 * and its parameters — a request's body); callers put the whole cause in the debug log.
 */
export const causeLine = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!
}

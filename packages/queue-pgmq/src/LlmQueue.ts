/**
 * The LLM request/result queue (design §4) over pgmq: agents `enqueue` requests and `awaitResult`;
 * the worker `consume`s them and `complete`s each with its result.
 *
 * - A result is published only by the consumer holding the request's latest delivery: `complete`
 *   sends the result and archives the request in one transaction that first locks the request and
 *   checks its `read_ct` is the one delivered to this consumer. A consumer whose visibility timeout
 *   ran out and whose request another consumer took over publishes nothing, so every request gets
 *   exactly one result.
 * - `awaitResult` reads only its own result (a conditional read on `request_id`), so callers
 *   sharing a reply queue never take each other's results; it wakes on the reply queue's insert
 *   notifications (one LISTEN per queue and process), with a read every second should one be
 *   missed.
 * - A body that does not follow the contract is dead-lettered to `llm_requests_dlq` with the
 *   reason (and its sender gets an error result when its id and reply queue can be read); the
 *   loop goes on.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Database } from "@nexus/database"
import { Tracing } from "@nexus/telemetry"
import { Config, Context, Data, Duration, Effect, Layer, Option, PubSub, Schema, Scope, Semaphore } from "effect"
import {
  DEAD_LETTERS,
  DEFAULT_MAX_BYTES,
  DEFAULT_REPLY_TO,
  InvalidMessage,
  type LlmRequest,
  LlmResult,
  parseRequest,
  recoverable,
  REQUESTS
} from "./Contract.ts"
import type { Message, MessageId } from "./Messages.ts"
import { fromSqlError, pgmqError } from "./Errors.ts"
import { type ConsumeOptions, consumeDefaults, type Delivery, Later } from "./internal/consumer.ts"
import { type Completion } from "./internal/completions.ts"
import * as Completions from "./internal/completions.ts"
import * as Consumer from "./internal/consumer.ts"
import * as Wakeups from "./internal/wakeups.ts"
import { Pgmq, type QueueError } from "./Pgmq.ts"
import * as QueueName from "./QueueName.ts"

/**
 * A request dead-lettered, as `llm_requests_dlq` holds it.
 *
 * @since 0.1.0
 * @category models
 */
export const DeadLetter = Schema.Struct({
  reason: Schema.String,
  problem: Schema.String,
  original_msg_id: Schema.String,
  original_queue: Schema.String,
  read_ct: Schema.Int,
  enqueued_at: Schema.String,
  dead_lettered_at: Schema.String,
  headers: Schema.NullOr(Schema.Json),
  body: Schema.NullOr(Schema.Json)
})

/**
 * @since 0.1.0
 * @category models
 */
export type DeadLetter = typeof DeadLetter.Type

/**
 * No result for the request within the time given; it stays on the reply queue should it come.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResultTimeout extends Schema.TaggedError<ResultTimeout>()("ResultTimeout", {
  requestId: Schema.String,
  replyTo: Schema.String,
  waitedMs: Schema.Number
}) {
  override get message() {
    return `No result for request ${this.requestId} on ${this.replyTo} after ${Math.round(this.waitedMs / 1000)} s: is a worker running (nexus-worker)? The result will stay on ${this.replyTo} when it comes.`
  }
}

/**
 * How many completions each statement wrote: above 1 when requests finish together (group commit).
 *
 * @since 0.1.0
 * @category metrics
 */
export const completionBatchSize = Completions.batchSize

export {
  /**
   * @since 0.1.0
   * @category models
   */
  type ConsumeOptions,
  /**
   * @since 0.1.0
   * @category models
   */
  consumeDefaults,
  /**
   * @since 0.1.0
   * @category models
   */
  type Delivery,
  /**
   * @since 0.1.0
   * @category models
   */
  Later
}

/** The delivery was taken over by another consumer: this one must not publish. */
class Superseded extends Data.TaggedError("Superseded") {}

/**
 * The LLM request/result queue.
 *
 * @since 0.1.0
 * @category services
 */
export class LlmQueue extends Context.Service<
  LlmQueue,
  {
    /** Validates the request and sends it; answers its message id. */
    readonly enqueue: (request: LlmRequest) => Effect.Effect<MessageId, InvalidMessage | QueueError>
    readonly enqueueBatch: (
      requests: ReadonlyArray<LlmRequest>
    ) => Effect.Effect<ReadonlyArray<MessageId>, InvalidMessage | QueueError>
    /** The result of request `requestId` from `replyTo` (default `llm_results`), archived once read. */
    readonly awaitResult: (
      requestId: string,
      options: { readonly replyTo?: string | undefined; readonly timeout: Duration.Input }
    ) => Effect.Effect<LlmResult, ResultTimeout | InvalidMessage | QueueError>
    /**
     * The worker's loop: reads when notified (or every `pollSeconds`), dead-letters what cannot be
     * served, runs `handler` and completes with its result or puts the request off (`Later`);
     * returns once `stop` completed and the requests in hand finished or were put back.
     */
    readonly consume: <E, R>(
      handler: (delivery: Delivery) => Effect.Effect<LlmResult | Later, E, R>,
      options?: ConsumeOptions
    ) => Effect.Effect<void, QueueError, R>
    /** Sends the result and archives the request, only if this delivery is still the request's latest. */
    readonly complete: (delivery: Delivery, result: LlmResult) => Effect.Effect<boolean, QueueError>
    /** Makes the request visible again in `seconds` (0: at once), only if this delivery is still its latest. */
    readonly release: (msgId: MessageId, readCt: number, seconds: number) => Effect.Effect<boolean, QueueError>
    /** Moves a request to `llm_requests_dlq` with the reason, only if this delivery is still its latest. */
    readonly deadLetter: (message: Message, reason: InvalidMessage) => Effect.Effect<boolean, QueueError>
    /** What `llm_requests_dlq` holds, oldest first, with the dead letter's own message id. */
    readonly deadLetters: Effect.Effect<
      ReadonlyArray<{ readonly msgId: MessageId; readonly letter: DeadLetter }>,
      QueueError
    >
    /** Puts dead letters back on `llm_requests` (their body, or `body` for one), each in one transaction. */
    readonly retry: (
      ids: ReadonlyArray<MessageId> | "all",
      body?: Schema.Json
    ) => Effect.Effect<ReadonlyArray<{ readonly deadLetter: MessageId; readonly request: MessageId }>, QueueError>
  }
>()("@nexus/queue-pgmq/LlmQueue") {
  /**
   * Over `Pgmq` and the client it uses; bodies over `maxBytes` are refused.
   *
   * @since 0.1.0
   * @category constructors
   */
  static readonly make = (options: { readonly maxBytes?: number | undefined } = {}) =>
    Effect.gen(function* () {
      const pgmq = yield* Pgmq
      const sql = yield* PgClient.PgClient
      const scope = yield* Scope.Scope
      return make(pgmq, sql, scope, options.maxBytes ?? DEFAULT_MAX_BYTES)
    })

  /**
   * Over the `Pgmq` and `PgClient` provided (the same database), with the default size limit.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerNoDeps: Layer.Layer<LlmQueue, never, Pgmq | PgClient.PgClient> = Layer.effect(
    LlmQueue,
    LlmQueue.make()
  )

  /**
   * On the queue database, with the size limit from `NEXUS_QUEUE_MAX_BYTES` (default 1 MiB).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<LlmQueue, Config.ConfigError, Database.QueueDatabase> = Layer.effect(
    LlmQueue,
    Effect.gen(function* () {
      const maxBytes = yield* Config.Int("NEXUS_QUEUE_MAX_BYTES").pipe(Config.withDefault(DEFAULT_MAX_BYTES))
      const queues = yield* Database.QueueDatabase
      return yield* LlmQueue.make({ maxBytes }).pipe(Effect.provideService(PgClient.PgClient, queues.sql))
    })
  ).pipe(Layer.provide(Pgmq.layer))
}

const encodeResult = Schema.encodeUnknownEffect(LlmResult)
const decodeResult = Schema.decodeUnknownEffect(LlmResult)
const decodeDeadLetter = Schema.decodeUnknownOption(DeadLetter)

/** A dead letter as Nexus writes it; anything else put on the queue by hand, as its body. */
const asDeadLetter = (message: unknown): DeadLetter =>
  Option.getOrElse(decodeDeadLetter(message), () => ({
    reason: "not written by Nexus",
    problem: "unknown",
    original_msg_id: "",
    original_queue: "",
    read_ct: 0,
    enqueued_at: "",
    dead_lettered_at: "",
    headers: null,
    body: (message ?? null) as Schema.Json | null
  }))

const make = (pgmq: Pgmq["Service"], sql: PgClient.PgClient, scope: Scope.Scope, maxBytes: number) => {
  /** Reply queues this process made sure exist. */
  const replyQueues = new Set<string>()
  const ensureReplyQueue = (queue: string) =>
    replyQueues.has(queue)
      ? Effect.void
      : Effect.tap(pgmq.create(queue), () => Effect.sync(() => replyQueues.add(queue)))

  const validated = (request: LlmRequest) =>
    Effect.gen(function* () {
      const parsed = parseRequest(request, maxBytes)
      // The reply queue's name was checked with the rest of the contract.
      if (parsed instanceof InvalidMessage) return yield* parsed
      yield* ensureReplyQueue(parsed.reply_to ?? DEFAULT_REPLY_TO)
      return parsed
    })

  const enqueue = Tracing.fn(
    "LlmQueue.enqueue",
    Effect.fnUntraced(function* (request: LlmRequest) {
      return yield* pgmq.send(REQUESTS, (yield* validated(request)) as Schema.Json)
    })
  )

  const enqueueBatch = Tracing.fn(
    "LlmQueue.enqueueBatch",
    Effect.fnUntraced(function* (requests: ReadonlyArray<LlmRequest>) {
      const bodies = yield* Effect.forEach(requests, validated)
      return bodies.length === 0 ? [] : yield* pgmq.sendBatch(REQUESTS, bodies as ReadonlyArray<Schema.Json>)
    })
  )

  const requestsTable = sql`${sql("pgmq")}.${sql(QueueName.tables(REQUESTS as QueueName.QueueName).queue)}`

  /**
   * Publishes with `publish` and archives the request in one transaction, if this delivery is
   * still its latest: the row is locked only when its `read_ct` is the one delivered (as
   * `complete` and `release` claim it); false, and nothing written, when it is not.
   */
  const whileStillOurs = (
    msgId: MessageId,
    readCt: number,
    publish: Effect.Effect<void, QueueError>
  ): Effect.Effect<boolean, QueueError> =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          const claimed = yield* sql`
            SELECT msg_id FROM ${requestsTable}
            WHERE msg_id = ${msgId}::bigint AND read_ct = ${readCt}::integer FOR UPDATE`
          if (claimed.length === 0) return yield* new Superseded()
          yield* publish
          yield* pgmq.archive(REQUESTS, msgId)
          return true
        })
      )
      .pipe(
        Effect.catchTag("Superseded", () => Effect.succeed(false)),
        Effect.catchTag("SqlError", (error) => Effect.fail(pgmqError("transaction", REQUESTS)(error)))
      )

  /** One statement: the request locked if this delivery is still its latest, then its new visibility. */
  const release = Tracing.fn("LlmQueue.release", (msgId: MessageId, readCt: number, seconds: number) =>
    sql`
      WITH claimed AS (
        SELECT msg_id FROM ${requestsTable}
        WHERE msg_id = ${msgId}::bigint AND read_ct = ${readCt}::integer FOR UPDATE
      )
      SELECT moved.msg_id FROM claimed, pgmq.set_vt(${REQUESTS}::text, claimed.msg_id, ${Math.max(0, Math.ceil(seconds))}::integer) AS moved`.pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.mapError(fromSqlError("release", REQUESTS))
    )
  )

  /**
   * The consumer's heartbeat: the requests it holds (at the deliveries it holds) invisible for
   * `vt` more seconds, locked in id order as `complete` locks them, answering nothing (pgmq's
   * batch `set_vt` would send every body back). The one write to pgmq's table outside its
   * functions: the `vt` column is its documented visibility time.
   */
  const extend = (held: ReadonlyMap<MessageId, number>, vt: number) =>
    sql`
      UPDATE ${requestsTable} AS q SET vt = clock_timestamp() + make_interval(secs => ${vt}::integer)
      FROM (
        SELECT l.msg_id FROM ${requestsTable} AS l
        JOIN unnest(${[...held.keys()]}::bigint[], ${[...held.values()]}::integer[]) AS h(msg_id, read_ct)
          ON h.msg_id = l.msg_id AND h.read_ct = l.read_ct
        ORDER BY l.msg_id FOR UPDATE OF l
      ) AS locked
      WHERE q.msg_id = locked.msg_id`.pipe(Effect.asVoid, Effect.mapError(fromSqlError("extend", REQUESTS)))

  /**
   * One statement, so one round trip and one transaction: lock the request if this delivery is
   * still its latest (`read_ct`), send the result, archive the request. No row: it was not ours.
   */
  const writeOne = (completion: Completion) =>
    sql`
      WITH claimed AS (
        SELECT msg_id FROM ${requestsTable}
        WHERE msg_id = ${completion.msgId}::bigint AND read_ct = ${completion.readCt}::integer FOR UPDATE
      ), published AS (
        SELECT pgmq.send(${completion.replyTo}::text, ${JSON.stringify(completion.body)}::jsonb) AS id FROM claimed
      )
      SELECT pgmq.archive(${REQUESTS}::text, ${completion.msgId}::bigint) AS archived FROM published`.pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.mapError(fromSqlError("complete", completion.replyTo))
    )

  /** The same for several completions at once (locked in id order); answers the ids archived. */
  const writeBatch = (batch: ReadonlyArray<Completion>) => {
    const input = batch.map((entry) => ({
      msg_id: String(entry.msgId),
      read_ct: entry.readCt,
      reply_to: entry.replyTo,
      body: entry.body
    }))
    return sql<{ readonly archived: string | bigint }>`
      WITH input AS (
        SELECT * FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb)
          AS i(msg_id bigint, read_ct integer, reply_to text, body jsonb)
      ), claimed AS (
        SELECT q.msg_id, i.reply_to, i.body FROM ${requestsTable} AS q
        JOIN input AS i ON i.msg_id = q.msg_id AND i.read_ct = q.read_ct
        ORDER BY q.msg_id FOR UPDATE OF q
      ), published AS (
        SELECT msg_id, pgmq.send(reply_to, body) AS id FROM claimed
      )
      SELECT pgmq.archive(${REQUESTS}::text, array_agg(msg_id)) AS archived FROM published HAVING count(*) > 0`.pipe(
      Effect.map((rows) => new Set(rows.map((row) => BigInt(row.archived)))),
      Effect.mapError(fromSqlError("complete", REQUESTS))
    )
  }

  const completeBatched = Completions.batcher({ writeBatch, writeOne, scope, maxBatch: 64 })

  const complete = Tracing.fn(
    "LlmQueue.complete",
    Effect.fnUntraced(function* (delivery: Delivery, result: LlmResult) {
      const body = yield* encodeResult(result).pipe(Effect.orDie)
      const replyTo = QueueName.make(delivery.replyTo)
      if (typeof replyTo !== "string") return yield* replyTo
      return yield* completeBatched({ msgId: delivery.msgId, readCt: delivery.readCt, replyTo, body })
    })
  )

  const deadLetter = Tracing.fn(
    "LlmQueue.deadLetter",
    Effect.fnUntraced(function* (message: Message, reason: InvalidMessage) {
      const now = new Date().toISOString()
      const letter: DeadLetter = {
        reason: reason.detail,
        problem: reason.problem,
        original_msg_id: String(message.msgId),
        original_queue: REQUESTS,
        read_ct: message.readCt,
        enqueued_at: message.enqueuedAt.toISOString(),
        dead_lettered_at: now,
        headers: message.headers,
        body: message.message
      }
      const sender = recoverable(message.message)
      const tell =
        sender === undefined || typeof QueueName.make(sender.replyTo) !== "string"
          ? Effect.void
          : // A savepoint: a reply queue that does not exist must not undo the dead letter.
            sql
              .withTransaction(
                pgmq.send(sender.replyTo, {
                  version: 1,
                  request_id: sender.id,
                  status: "error",
                  model: null,
                  account: null,
                  error: { tag: "InvalidMessage", message: reason.message, retryable: false },
                  attempts: 0,
                  started_at: now,
                  finished_at: now
                })
              )
              .pipe(
                Effect.asVoid,
                Effect.catchTag("QueueNotFound", () => Effect.void),
                Effect.catchTag("SqlError", (error) => Effect.fail(pgmqError("send", sender.replyTo)(error)))
              )
      const published = yield* whileStillOurs(
        message.msgId,
        message.readCt,
        Effect.andThen(pgmq.send(DEAD_LETTERS, letter as Schema.Json), tell)
      )
      if (published) {
        yield* Effect.logWarning("request dead-lettered", {
          msgId: String(message.msgId),
          problem: reason.problem,
          reason: reason.detail
        })
      }
      return published
    })
  )

  // One LISTEN per reply queue and process; awaiting callers subscribe to its wake-ups.
  const wakeUps = new Map<string, PubSub.PubSub<void>>()
  // Callers of one queue arriving together set it up once.
  const setUp = Semaphore.makeUnsafe(1)
  const wakeUpsOf = (queue: string) =>
    Effect.gen(function* () {
      const known = wakeUps.get(queue)
      if (known !== undefined) return known
      const hub = yield* PubSub.sliding<void>(1)
      yield* Effect.forkIn(Wakeups.onInserts(pgmq, sql, queue, PubSub.publish(hub, undefined)), scope)
      wakeUps.set(queue, hub)
      return hub
    }).pipe(setUp.withPermit)

  const awaitResult = Tracing.fn(
    "LlmQueue.awaitResult",
    Effect.fnUntraced(function* (
      requestId: string,
      options: { readonly replyTo?: string | undefined; readonly timeout: Duration.Input }
    ) {
      const replyTo = options.replyTo ?? DEFAULT_REPLY_TO
      const waited = Duration.toMillis(Duration.fromInputUnsafe(options.timeout))
      const hub = yield* wakeUpsOf(replyTo)
      const wake = yield* PubSub.subscribe(hub)
      const find = pgmq.read(replyTo, { vt: 30, qty: 1, conditional: { request_id: requestId } })
      const found = yield* Effect.gen(function* () {
        while (true) {
          const [message] = yield* find
          if (message !== undefined) return message
          yield* Effect.timeoutOption(PubSub.take(wake), "1 second")
        }
      }).pipe(
        Effect.timeoutOrElse({
          duration: options.timeout,
          orElse: () => Effect.fail(new ResultTimeout({ requestId, replyTo, waitedMs: waited }))
        })
      )
      yield* pgmq.archive(replyTo, found.msgId)
      return yield* decodeResult(found.message).pipe(
        Effect.mapError(
          (error) =>
            new InvalidMessage({
              problem: "invalid",
              detail: `the result on ${replyTo} is malformed: ${error.message}`
            })
        )
      )
    }, Effect.scoped)
  )

  const consume = Consumer.consume({ pgmq, sql, maxBytes, complete, deadLetter, release, extend })

  const dlqTable = sql`${sql("pgmq")}.${sql(QueueName.tables(DEAD_LETTERS as QueueName.QueueName).queue)}`

  const deadLetters = Effect.gen(function* () {
    // Read from the queue's table, so that listing does not count as a read.
    const rows = yield* sql<{ readonly msg_id: bigint; readonly message: unknown }>`
      SELECT msg_id, message FROM ${dlqTable} ORDER BY msg_id`.pipe(Effect.mapError(fromSqlError("list", DEAD_LETTERS)))
    return rows.map((row) => ({ msgId: row.msg_id, letter: asDeadLetter(row.message) }))
  }).pipe(Effect.withSpan("LlmQueue.deadLetters"))

  const retryOne = (id: MessageId, body: Schema.Json | undefined) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          const [row] = yield* sql<{ readonly message: unknown }>`
            SELECT message FROM ${dlqTable} WHERE msg_id = ${id} FOR UPDATE`.pipe(
            Effect.mapError(fromSqlError("retry", DEAD_LETTERS))
          )
          if (row === undefined) return Option.none()
          const request = yield* pgmq.send(REQUESTS, body ?? asDeadLetter(row.message).body)
          yield* pgmq.archive(DEAD_LETTERS, id)
          return Option.some({ deadLetter: id, request })
        })
      )
      .pipe(Effect.catchTag("SqlError", (error) => Effect.fail(fromSqlError("retry", DEAD_LETTERS)(error))))

  const retry = Tracing.fn(
    "LlmQueue.retry",
    Effect.fnUntraced(function* (ids: ReadonlyArray<MessageId> | "all", body?: Schema.Json) {
      const targets = ids === "all" ? (yield* deadLetters).map((entry) => entry.msgId) : ids
      const done = yield* Effect.forEach(targets, (id) => retryOne(id, body))
      return done.flatMap((entry) => (Option.isSome(entry) ? [entry.value] : []))
    })
  )

  return LlmQueue.of({
    enqueue,
    enqueueBatch,
    awaitResult,
    consume,
    complete,
    release,
    deadLetter,
    deadLetters,
    retry
  })
}

/**
 * The pgmq 1.11 API as an Effect service over `SqlClient` — the extension's functions or Nexus's
 * compatible install, whichever the database has (`PgmqInstall`). Every call checks its queue
 * name before any SQL, casts every argument (pgmq's overloads make uncast calls ambiguous:
 * `send(unknown, unknown, unknown)`), decodes what pgmq answers with Schema, and fails with
 * `InvalidQueueName`, `QueueNotFound` or `PgmqError` naming the queue and the operation.
 *
 * Delays and visibility timeouts are whole seconds (a number) or a point in time (a `Date`).
 *
 * @since 0.1.0
 */
import { Database } from "@nexus/database"
import { Tracing } from "@nexus/telemetry"
import { Context, Effect, Layer, Option, Result, Schema } from "effect"
import { SqlClient } from "effect/sql"
import type { SqlError, Statement } from "effect/sql"
import { fromSqlError, PgmqError, pgmqError, type QueueNotFound } from "./Errors.ts"
import {
  fromRow,
  type Message,
  MessageRow,
  type MessageId,
  NotifyThrottle,
  QueueInfo,
  QueueMetrics,
  RouteMatch,
  TopicBinding,
  TopicMessage
} from "./Messages.ts"
import { detect, type Installation } from "./PgmqInstall.ts"
import * as QueueName from "./QueueName.ts"

/**
 * How a send is delayed: whole seconds from now, or the moment it becomes visible.
 *
 * @since 0.1.0
 * @category models
 */
export type Delay = number | Date

/**
 * @since 0.1.0
 * @category models
 */
export interface SendOptions {
  readonly headers?: Schema.Json | null | undefined
  readonly delay?: Delay | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SendBatchOptions {
  /** One per message, or none at all. */
  readonly headers?: ReadonlyArray<Schema.Json | null> | undefined
  readonly delay?: Delay | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ReadOptions {
  /** Seconds the messages stay invisible to other readers. */
  readonly vt: number
  /** How many at most; `null` for no limit. */
  readonly qty: number | null
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ConditionalReadOptions extends ReadOptions {
  /** Only messages whose body contains this JSON (`message @> conditional`). */
  readonly conditional?: Schema.Json | undefined
}

/**
 * How long a `…WithPoll` read waits for a message.
 *
 * @since 0.1.0
 * @category models
 */
export interface PollOptions {
  readonly maxPollSeconds?: number | undefined
  readonly pollIntervalMs?: number | undefined
}

/**
 * A failure of a call on a named queue.
 *
 * @since 0.1.0
 * @category errors
 */
export type QueueError = QueueName.InvalidQueueName | QueueNotFound | PgmqError

type Read = (queue: string, options: ReadOptions) => Effect.Effect<ReadonlyArray<Message>, QueueError>
type ReadWithPoll = (
  queue: string,
  options: ReadOptions & PollOptions
) => Effect.Effect<ReadonlyArray<Message>, QueueError>

/**
 * The pgmq API.
 *
 * @since 0.1.0
 * @category services
 */
export class Pgmq extends Context.Service<
  Pgmq,
  {
    /** What provides pgmq on this database. */
    readonly installation: Effect.Effect<Installation, PgmqError>
    readonly create: (queue: string) => Effect.Effect<void, QueueError>
    readonly createUnlogged: (queue: string) => Effect.Effect<void, QueueError>
    /** False when there was no such queue. */
    readonly dropQueue: (queue: string) => Effect.Effect<boolean, QueueError>
    /** How many messages were removed (the archive is kept). */
    readonly purgeQueue: (queue: string) => Effect.Effect<number, QueueError>
    readonly send: (
      queue: string,
      message: Schema.Json | null,
      options?: SendOptions
    ) => Effect.Effect<MessageId, QueueError>
    /** The ids, in the order of `messages`. */
    readonly sendBatch: (
      queue: string,
      messages: ReadonlyArray<Schema.Json>,
      options?: SendBatchOptions
    ) => Effect.Effect<ReadonlyArray<MessageId>, QueueError>
    readonly read: (queue: string, options: ConditionalReadOptions) => Effect.Effect<ReadonlyArray<Message>, QueueError>
    readonly readWithPoll: (
      queue: string,
      options: ConditionalReadOptions & PollOptions
    ) => Effect.Effect<ReadonlyArray<Message>, QueueError>
    /** Removes and returns visible messages (at most once: no read counted, nothing archived). */
    readonly pop: (queue: string, qty?: number) => Effect.Effect<ReadonlyArray<Message>, QueueError>
    /** The message with its new visibility time; none when there is no such message. */
    readonly setVt: (queue: string, id: MessageId, vt: Delay) => Effect.Effect<Option.Option<Message>, QueueError>
    readonly setVtBatch: (
      queue: string,
      ids: ReadonlyArray<MessageId>,
      vt: Delay
    ) => Effect.Effect<ReadonlyArray<Message>, QueueError>
    /** Moves a message to the archive; false when there was no such message. */
    readonly archive: (queue: string, id: MessageId) => Effect.Effect<boolean, QueueError>
    /** The ids actually archived. */
    readonly archiveBatch: (
      queue: string,
      ids: ReadonlyArray<MessageId>
    ) => Effect.Effect<ReadonlyArray<MessageId>, QueueError>
    readonly delete: (queue: string, id: MessageId) => Effect.Effect<boolean, QueueError>
    readonly deleteBatch: (
      queue: string,
      ids: ReadonlyArray<MessageId>
    ) => Effect.Effect<ReadonlyArray<MessageId>, QueueError>
    readonly listQueues: Effect.Effect<ReadonlyArray<QueueInfo>, PgmqError>
    readonly metrics: (queue: string) => Effect.Effect<QueueMetrics, QueueError>
    readonly metricsAll: Effect.Effect<ReadonlyArray<QueueMetrics>, QueueError>
    /** FIFO by `x-pgmq-group`: the oldest group's run first. */
    readonly readGrouped: Read
    readonly readGroupedWithPoll: ReadWithPoll
    /** FIFO by `x-pgmq-group`, round robin across groups. */
    readonly readGroupedRr: Read
    readonly readGroupedRrWithPoll: ReadWithPoll
    /** At most one message per group: each group's head. */
    readonly readGroupedHead: Read
    readonly readGroupedHeadWithPoll: ReadWithPoll
    readonly createFifoIndex: (queue: string) => Effect.Effect<void, QueueError>
    readonly createFifoIndexesAll: Effect.Effect<void, PgmqError>
    /** Notifies `channel(queue)` on inserts, at most once per `throttleMs` (default 250). */
    readonly enableNotifyInsert: (queue: string, throttleMs?: number) => Effect.Effect<void, QueueError>
    readonly disableNotifyInsert: (queue: string) => Effect.Effect<void, QueueError>
    readonly updateNotifyInsert: (queue: string, throttleMs: number) => Effect.Effect<void, QueueError>
    readonly listNotifyInsertThrottles: Effect.Effect<ReadonlyArray<NotifyThrottle>, PgmqError>
    readonly bindTopic: (pattern: string, queue: string) => Effect.Effect<void, QueueError>
    readonly unbindTopic: (pattern: string, queue: string) => Effect.Effect<boolean, QueueError>
    readonly listTopicBindings: (queue?: string) => Effect.Effect<ReadonlyArray<TopicBinding>, QueueError>
    readonly testRouting: (routingKey: string) => Effect.Effect<ReadonlyArray<RouteMatch>, PgmqError>
    /** How many queues received the message. */
    readonly sendTopic: (
      routingKey: string,
      message: Schema.Json,
      options?: { readonly headers?: Schema.Json | null | undefined; readonly delay?: number | undefined }
    ) => Effect.Effect<number, PgmqError>
    readonly sendBatchTopic: (
      routingKey: string,
      messages: ReadonlyArray<Schema.Json>,
      options?: SendBatchOptions
    ) => Effect.Effect<ReadonlyArray<TopicMessage>, PgmqError>
  }
>()("@nexus/queue-pgmq/Pgmq") {
  /**
   * Over the `SqlClient` in context.
   *
   * @since 0.1.0
   * @category constructors
   */
  static readonly make = Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return makeWith(sql)
  })

  /**
   * Over the `SqlClient` provided to it (tests, tools).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerNoDeps: Layer.Layer<Pgmq, never, SqlClient.SqlClient> = Layer.effect(Pgmq, Pgmq.make)

  /**
   * Over the queue database (`SHARED_QUEUE_DB_URL`, else the Nexus database).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<Pgmq, never, Database.QueueDatabase> = Layer.effect(
    Pgmq,
    Effect.gen(function* () {
      const queues = yield* Database.QueueDatabase
      return makeWith(queues.sql)
    })
  )
}

/** `JSON` text for a jsonb parameter; SQL NULL for null. */
const json = (value: Schema.Json | null | undefined): string | null =>
  value === null || value === undefined ? null : JSON.stringify(value)

/** How a call's rows are decoded (synchronously: they are all in memory already). */
type Decode<A> = (rows: ReadonlyArray<object>) => Result.Result<A, Schema.SchemaError>

const decodeAll = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S
): Decode<ReadonlyArray<S["Type"]>> =>
  Schema.decodeUnknownResult(Schema.Array(schema)) as Decode<ReadonlyArray<S["Type"]>>

/** The one row a call answers, decoded with `schema`, then `get` of it. */
const decodeOne = <S extends Schema.Top & { readonly DecodingServices: never }, A>(
  schema: S,
  get: (row: S["Type"]) => A
): Decode<A> => {
  const decode = Schema.decodeUnknownResult(Schema.Tuple([schema]))
  return (rows) =>
    Result.map(decode(rows) as Result.Result<readonly [S["Type"]], Schema.SchemaError>, ([row]) => get(row))
}

const decodeRows = decodeAll(MessageRow)
const decodeMessages: Decode<ReadonlyArray<Message>> = (rows) =>
  Result.map(decodeRows(rows), (decoded) => decoded.map(fromRow))
const decodeBindings = decodeAll(TopicBinding)
// Every decoder is built once, here: building one per call would cost more than decoding.
const IdRow = Schema.Struct({ id: Schema.BigInt })
const decodeIdRows = decodeAll(IdRow)
const decodeIds: Decode<ReadonlyArray<MessageId>> = (rows) =>
  Result.map(decodeIdRows(rows), (decoded) => decoded.map((row) => row.id))
const decodeId = decodeOne(IdRow, (row) => row.id)
const decodeCount = decodeOne(IdRow, (row) => Number(row.id))
// A batch's ids come back as one array: a row per id costs the driver more than the decoding.
const decodeIdArray = decodeOne(Schema.Struct({ ids: Schema.Array(Schema.BigInt) }), (row) => row.ids)
const decodeFlag = decodeOne(Schema.Struct({ ok: Schema.Boolean }), (row) => row.ok)
const decodeReached = decodeOne(Schema.Struct({ reached: Schema.Int }), (row) => row.reached)
const decodeMetrics = decodeOne(QueueMetrics, (metrics) => metrics)
const decodeAllMetrics = decodeAll(QueueMetrics)
const decodeQueues = decodeAll(QueueInfo)
const decodeThrottles = decodeAll(NotifyThrottle)
const decodeMatches = decodeAll(RouteMatch)
const decodeTopicMessages = decodeAll(TopicMessage)
const none: Decode<void> = () => Result.void

const makeWith = (sql: SqlClient.SqlClient): Pgmq["Service"] => {
  /**
   * Runs a statement: SQL failures through `onError`, undecodable answers as `incompatible`. One
   * step, as the calls are on the hot path.
   */
  const execute = <A, E>(
    operation: string,
    queue: string | undefined,
    statement: Statement.Statement<object>,
    onError: (error: SqlError.SqlError) => E,
    decode: Decode<A>
  ): Effect.Effect<A, E | PgmqError> =>
    Effect.matchEffect(statement, {
      onFailure: (error) => Effect.fail(onError(error)),
      onSuccess: (rows) => {
        const decoded = decode(rows)
        return Result.isSuccess(decoded)
          ? Effect.succeed(decoded.success)
          : Effect.fail(
              new PgmqError({
                operation,
                ...(queue === undefined ? {} : { queue }),
                reason: "incompatible",
                detail: `unexpected answer (${decoded.failure.message.split("\n")[0]})`
              })
            )
      }
    })

  /** A call on a queue: its name checked before any SQL; a missing queue is `QueueNotFound`. */
  const call = <A>(
    operation: string,
    queue: string,
    statement: (name: string) => Statement.Statement<object>,
    decode: Decode<A>
  ): Effect.Effect<A, QueueError> => {
    const name = QueueName.make(queue)
    return typeof name === "string"
      ? execute(operation, queue, statement(name), fromSqlError(operation, queue), decode)
      : Effect.fail(name)
  }

  /** A call that names no queue. */
  const callGlobal = <A>(operation: string, statement: Statement.Statement<object>, decode: Decode<A>) =>
    execute(operation, undefined, statement, pgmqError(operation), decode)

  const delayed = (delay: Delay) => (typeof delay === "number" ? sql`${delay}::integer` : sql`${delay}::timestamptz`)
  const idList = (list: ReadonlyArray<MessageId>) => sql`${list as Array<MessageId>}::bigint[]`
  /**
   * A batch's values as `jsonb[]`, built by the server from one `jsonb` array parameter (in order,
   * JSON null as SQL NULL): a `jsonb[]` parameter of 100 elements costs the server and the driver
   * twice as much (bench:queue, batch send).
   */
  const jsonList = (values: ReadonlyArray<Schema.Json | null>) =>
    sql`ARRAY(SELECT CASE WHEN jsonb_typeof(e.value) = 'null' THEN NULL ELSE e.value END FROM jsonb_array_elements(${JSON.stringify(values)}::jsonb) WITH ORDINALITY AS e(value, n) ORDER BY e.n)`
  const headerList = (headers: ReadonlyArray<Schema.Json | null> | undefined) =>
    headers === undefined ? sql`NULL::jsonb[]` : jsonList(headers)
  const poll = (options: PollOptions) =>
    sql`${options.maxPollSeconds ?? 5}::integer, ${options.pollIntervalMs ?? 100}::integer`

  const grouped = (fn: string, withPoll: boolean) => {
    const name = `${fn.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)}${withPoll ? "_with_poll" : ""}`
    return Tracing.fn(`Pgmq.${fn}${withPoll ? "WithPoll" : ""}`, (queue: string, options: ReadOptions & PollOptions) =>
      call(
        name,
        queue,
        (q) =>
          withPoll
            ? sql`SELECT * FROM ${sql.literal(`pgmq.${name}`)}(${q}::text, ${options.vt}::integer, ${options.qty}::integer, ${poll(options)})`
            : sql`SELECT * FROM ${sql.literal(`pgmq.${name}`)}(${q}::text, ${options.vt}::integer, ${options.qty}::integer)`,
        decodeMessages
      )
    )
  }

  const read = (name: string, queue: string, options: ConditionalReadOptions & PollOptions, withPoll: boolean) =>
    call(
      name,
      queue,
      (q) =>
        withPoll
          ? sql`SELECT * FROM pgmq.read_with_poll(${q}::text, ${options.vt}::integer, ${options.qty}::integer, ${poll(options)}, ${json(options.conditional ?? {})}::jsonb)`
          : sql`SELECT * FROM pgmq.read(${q}::text, ${options.vt}::integer, ${options.qty}::integer, ${json(options.conditional ?? {})}::jsonb)`,
      decodeMessages
    )

  return Pgmq.of({
    installation: detect.pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.catchTags({
        SchemaError: (error) =>
          Effect.fail(new PgmqError({ operation: "installation", reason: "incompatible", detail: error.message })),
        SqlError: (error) => Effect.fail(pgmqError("installation")(error))
      }),
      (effect) => Tracing.traced(effect, "Pgmq.installation")
    ),
    create: Tracing.fn("Pgmq.create", (queue: string) =>
      call("create", queue, (q) => sql`SELECT pgmq.create(${q}::text)`, none)
    ),
    createUnlogged: Tracing.fn("Pgmq.createUnlogged", (queue: string) =>
      call("create_unlogged", queue, (q) => sql`SELECT pgmq.create_unlogged(${q}::text)`, none)
    ),
    dropQueue: Tracing.fn("Pgmq.dropQueue", (queue: string) =>
      call("drop_queue", queue, (q) => sql`SELECT pgmq.drop_queue(${q}::text) AS ok`, decodeFlag)
    ),
    purgeQueue: Tracing.fn("Pgmq.purgeQueue", (queue: string) =>
      call("purge_queue", queue, (q) => sql`SELECT pgmq.purge_queue(${q}::text) AS id`, decodeCount)
    ),
    send: Tracing.fn("Pgmq.send", (queue: string, message: Schema.Json | null, options?: SendOptions) =>
      call(
        "send",
        queue,
        (q) =>
          sql`SELECT pgmq.send(${q}::text, ${json(message)}::jsonb, ${json(options?.headers)}::jsonb, ${delayed(options?.delay ?? 0)}) AS id`,
        decodeId
      )
    ),
    sendBatch: Tracing.fn(
      "Pgmq.sendBatch",
      (queue: string, messages: ReadonlyArray<Schema.Json>, options?: SendBatchOptions) =>
        call(
          "send_batch",
          queue,
          (q) =>
            sql`SELECT coalesce(array_agg(sent.id ORDER BY sent.n), '{}') AS ids FROM pgmq.send_batch(${q}::text, ${jsonList(messages)}, ${headerList(options?.headers)}, ${delayed(options?.delay ?? 0)}) WITH ORDINALITY AS sent(id, n)`,
          decodeIdArray
        )
    ),
    read: Tracing.fn("Pgmq.read", (queue: string, options: ConditionalReadOptions) =>
      read("read", queue, options, false)
    ),
    readWithPoll: Tracing.fn("Pgmq.readWithPoll", (queue: string, options: ConditionalReadOptions & PollOptions) =>
      read("read_with_poll", queue, options, true)
    ),
    pop: Tracing.fn("Pgmq.pop", (queue: string, qty = 1) =>
      call("pop", queue, (q) => sql`SELECT * FROM pgmq.pop(${q}::text, ${qty}::integer)`, decodeMessages)
    ),
    setVt: Tracing.fn("Pgmq.setVt", (queue: string, id: MessageId, vt: Delay) =>
      call(
        "set_vt",
        queue,
        (q) => sql`SELECT * FROM pgmq.set_vt(${q}::text, ${id}::bigint, ${delayed(vt)})`,
        (rows) => Result.map(decodeMessages(rows), (messages) => Option.fromNullishOr(messages[0]))
      )
    ),
    setVtBatch: Tracing.fn("Pgmq.setVtBatch", (queue: string, list: ReadonlyArray<MessageId>, vt: Delay) =>
      call(
        "set_vt",
        queue,
        (q) => sql`SELECT * FROM pgmq.set_vt(${q}::text, ${idList(list)}, ${delayed(vt)})`,
        decodeMessages
      )
    ),
    archive: Tracing.fn("Pgmq.archive", (queue: string, id: MessageId) =>
      call("archive", queue, (q) => sql`SELECT pgmq.archive(${q}::text, ${id}::bigint) AS ok`, decodeFlag)
    ),
    archiveBatch: Tracing.fn("Pgmq.archiveBatch", (queue: string, list: ReadonlyArray<MessageId>) =>
      call("archive", queue, (q) => sql`SELECT pgmq.archive(${q}::text, ${idList(list)}) AS id`, decodeIds)
    ),
    delete: Tracing.fn("Pgmq.delete", (queue: string, id: MessageId) =>
      call("delete", queue, (q) => sql`SELECT pgmq.delete(${q}::text, ${id}::bigint) AS ok`, decodeFlag)
    ),
    deleteBatch: Tracing.fn("Pgmq.deleteBatch", (queue: string, list: ReadonlyArray<MessageId>) =>
      call("delete", queue, (q) => sql`SELECT pgmq.delete(${q}::text, ${idList(list)}) AS id`, decodeIds)
    ),
    listQueues: callGlobal("list_queues", sql`SELECT * FROM pgmq.list_queues()`, decodeQueues).pipe((effect) =>
      Tracing.traced(effect, "Pgmq.listQueues")
    ),
    metrics: Tracing.fn("Pgmq.metrics", (queue: string) =>
      call("metrics", queue, (q) => sql`SELECT * FROM pgmq.metrics(${q}::text)`, decodeMetrics)
    ),
    // A dangling meta row (pgmq's case-folding quirk) makes it fail like a missing queue: 42P01.
    metricsAll: callGlobal("metrics_all", sql`SELECT * FROM pgmq.metrics_all()`, decodeAllMetrics).pipe((effect) =>
      Tracing.traced(effect, "Pgmq.metricsAll")
    ),
    readGrouped: grouped("readGrouped", false),
    readGroupedWithPoll: grouped("readGrouped", true),
    readGroupedRr: grouped("readGroupedRr", false),
    readGroupedRrWithPoll: grouped("readGroupedRr", true),
    readGroupedHead: grouped("readGroupedHead", false),
    readGroupedHeadWithPoll: grouped("readGroupedHead", true),
    createFifoIndex: Tracing.fn("Pgmq.createFifoIndex", (queue: string) =>
      call("create_fifo_index", queue, (q) => sql`SELECT pgmq.create_fifo_index(${q}::text)`, none)
    ),
    createFifoIndexesAll: callGlobal("create_fifo_indexes_all", sql`SELECT pgmq.create_fifo_indexes_all()`, none).pipe(
      (effect) => Tracing.traced(effect, "Pgmq.createFifoIndexesAll")
    ),
    enableNotifyInsert: Tracing.fn("Pgmq.enableNotifyInsert", (queue: string, throttleMs = 250) =>
      call(
        "enable_notify_insert",
        queue,
        (q) => sql`SELECT pgmq.enable_notify_insert(${q}::text, ${throttleMs}::integer)`,
        none
      )
    ),
    disableNotifyInsert: Tracing.fn("Pgmq.disableNotifyInsert", (queue: string) =>
      call("disable_notify_insert", queue, (q) => sql`SELECT pgmq.disable_notify_insert(${q}::text)`, none)
    ),
    updateNotifyInsert: Tracing.fn("Pgmq.updateNotifyInsert", (queue: string, throttleMs: number) =>
      call(
        "update_notify_insert",
        queue,
        (q) => sql`SELECT pgmq.update_notify_insert(${q}::text, ${throttleMs}::integer)`,
        none
      )
    ),
    listNotifyInsertThrottles: callGlobal(
      "list_notify_insert_throttles",
      sql`SELECT * FROM pgmq.list_notify_insert_throttles()`,
      decodeThrottles
    ).pipe((effect) => Tracing.traced(effect, "Pgmq.listNotifyInsertThrottles")),
    bindTopic: Tracing.fn("Pgmq.bindTopic", (pattern: string, queue: string) =>
      call("bind_topic", queue, (q) => sql`SELECT pgmq.bind_topic(${pattern}::text, ${q}::text)`, none)
    ),
    unbindTopic: Tracing.fn("Pgmq.unbindTopic", (pattern: string, queue: string) =>
      call("unbind_topic", queue, (q) => sql`SELECT pgmq.unbind_topic(${pattern}::text, ${q}::text) AS ok`, decodeFlag)
    ),
    listTopicBindings: Tracing.fn("Pgmq.listTopicBindings", (queue?: string) =>
      queue === undefined
        ? callGlobal("list_topic_bindings", sql`SELECT * FROM pgmq.list_topic_bindings()`, decodeBindings)
        : call(
            "list_topic_bindings",
            queue,
            (q) => sql`SELECT * FROM pgmq.list_topic_bindings(${q}::text)`,
            decodeBindings
          )
    ),
    testRouting: Tracing.fn("Pgmq.testRouting", (routingKey: string) =>
      callGlobal("test_routing", sql`SELECT * FROM pgmq.test_routing(${routingKey}::text)`, decodeMatches)
    ),
    sendTopic: Tracing.fn(
      "Pgmq.sendTopic",
      (
        routingKey: string,
        message: Schema.Json,
        options?: { readonly headers?: Schema.Json | null | undefined; readonly delay?: number | undefined }
      ) =>
        callGlobal(
          "send_topic",
          sql`SELECT pgmq.send_topic(${routingKey}::text, ${json(message)}::jsonb, ${json(options?.headers)}::jsonb, ${options?.delay ?? 0}::integer) AS reached`,
          decodeReached
        )
    ),
    sendBatchTopic: Tracing.fn(
      "Pgmq.sendBatchTopic",
      (routingKey: string, messages: ReadonlyArray<Schema.Json>, options?: SendBatchOptions) =>
        callGlobal(
          "send_batch_topic",
          sql`SELECT * FROM pgmq.send_batch_topic(${routingKey}::text, ${jsonList(messages)}, ${headerList(options?.headers)}, ${delayed(options?.delay ?? 0)})`,
          decodeTopicMessages
        )
    )
  })
}

/**
 * The LISTEN channel pgmq notifies when `enableNotifyInsert(queue)` is on (quote it: it has dots).
 *
 * @since 0.1.0
 * @category naming
 */
export const channel = (queue: QueueName.QueueName): string => `pgmq.q_${queue}.INSERT`

/**
 * What pgmq calls answer, decoded with Schema from its result types (`message_record`,
 * `queue_record`, `metrics_result`, the throttle and topic tables) into camelCase models.
 *
 * @since 0.1.0
 */
import { Schema, SchemaTransformation } from "effect"

/**
 * A message id: pgmq's `bigint` identity, as a JavaScript `bigint`.
 *
 * @since 0.1.0
 * @category models
 */
export type MessageId = bigint

const Timestamp = Schema.Date
const Count = Schema.Finite

/**
 * A `jsonb` value as the driver parsed it: JSON by construction, so not walked again (checking
 * every node of every body would cost more than the query that read them).
 *
 * @since 0.1.0
 * @category models
 */
export const JsonValue = Schema.declare((value: unknown): value is Schema.Json => value !== undefined, {
  identifier: "JsonValue",
  description: "a jsonb value"
})

/**
 * A `pgmq.message_record` row as the driver answers it.
 *
 * @since 0.1.0
 * @category models
 */
export const MessageRow = Schema.Struct({
  msg_id: Schema.BigInt,
  read_ct: Schema.Int,
  enqueued_at: Timestamp,
  last_read_at: Schema.NullOr(Timestamp),
  vt: Timestamp,
  message: Schema.NullOr(JsonValue),
  headers: Schema.NullOr(JsonValue)
})

/**
 * A message as pgmq returns it (`pgmq.message_record`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Message {
  readonly msgId: MessageId
  /** How many times it was read (0 until the first read). */
  readonly readCt: number
  /** When it was sent (the sending transaction's start). */
  readonly enqueuedAt: Date
  /** When it was last read; null until the first read. */
  readonly lastReadAt: Date | null
  /** When it becomes visible (again). */
  readonly vt: Date
  /** The body; null when sent as SQL NULL. */
  readonly message: Schema.Json | null
  /** The headers; null when sent without. */
  readonly headers: Schema.Json | null
}

/**
 * A decoded row as a `Message` (renamed by hand: a Schema key renaming costs more than the rest
 * of the decoding on a 100-message read).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromRow = (row: typeof MessageRow.Type): Message => ({
  msgId: row.msg_id,
  readCt: row.read_ct,
  enqueuedAt: row.enqueued_at,
  lastReadAt: row.last_read_at,
  vt: row.vt,
  message: row.message,
  headers: row.headers
})

/**
 * A queue as `pgmq.list_queues()` lists it.
 *
 * @since 0.1.0
 * @category models
 */
export const QueueInfo = Schema.Struct({
  queueName: Schema.String,
  isPartitioned: Schema.Boolean,
  isUnlogged: Schema.Boolean,
  createdAt: Timestamp
}).pipe(
  Schema.encodeKeys({
    queueName: "queue_name",
    isPartitioned: "is_partitioned",
    isUnlogged: "is_unlogged",
    createdAt: "created_at"
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type QueueInfo = typeof QueueInfo.Type

/** A `bigint` count from PostgreSQL, as a number (queues never hold 2^53 messages). */
const BigCount = Schema.BigInt.pipe(
  Schema.decodeTo(Count, SchemaTransformation.transform({ decode: Number, encode: BigInt }))
)

/**
 * A queue's figures (`pgmq.metrics_result`): ages by the database's transaction time, in whole
 * seconds (null for an empty queue); `totalMessages` counts every id ever handed out, rolled-back
 * sends included.
 *
 * @since 0.1.0
 * @category models
 */
export const QueueMetrics = Schema.Struct({
  queueName: Schema.String,
  queueLength: BigCount,
  newestMsgAgeSec: Schema.NullOr(Schema.Int),
  oldestMsgAgeSec: Schema.NullOr(Schema.Int),
  totalMessages: BigCount,
  scrapeTime: Timestamp,
  queueVisibleLength: BigCount
}).pipe(
  Schema.encodeKeys({
    queueName: "queue_name",
    queueLength: "queue_length",
    newestMsgAgeSec: "newest_msg_age_sec",
    oldestMsgAgeSec: "oldest_msg_age_sec",
    totalMessages: "total_messages",
    scrapeTime: "scrape_time",
    queueVisibleLength: "queue_visible_length"
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type QueueMetrics = typeof QueueMetrics.Type

/**
 * A queue whose inserts are notified, and how often at most.
 *
 * @since 0.1.0
 * @category models
 */
export const NotifyThrottle = Schema.Struct({
  queueName: Schema.String,
  throttleIntervalMs: Schema.Int,
  lastNotifiedAt: Timestamp
}).pipe(
  Schema.encodeKeys({
    queueName: "queue_name",
    throttleIntervalMs: "throttle_interval_ms",
    lastNotifiedAt: "last_notified_at"
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type NotifyThrottle = typeof NotifyThrottle.Type

/**
 * A topic pattern bound to a queue.
 *
 * @since 0.1.0
 * @category models
 */
export const TopicBinding = Schema.Struct({
  pattern: Schema.String,
  queueName: Schema.String,
  boundAt: Timestamp,
  compiledRegex: Schema.String
}).pipe(Schema.encodeKeys({ queueName: "queue_name", boundAt: "bound_at", compiledRegex: "compiled_regex" }))

/**
 * @since 0.1.0
 * @category models
 */
export type TopicBinding = typeof TopicBinding.Type

/**
 * A binding a routing key matches (`pgmq.test_routing`).
 *
 * @since 0.1.0
 * @category models
 */
export const RouteMatch = Schema.Struct({
  pattern: Schema.String,
  queueName: Schema.String,
  compiledRegex: Schema.String
}).pipe(Schema.encodeKeys({ queueName: "queue_name", compiledRegex: "compiled_regex" }))

/**
 * @since 0.1.0
 * @category models
 */
export type RouteMatch = typeof RouteMatch.Type

/**
 * A message a topic send put on a queue.
 *
 * @since 0.1.0
 * @category models
 */
export const TopicMessage = Schema.Struct({ queueName: Schema.String, msgId: Schema.BigInt }).pipe(
  Schema.encodeKeys({ queueName: "queue_name", msgId: "msg_id" })
)

/**
 * @since 0.1.0
 * @category models
 */
export type TopicMessage = typeof TopicMessage.Type

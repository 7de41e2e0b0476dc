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
 * A message as pgmq returns it (`pgmq.message_record`).
 *
 * @since 0.1.0
 * @category models
 */
export const Message = Schema.Struct({
  msgId: Schema.BigInt,
  /** How many times it was read (0 until the first read). */
  readCt: Schema.Int,
  /** When it was sent (the sending transaction's start). */
  enqueuedAt: Timestamp,
  /** When it was last read; null until the first read. */
  lastReadAt: Schema.NullOr(Timestamp),
  /** When it becomes visible (again). */
  vt: Timestamp,
  /** The body; null when sent as SQL NULL. */
  message: Schema.NullOr(Schema.Json),
  /** The headers; null when sent without. */
  headers: Schema.NullOr(Schema.Json)
}).pipe(
  Schema.encodeKeys({ msgId: "msg_id", readCt: "read_ct", enqueuedAt: "enqueued_at", lastReadAt: "last_read_at" })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Message = typeof Message.Type

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

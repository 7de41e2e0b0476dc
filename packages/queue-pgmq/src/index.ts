/**
 * @since 0.1.0
 */

/**
 * The LLM request/result contract (version 1) as Schema, and the checks a request body passes.
 *
 * @since 0.1.0
 */
export * as Contract from "./Contract.ts"

/**
 * The typed failures of pgmq calls: `QueueNotFound`, `PgmqError`, `InvalidQueueName`.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.ts"

/**
 * The LLM request/result queue: enqueue, awaitResult, consume, complete, dead letters.
 *
 * @since 0.1.0
 */
export * as LlmQueue from "./LlmQueue.ts"

/**
 * What pgmq calls answer: messages, queues, metrics, throttles, topic bindings.
 *
 * @since 0.1.0
 */
export * as Messages from "./Messages.ts"

/**
 * The queue database's migrations (pgmq, then the LLM contract's queues).
 *
 * @since 0.1.0
 */
export * as Migrations from "./Migrations.ts"

/**
 * The pgmq API as an Effect service.
 *
 * @since 0.1.0
 */
export * as Pgmq from "./Pgmq.ts"

/**
 * The pgmq extension, or Nexus's compatible install: detection, install, and the SQL script.
 *
 * @since 0.1.0
 */
export * as PgmqInstall from "./PgmqInstall.ts"

/**
 * Queue names, checked with pgmq's rules before any SQL.
 *
 * @since 0.1.0
 */
export * as QueueName from "./QueueName.ts"

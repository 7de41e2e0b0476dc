/**
 * @since 0.1.0
 */

/**
 * Queue names, checked with pgmq's rules before any SQL.
 *
 * @since 0.1.0
 */
export * as QueueName from "./QueueName.ts"

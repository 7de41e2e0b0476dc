/**
 * The queue's typed failures: a missing queue, and every other failure of a pgmq call, naming the
 * queue and the operation. Driver errors stay as the cause; messages never quote a message body.
 *
 * @since 0.1.0
 */
import { Predicate, Schema } from "effect"
import type { SqlError } from "effect/sql"
import { InvalidQueueName } from "./QueueName.ts"

export {
  /**
   * A queue name pgmq would refuse (re-exported from `QueueName`).
   *
   * @since 0.1.0
   * @category errors
   */
  InvalidQueueName
}

/**
 * The queue does not exist (pgmq answers 42P01, or "Queue … does not exist").
 *
 * @since 0.1.0
 * @category errors
 */
export class QueueNotFound extends Schema.TaggedError<QueueNotFound>()("QueueNotFound", {
  queue: Schema.String,
  operation: Schema.String
}) {
  override get message() {
    return `pgmq.${this.operation}: the queue ${JSON.stringify(this.queue)} does not exist. Create it (nexus db migrate creates Nexus's queues; select pgmq.create('${this.queue}') any other) or fix the name.`
  }
}

/**
 * Why a pgmq call failed:
 * - `rejected`: pgmq refused the arguments (its message says which);
 * - `not_installed`: schema `pgmq` or the function is missing;
 * - `incompatible`: the answer did not have the shape of pgmq 1.11 (an older extension);
 * - `unavailable`: the database could not be reached (retry later);
 * - `failed`: anything else the server reported.
 *
 * @since 0.1.0
 * @category models
 */
export const Reason = Schema.Literals(["rejected", "not_installed", "incompatible", "unavailable", "failed"])

/**
 * A pgmq call that failed for another reason than a missing queue.
 *
 * @since 0.1.0
 * @category errors
 */
export class PgmqError extends Schema.TaggedError<PgmqError>()("PgmqError", {
  operation: Schema.String,
  queue: Schema.optional(Schema.String),
  reason: Reason,
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    const on = this.queue === undefined ? "" : ` on queue ${JSON.stringify(this.queue)}`
    const next = {
      rejected: "Fix the arguments.",
      not_installed: "Install pgmq: run `nexus db migrate` (or `nexus db pgmq-sql | psql`).",
      incompatible: "Upgrade the pgmq extension to 1.11 or later (ALTER EXTENSION pgmq UPDATE).",
      unavailable: "Check that PostgreSQL is up and reachable, then try again.",
      failed: "See the server's log."
    }[this.reason]
    return `pgmq.${this.operation}${on} failed: ${this.detail}. ${next}`
  }

  /**
   * Whether trying again later may succeed.
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return this.reason === "unavailable"
  }
}

/** The SQLSTATE and server message in a SqlError's cause chain. */
const serverError = (error: SqlError.SqlError): { readonly code?: string; readonly message?: string } => {
  let current: unknown = error
  for (let depth = 0; depth < 5 && Predicate.isObject(current); depth++) {
    if (
      Predicate.hasProperty(current, "code") &&
      Predicate.isString(current.code) &&
      /^[0-9A-Z]{5}$/.test(current.code)
    ) {
      return {
        code: current.code,
        ...(Predicate.hasProperty(current, "message") && Predicate.isString(current.message)
          ? { message: current.message }
          : {})
      }
    }
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  return {}
}

/**
 * SQLSTATEs of a server going away or not back yet, which the SQL client may not call connection
 * errors: the transient connection exceptions (08000, 08001, 08003, 08006 — not 08P01, a protocol
 * violation, a bug that trying again cannot mend), 57P01–57P03 (terminated by an administrator,
 * shutting down or crashed, starting up: "the database system is shutting down"), 53300 (too many
 * connections). Trying again later helps.
 */
const serverUnavailable = (code: string) => /^(0800[0136]|57P0[123]|53300)$/.test(code)

/**
 * A failed pgmq call that names no queue (or whose queue exists) as a `PgmqError`.
 *
 * @since 0.1.0
 * @category errors
 */
export const pgmqError =
  (operation: string, queue?: string) =>
  (error: SqlError.SqlError): PgmqError => {
    const { code, message } = serverError(error)
    const reason =
      // P0001: pgmq raised; class 22, a data exception: the arguments (a body jsonb cannot hold).
      code === "P0001" || code?.startsWith("22") === true
        ? "rejected"
        : code === "3F000" || code === "42883"
          ? "not_installed"
          : code === "42703" || code === "42804"
            ? "incompatible"
            : error.reason._tag === "ConnectionError" ||
                error.reason._tag === "AuthenticationError" ||
                error.isRetryable ||
                (code !== undefined && serverUnavailable(code))
              ? "unavailable"
              : "failed"
    return new PgmqError({
      operation,
      ...(queue === undefined ? {} : { queue }),
      reason,
      detail: (message ?? error.message).split("\n")[0]!,
      cause: error
    })
  }

/**
 * A failed pgmq call on `queue` as the queue's typed error: `QueueNotFound` when pgmq says the
 * queue does not exist.
 *
 * @since 0.1.0
 * @category errors
 */
export const fromSqlError =
  (operation: string, queue: string) =>
  (error: SqlError.SqlError): QueueNotFound | PgmqError => {
    const { code, message } = serverError(error)
    return code === "42P01" || (code === "P0001" && /does not exist/.test(message ?? ""))
      ? new QueueNotFound({ queue, operation })
      : pgmqError(operation, queue)(error)
  }

/**
 * Queue names, checked before any SQL with pgmq's own rules (pgmq.md §2): no `$`, `;`, `--` or `'`
 * (pgmq quotes every identifier, so anything else — hyphens, dots, spaces, upper case, unicode — is
 * a valid name), at most 47 characters (the longest a partitioned queue's template table allows;
 * pgmq checks it only when creating, Nexus for every call: such a queue cannot exist), and not
 * empty. Tables are named after the name in lower case (`q_<name>`, `a_<name>`), so two names that
 * differ only by case share their tables: {@link folded} is what they share.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The longest queue name pgmq accepts, in characters (as PostgreSQL's `length` counts them).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_LENGTH = 47

/**
 * Why a queue name is refused.
 *
 * @since 0.1.0
 * @category models
 */
export const Problem = Schema.Literals(["empty", "invalid_characters", "too_long"])

/**
 * @since 0.1.0
 * @category models
 */
export type Problem = typeof Problem.Type

/**
 * A queue name pgmq would refuse.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidQueueName extends Schema.TaggedError<InvalidQueueName>()("InvalidQueueName", {
  name: Schema.String,
  problem: Problem
}) {
  override get message() {
    switch (this.problem) {
      case "empty":
        return "The queue name is empty: name the queue (e.g. llm_requests)."
      case "invalid_characters":
        return `The queue name ${JSON.stringify(this.name)} contains invalid characters: $, ;, --, or ' are not allowed (pgmq refuses them). Rename the queue.`
      case "too_long":
        return `The queue name ${JSON.stringify(this.name.slice(0, 60))}${this.name.length > 60 ? "…" : ""} is too long: at most ${MAX_LENGTH} characters (pgmq's limit). Use a shorter name.`
    }
  }
}

/** What pgmq's `format_table_name` refuses anywhere in a name. */
const FORBIDDEN = ["$", ";", "--", "'"]

/**
 * Why `name` is not a valid queue name, or `undefined` when it is.
 *
 * @since 0.1.0
 * @category validation
 */
export const problemOf = (name: string): Problem | undefined => {
  if (name.length === 0) return "empty"
  if (FORBIDDEN.some((sequence) => name.includes(sequence))) return "invalid_characters"
  // PostgreSQL counts characters (code points), not UTF-16 units.
  let characters = 0
  for (const _ of name) if (++characters > MAX_LENGTH) return "too_long"
  return undefined
}

/**
 * A checked queue name.
 *
 * @since 0.1.0
 * @category models
 */
export const QueueName = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter((name: string) => {
      const problem = problemOf(name)
      return problem === undefined ? undefined : new InvalidQueueName({ name, problem }).message
    })
  ),
  Schema.brand("@nexus/queue-pgmq/QueueName")
)

/**
 * @since 0.1.0
 * @category models
 */
export type QueueName = typeof QueueName.Type

/**
 * `name` checked: the name, or the error that says what is wrong and what to do.
 *
 * @since 0.1.0
 * @category validation
 */
export const make = (name: string): QueueName | InvalidQueueName => {
  const problem = problemOf(name)
  return problem === undefined ? (name as QueueName) : new InvalidQueueName({ name, problem })
}

/**
 * What names that differ only by case share: their tables are `q_<folded>` and `a_<folded>`.
 *
 * @since 0.1.0
 * @category naming
 */
export const folded = (name: QueueName): string => name.toLowerCase()

/**
 * The queue's table and its archive in schema `pgmq`, as pgmq names them: in lower case.
 *
 * @since 0.1.0
 * @category naming
 */
export const tables = (name: QueueName): { readonly queue: string; readonly archive: string } => ({
  queue: `q_${folded(name)}`,
  archive: `a_${folded(name)}`
})

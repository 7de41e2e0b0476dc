// Shared by the conformance suite (plain SQL against schema pgmq, as a pgmq user writes it): the
// SQLSTATE of a failed statement, the rows pgmq's composite types come back as, and a few waits.
import { PgClient } from "@effect/sql-pg"
import { assert } from "@effect/vitest"
import { Effect, Predicate, Schedule } from "effect"
import type { SqlError } from "effect/sql"
import { execFile } from "node:child_process"

/** `pgmq.message_record` as the driver returns it (int8 as bigint, jsonb parsed, timestamptz as Date). */
export interface MessageRecord {
  readonly msg_id: bigint
  readonly read_ct: number
  readonly enqueued_at: Date
  readonly last_read_at: Date | null
  readonly vt: Date
  readonly message: unknown
  readonly headers: unknown
}

/** The field order of `pgmq.message_record` (pgmq.md §2: contractual, clients read positionally). */
export const messageRecordColumns = ["msg_id", "read_ct", "enqueued_at", "last_read_at", "vt", "message", "headers"]

/** The SQLSTATE and server message found in a failure's cause chain (`cause`, `reason`), if any. */
export const sqlState = (error: unknown): { readonly code?: string; readonly message?: string } => {
  const pending: Array<unknown> = [error]
  for (let seen = 0; seen < 20 && pending.length > 0; seen++) {
    const current = pending.shift()
    if (!Predicate.isObject(current)) continue
    if (
      Predicate.hasProperty(current, "code") &&
      Predicate.isString(current.code) &&
      /^[0-9A-Z]{5}$/.test(current.code)
    ) {
      return Predicate.hasProperty(current, "message") && Predicate.isString(current.message)
        ? { code: current.code, message: current.message }
        : { code: current.code }
    }
    if (Predicate.hasProperty(current, "reason")) pending.push(current.reason)
    if (Predicate.hasProperty(current, "cause")) pending.push(current.cause)
  }
  return {}
}

/** Runs `statement`, which must fail with SQLSTATE `code` (and a server message matching `message`). */
export const failsWith = Effect.fnUntraced(function* <A, R>(
  statement: Effect.Effect<A, SqlError.SqlError, R>,
  code: string,
  message?: RegExp
) {
  const error = yield* Effect.flip(statement)
  const state = sqlState(error)
  assert.strictEqual(state.code, code, `expected SQLSTATE ${code}, got ${state.code}: ${state.message}`)
  if (message !== undefined) assert.match(state.message ?? "", message)
  return state
})

/** The ids of `rows`, ascending (pgmq returns read/pop rows in no guaranteed order). */
export const sortedIds = (rows: ReadonlyArray<{ readonly msg_id: bigint }>): Array<bigint> =>
  rows.map((row) => row.msg_id).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

/** Creates the queues named, each with `pgmq.create`. */
export const createQueues = Effect.fnUntraced(function* (...names: ReadonlyArray<string>) {
  const sql = yield* PgClient.PgClient
  for (const name of names) yield* sql`SELECT pgmq.create(${name}::text)`
})

/**
 * Waits until another session of this database waits for a lock (`pg_stat_activity`) while running a
 * statement that contains `fragment`: the proof that it blocks instead of skipping.
 */
export const awaitLockWait = Effect.fnUntraced(function* (fragment: string) {
  const sql = yield* PgClient.PgClient
  yield* sql<{ readonly waiting: number }>`
    SELECT count(*)::int AS waiting FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND wait_event_type = 'Lock' AND strpos(query, ${fragment}) > 0`.pipe(
    Effect.flatMap(([row]) => (row!.waiting > 0 ? Effect.void : Effect.fail("not yet waiting" as const))),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeout("15 seconds")
  )
})

/** Runs one statement with `psql` (so that the server's NOTICEs and WARNINGs can be read: stderr). */
export const psql = (url: string, statement: string) =>
  Effect.callback<{ readonly stdout: string; readonly stderr: string }, Error>((resume) => {
    execFile(
      "psql",
      ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", statement],
      (error, stdout, stderr) => {
        resume(error === null ? Effect.succeed({ stdout, stderr }) : Effect.fail(error))
      }
    )
  })

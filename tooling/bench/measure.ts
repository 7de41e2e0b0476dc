// Calls per second and database round trips per call, for the benches that run against Postgres.
import { PgClient } from "@effect/sql-pg"
import { Console, Effect } from "effect"

/** Transactions Postgres has counted for the current database (each statement outside a transaction is one). */
export const transactions = Effect.gen(function* () {
  const sql = yield* PgClient.PgClient
  // Backends report their statistics when idle, at most once a second.
  yield* Effect.sleep("1500 millis")
  const [row] = yield* sql<{ xact_commit: string; xact_rollback: string }>`
    SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()`
  return Number(row!.xact_commit) + Number(row!.xact_rollback)
})

/** A side's figures: calls per second, round trips in all, calls in all, and microseconds per call. */
export interface Measured {
  readonly rate: number
  readonly roundTrips: number
  readonly calls: number
  readonly micros: number
  /** The database's transaction count at the end (a next side's `since`). */
  readonly counted: number
}

/**
 * Runs `call` back to back for `seconds` (in batches of 256); prints and answers calls per second
 * and database round trips per call. Round trips count every transaction of the database, the
 * background ones of the process included (a LISTEN reload, a poll): what steady state costs.
 * Counting needs `seconds` ≥ 1 (a backend reports its statistics at most once a second: a shorter
 * window was seen to count nothing) and waits 1.5 s before and after for them (`since`, the previous
 * side's `counted`, saves the wait before); with `roundTrips: false` (a call that cannot reach the
 * database) they are not counted.
 */
export const measure = (
  name: string,
  call: Effect.Effect<unknown, unknown>,
  seconds: number,
  options: { readonly roundTrips?: boolean; readonly since?: number | undefined } = {}
) =>
  Effect.gen(function* () {
    const countRoundTrips = options.roundTrips ?? true
    const before = countRoundTrips ? (options.since ?? (yield* transactions)) : 0
    const deadline = performance.now() + seconds * 1000
    const began = performance.now()
    let calls = 0
    while (performance.now() < deadline) {
      for (let i = 0; i < 256; i++) yield* call
      calls += 256
    }
    const elapsed = (performance.now() - began) / 1000
    // The measuring query itself is one transaction on each side.
    const counted = countRoundTrips ? yield* transactions : 0
    const roundTrips = Math.max(0, counted - before - 1)
    const rate = calls / elapsed
    yield* Console.log(
      `${name.padEnd(40)} ${rate.toFixed(0).padStart(9)} calls/s  ${(1e6 / rate).toFixed(2).padStart(8)} µs/call   ${countRoundTrips ? `${(roundTrips / calls).toFixed(4)} database round trips per call` : "(no database)"}`
    )
    return { rate, roundTrips, calls, micros: 1e6 / rate, counted } satisfies Measured
  })

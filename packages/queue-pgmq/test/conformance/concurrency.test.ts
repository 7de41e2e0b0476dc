// Conformance (pgmq.md §3 "Concurrency", "Ordering", upstream's isolation test; §8.5, §8.7):
// concurrent consumers, SKIP LOCKED on every consuming path and not on archive/delete/set_vt,
// transactional sends and reads, identities spent by rolled-back sends, the create/drop lock.
// Each `sql.withTransaction` below runs on its own pooled connection: two fibers, two sessions.
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { QueueDatabase } from "../helpers.ts"
import { awaitLockWait, createQueues, type MessageRecord, sortedIds } from "./sql.ts"

/**
 * Runs `hold` in a transaction on its own connection, in the background: `held` is filled with its
 * result while the transaction is still open; `release` ends it (commit).
 */
const holding = Effect.fnUntraced(function* <A, E, R>(hold: Effect.Effect<A, E, R>) {
  const sql = yield* PgClient.PgClient
  const held = yield* Deferred.make<A>()
  const release = yield* Deferred.make<void>()
  const fiber = yield* Effect.forkChild(
    sql.withTransaction(
      Effect.gen(function* () {
        yield* Deferred.succeed(held, yield* hold)
        yield* Deferred.await(release)
      })
    )
  )
  const value = yield* Deferred.await(held)
  return {
    value,
    release: Deferred.succeed(release, undefined).pipe(Effect.andThen(Fiber.join(fiber)))
  }
})

layer(QueueDatabase, { excludeTestServices: true })("pgmq conformance: concurrency", (it) => {
  it.effect("4 concurrent consumers, each in its own transactions, never receive the same message", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("cc_many")
      yield* sql`SELECT * FROM pgmq.send_batch(${"cc_many"}::text, ARRAY(SELECT jsonb_build_object('n', i) FROM generate_series(1, 200) i))`
      const consumer = Effect.gen(function* () {
        const received: Array<bigint> = []
        while (true) {
          const batch = yield* sql.withTransaction(
            Effect.gen(function* () {
              const rows = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"cc_many"}::text, 300, 3)`
              // Hold the row locks a moment, so the others have to skip them.
              yield* sql`SELECT pg_sleep(0.005)`
              return rows
            })
          )
          if (batch.length === 0) return received
          received.push(...batch.map((row) => row.msg_id))
        }
      })
      const results = yield* Effect.all([consumer, consumer, consumer, consumer], { concurrency: "unbounded" })
      // They did run side by side (each batch holds its locks for a few milliseconds).
      assert.isAtLeast(results.filter((received) => received.length > 0).length, 2)
      const all = results.flat()
      assert.strictEqual(all.length, 200)
      assert.strictEqual(new Set(all).size, 200)
      const counts = yield* sql<{ readonly read_ct: number; readonly n: number }>`
        SELECT read_ct, count(*)::int AS n FROM pgmq.q_cc_many GROUP BY read_ct`
      assert.deepStrictEqual(counts, [{ read_ct: 1, n: 200 }])
    })
  )

  it.effect(
    "read, read_with_poll and pop skip rows another transaction has locked (SKIP LOCKED), without waiting",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("cc_skip")
        yield* sql.unsafe(
          `SELECT * FROM pgmq.send_batch('cc_skip', ARRAY['{"n":1}','{"n":2}','{"n":3}','{"n":4}']::jsonb[])`
        )
        // vt 0: the held row stays visible, only its lock keeps the others away.
        const held = yield* holding(sql<MessageRecord>`SELECT * FROM pgmq.read(${"cc_skip"}::text, 0, 1)`)
        assert.deepStrictEqual(sortedIds(held.value), [1n])
        const quick = <A>(effect: Effect.Effect<A, unknown>) => Effect.timeout(effect, "10 seconds")
        const read = yield* quick(sql<MessageRecord>`SELECT * FROM pgmq.read(${"cc_skip"}::text, 0, 10)`)
        assert.deepStrictEqual(sortedIds(read), [2n, 3n, 4n])
        const polled = yield* quick(
          sql<MessageRecord>`SELECT * FROM pgmq.read_with_poll(${"cc_skip"}::text, 0, 10, 1, 50)`
        )
        assert.deepStrictEqual(sortedIds(polled), [2n, 3n, 4n])
        const popped = yield* quick(sql<MessageRecord>`SELECT * FROM pgmq.pop(${"cc_skip"}::text, 10)`)
        assert.deepStrictEqual(sortedIds(popped), [2n, 3n, 4n])
        assert.lengthOf(yield* quick(sql`SELECT * FROM pgmq.pop(${"cc_skip"}::text, 10)`), 0)
        yield* held.release
        const after = yield* sql<MessageRecord>`SELECT * FROM pgmq.pop(${"cc_skip"}::text, 10)`
        assert.deepStrictEqual(
          after.map((row) => [row.msg_id, row.read_ct]),
          [[1n, 1]]
        )
      })
  )

  it.effect("archive, delete and set_vt wait for a row another transaction has locked (no SKIP LOCKED)", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("cc_wait")
      yield* sql.unsafe(`SELECT * FROM pgmq.send_batch('cc_wait', ARRAY['{}','{}','{}']::jsonb[])`)
      const cases = [
        { id: 1n, statement: `SELECT pgmq.archive('cc_wait', 1::bigint) AS done`, fragment: "pgmq.archive" },
        { id: 2n, statement: `SELECT pgmq.delete('cc_wait', 2::bigint) AS done`, fragment: "pgmq.delete" },
        {
          id: 3n,
          statement: `SELECT count(*) = 1 AS done FROM pgmq.set_vt('cc_wait', 3::bigint, 0)`,
          fragment: "pgmq.set_vt"
        }
      ]
      for (const { fragment, id, statement } of cases) {
        const held = yield* holding(sql`SELECT * FROM pgmq.set_vt(${"cc_wait"}::text, ${id}::bigint, 600)`)
        assert.lengthOf(held.value, 1)
        const waiting = yield* Effect.forkChild(sql.unsafe<{ readonly done: boolean }>(statement))
        yield* awaitLockWait(fragment)
        assert.isUndefined(waiting.pollUnsafe())
        yield* held.release
        const [result] = yield* Fiber.join(waiting)
        assert.isTrue(result!.done, statement)
      }
      const left = yield* sql<{ readonly msg_id: bigint; readonly visible: boolean }>`
        SELECT msg_id, vt <= clock_timestamp() AS visible FROM pgmq.q_cc_wait ORDER BY msg_id`
      assert.deepStrictEqual(left, [{ msg_id: 3n, visible: true }])
      assert.deepStrictEqual(yield* sql`SELECT msg_id FROM pgmq.a_cc_wait`, [{ msg_id: 1n }])
    })
  )

  it.effect("a message sent in an uncommitted transaction is invisible to other readers, then visible at commit", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("cc_uncommitted")
      const held = yield* holding(
        sql<{ readonly send: bigint }>`SELECT * FROM pgmq.send(${"cc_uncommitted"}::text, '{"n":1}'::jsonb)`
      )
      assert.lengthOf(yield* sql`SELECT * FROM pgmq.read(${"cc_uncommitted"}::text, 30, 10)`, 0)
      assert.lengthOf(yield* sql`SELECT * FROM pgmq.pop(${"cc_uncommitted"}::text, 10)`, 0)
      const [metrics] = yield* sql<{
        readonly queue_length: bigint
      }>`SELECT * FROM pgmq.metrics(${"cc_uncommitted"}::text)`
      assert.strictEqual(metrics!.queue_length, 0n)
      yield* held.release
      const read = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"cc_uncommitted"}::text, 30, 10)`
      assert.deepStrictEqual(sortedIds(read), [held.value[0]!.send])
    })
  )

  it.effect("a rolled-back read leaves the message readable with its old vt, read_ct and last_read_at", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("cc_rollback_read")
      yield* sql.unsafe(`SELECT * FROM pgmq.send('cc_rollback_read', '{"n":1}'::jsonb)`)
      const [first] = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"cc_rollback_read"}::text, 0, 1)`
      const before = yield* sql<Record<string, unknown>>`SELECT vt, read_ct, last_read_at FROM pgmq.q_cc_rollback_read`
      const exit = yield* Effect.exit(
        sql.withTransaction(
          Effect.gen(function* () {
            const rows = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"cc_rollback_read"}::text, 600, 1)`
            assert.deepStrictEqual(
              rows.map((row) => [row.msg_id, row.read_ct]),
              [[first!.msg_id, 2]]
            )
            return yield* Effect.fail("roll back" as const)
          })
        )
      )
      assert.isTrue(exit._tag === "Failure")
      const after = yield* sql<Record<string, unknown>>`SELECT vt, read_ct, last_read_at FROM pgmq.q_cc_rollback_read`
      assert.deepStrictEqual(after, before)
      const again = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"cc_rollback_read"}::text, 600, 1)`
      assert.deepStrictEqual(
        again.map((row) => [row.msg_id, row.read_ct]),
        [[first!.msg_id, 2]]
      )
    })
  )

  it.effect("rolled-back sends spend their ids: total_messages counts them, the next id follows them", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("cc_rollback_send")
      const exit = yield* Effect.exit(
        sql.withTransaction(
          Effect.gen(function* () {
            yield* sql.unsafe(`SELECT * FROM pgmq.send('cc_rollback_send', '{}'::jsonb)`)
            yield* sql.unsafe(`SELECT * FROM pgmq.send_batch('cc_rollback_send', ARRAY['{}','{}']::jsonb[])`)
            return yield* Effect.fail("roll back" as const)
          })
        )
      )
      assert.isTrue(exit._tag === "Failure")
      const [metrics] = yield* sql<{ readonly queue_length: bigint; readonly total_messages: bigint }>`
        SELECT * FROM pgmq.metrics(${"cc_rollback_send"}::text)`
      assert.deepStrictEqual([metrics!.queue_length, metrics!.total_messages], [0n, 3n])
      assert.deepStrictEqual(yield* sql.unsafe(`SELECT * FROM pgmq.send('cc_rollback_send', '{}'::jsonb)`), [
        { send: 4n }
      ])
      const [later] = yield* sql<{ readonly queue_length: bigint; readonly total_messages: bigint }>`
        SELECT * FROM pgmq.metrics(${"cc_rollback_send"}::text)`
      assert.deepStrictEqual([later!.queue_length, later!.total_messages], [1n, 4n])
    })
  )

  it.effect("create and drop_queue take the queue's advisory lock: a concurrent create waits, then succeeds", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      const held = yield* holding(sql`SELECT pgmq.create(${"cc_lock"}::text)`)
      const second = yield* Effect.forkChild(sql`SELECT pgmq.create(${"cc_lock"}::text)`)
      yield* awaitLockWait("pgmq.create")
      const advisory = yield* sql<{ readonly n: number }>`
        SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (
          SELECT oid FROM pg_database WHERE datname = current_database())`
      assert.strictEqual(advisory[0]!.n, 1)
      // The lock is pgmq's: pg_advisory_xact_lock(hashtext('pgmq.queue_' || name)).
      const free = yield* sql<{
        readonly free: boolean
      }>`SELECT pg_try_advisory_xact_lock(hashtext(${"pgmq.queue_cc_lock"})) AS free`
      assert.isFalse(free[0]!.free)
      yield* held.release
      yield* Fiber.join(second)
      const meta = yield* sql<{
        readonly n: number
      }>`SELECT count(*)::int AS n FROM pgmq.meta WHERE queue_name = 'cc_lock'`
      assert.strictEqual(meta[0]!.n, 1)
      const dropHeld = yield* holding(sql`SELECT pgmq.acquire_queue_lock(${"cc_lock"}::text)`)
      const drop = yield* Effect.forkChild(
        sql<{ readonly drop_queue: boolean }>`SELECT pgmq.drop_queue(${"cc_lock"}::text)`
      )
      yield* awaitLockWait("pgmq.drop_queue")
      yield* dropHeld.release
      assert.isTrue((yield* Fiber.join(drop))[0]!.drop_queue)
    })
  )

  it.effect("read_grouped_rr holds its groups' advisory locks to the end of the caller's transaction", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("cc_rr")
      yield* sql.unsafe(
        `SELECT * FROM pgmq.send_batch('cc_rr', ARRAY['{"n":1}','{"n":2}']::jsonb[], ARRAY['{"x-pgmq-group":"g"}','{"x-pgmq-group":"g"}']::jsonb[])`
      )
      // vt 0: the head stays visible; only the group lock keeps another consumer out.
      const held = yield* holding(sql<MessageRecord>`SELECT * FROM pgmq.read_grouped_rr(${"cc_rr"}::text, 0, 1)`)
      assert.deepStrictEqual(sortedIds(held.value), [1n])
      assert.lengthOf(
        yield* Effect.timeout(sql`SELECT * FROM pgmq.read_grouped_rr(${"cc_rr"}::text, 0, 10)`, "10 seconds"),
        0
      )
      yield* held.release
      const after = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped_rr(${"cc_rr"}::text, 0, 10)`
      assert.deepStrictEqual(
        after.map((row) => [row.msg_id, row.read_ct]),
        [
          [1n, 2],
          [2n, 1]
        ]
      )
    })
  )
})

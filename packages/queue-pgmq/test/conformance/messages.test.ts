// Conformance (pgmq.md §3 core semantics, §4 "Consuming", §8.2, §8.4, §8.5): read, read_with_poll,
// pop, set_vt, archive and delete; vt, read_ct, last_read_at; the two clocks (enqueued_at by
// transaction time, vt/last_read_at by clock time); the a_<n> rows.
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { QueueDatabase } from "../helpers.ts"
import { createQueues, type MessageRecord, messageRecordColumns, sortedIds } from "./sql.ts"

type Sent = { readonly send: bigint }

layer(QueueDatabase, { excludeTestServices: true })("pgmq conformance: messages", (it) => {
  it.effect(
    "read: up to qty visible rows in msg_id order; sets vt, read_ct, last_read_at; message_record columns in order",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("mm_read")
        yield* sql.unsafe(
          `SELECT * FROM pgmq.send_batch('mm_read', ARRAY['{"n":1}','{"n":2}','{"n":3}','{"n":4}','{"n":5}']::jsonb[])`
        )
        const before = yield* sql<{
          readonly enqueued_at: Date
        }>`SELECT enqueued_at FROM pgmq.q_mm_read WHERE msg_id = 1`
        const first = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"mm_read"}::text, 30, 2)`
        assert.deepStrictEqual(Object.keys(first[0]!), messageRecordColumns)
        assert.deepStrictEqual(sortedIds(first), [1n, 2n])
        const one = first.find((row) => row.msg_id === 1n)!
        assert.strictEqual(one.read_ct, 1)
        assert.deepStrictEqual(one.message, { n: 1 })
        assert.isNull(one.headers)
        assert.strictEqual(one.enqueued_at.getTime(), before[0]!.enqueued_at.getTime())
        assert.instanceOf(one.last_read_at, Date)
        const gap = (one.vt.getTime() - one.last_read_at!.getTime()) / 1000
        assert.isTrue(gap > 29.9 && gap < 30.1, `vt - last_read_at = ${gap}s`)
        const second = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"mm_read"}::text, 30, 10)`
        assert.deepStrictEqual(sortedIds(second), [3n, 4n, 5n])
        assert.lengthOf(yield* sql`SELECT * FROM pgmq.read(${"mm_read"}::text, 30, 10)`, 0)
        const stored = yield* sql<{ readonly read_ct: number; readonly invisible: boolean }>`
        SELECT read_ct, vt > clock_timestamp() + interval '20 seconds' AS invisible FROM pgmq.q_mm_read ORDER BY msg_id`
        assert.deepStrictEqual(
          stored,
          Array.from({ length: 5 }, () => ({ read_ct: 1, invisible: true }))
        )
        // Named arguments, as clients call it.
        yield* sql.unsafe(`SELECT * FROM pgmq.send('mm_read', '{"n":6}'::jsonb)`)
        const named = yield* sql.unsafe<MessageRecord>(
          `SELECT * FROM pgmq.read(queue_name => 'mm_read', vt => 30, qty => 1)`
        )
        assert.deepStrictEqual(sortedIds(named), [6n])
      })
  )

  it.effect("vt 0 or negative keeps the message visible and read_ct keeps counting; qty => NULL means no limit", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("mm_vt")
      yield* sql.unsafe(`SELECT * FROM pgmq.send_batch('mm_vt', ARRAY['{}','{}','{}']::jsonb[])`)
      const counts: Array<Array<number>> = []
      for (const vt of [0, -10, 0]) {
        const rows = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"mm_vt"}::text, ${vt}::int, NULL)`
        assert.deepStrictEqual(sortedIds(rows), [1n, 2n, 3n])
        counts.push(rows.map((row) => row.read_ct))
      }
      assert.deepStrictEqual(counts, [
        [1, 1, 1],
        [2, 2, 2],
        [3, 3, 3]
      ])
      const negative = yield* sql<{
        readonly past: boolean
      }>`SELECT bool_and(vt < clock_timestamp()) AS past FROM pgmq.q_mm_vt`
      assert.isTrue(negative[0]!.past)
      const popped = yield* sql<MessageRecord>`SELECT * FROM pgmq.pop(${"mm_vt"}::text, NULL)`
      assert.deepStrictEqual(sortedIds(popped), [1n, 2n, 3n])
    })
  )

  it.effect(
    "clocks: enqueued_at is transaction time, vt/last_read_at clock time; read sees vt pass inside one transaction",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("mm_clock")
        yield* sql.withTransaction(
          Effect.gen(function* () {
            yield* sql`SELECT pg_sleep(1.1)`
            const [sent] = yield* sql.unsafe<Sent>(`SELECT * FROM pgmq.send('mm_clock', '{}'::jsonb, 1)`)
            const [row] = yield* sql<{ readonly same: boolean; readonly gap: number }>`
            SELECT enqueued_at = now() AS same, extract(epoch FROM vt - enqueued_at)::float8 AS gap
            FROM pgmq.q_mm_clock WHERE msg_id = ${sent!.send}`
            assert.isTrue(row!.same)
            // vt - enqueued_at > delay inside a long transaction (pgmq.md §3).
            assert.isAtLeast(row!.gap, 2.1)
            assert.lengthOf(yield* sql`SELECT * FROM pgmq.read(${"mm_clock"}::text, 30, 1)`, 0)
            yield* sql`SELECT pg_sleep(1.2)`
            // now() has not moved; clock_timestamp() has: the message is visible to read.
            const read = yield* sql<MessageRecord & { readonly after_start: boolean }>`
            SELECT r.*, r.last_read_at > now() + interval '2 seconds' AS after_start FROM pgmq.read(${"mm_clock"}::text, 30, 1) r`
            assert.deepStrictEqual(sortedIds(read), [sent!.send])
            assert.isTrue(read[0]!.after_start)
            // pop, the grouped reads and set_vt go by clock_timestamp() too.
            yield* sql.unsafe(
              `SELECT * FROM pgmq.send_batch('mm_clock', ARRAY['{"n":2}', '{"n":3}']::jsonb[], ARRAY['{"x-pgmq-group":"g"}', NULL]::jsonb[], 1)`
            )
            assert.lengthOf(yield* sql`SELECT * FROM pgmq.pop(${"mm_clock"}::text, 10)`, 0)
            yield* sql`SELECT pg_sleep(1.2)`
            const grouped = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped_head(${"mm_clock"}::text, 30, 10)`
            assert.deepStrictEqual(sortedIds(grouped), [2n])
            const popped = yield* sql<MessageRecord>`SELECT * FROM pgmq.pop(${"mm_clock"}::text, 10)`
            assert.deepStrictEqual(sortedIds(popped), [3n])
            const [moved] = yield* sql<{ readonly later: boolean }>`
            SELECT vt > now() + interval '3 seconds' AS later FROM pgmq.set_vt(${"mm_clock"}::text, 2::bigint, 0)`
            assert.isTrue(moved!.later)
          })
        )
      })
  )

  it.effect("conditional read: jsonb containment on the body (not headers); '{}' filters nothing", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("mm_cond")
      yield* sql.unsafe(`SELECT * FROM pgmq.send('mm_cond', '{"kind":"a","n":1}'::jsonb)`)
      yield* sql.unsafe(`SELECT * FROM pgmq.send('mm_cond', '{"kind":"b","n":2}'::jsonb, '{"kind":"a"}'::jsonb)`)
      yield* sql.unsafe(`SELECT * FROM pgmq.send('mm_cond', '{"kind":"a","n":3,"extra":true}'::jsonb)`)
      const a =
        yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"mm_cond"}::text, 0, 10, ${JSON.stringify({ kind: "a" })}::jsonb)`
      assert.deepStrictEqual(sortedIds(a), [1n, 3n])
      const b = yield* sql.unsafe<MessageRecord>(
        `SELECT * FROM pgmq.read(queue_name => 'mm_cond', vt => 0, qty => 10, conditional => '{"kind":"b"}')`
      )
      assert.deepStrictEqual(sortedIds(b), [2n])
      assert.lengthOf(yield* sql.unsafe(`SELECT * FROM pgmq.read('mm_cond', 0, 10, '{"kind":"c"}')`), 0)
      const all = yield* sql.unsafe<MessageRecord>(`SELECT * FROM pgmq.read('mm_cond', 0, 10, '{}')`)
      assert.deepStrictEqual(sortedIds(all), [1n, 2n, 3n])
      const polled = yield* sql.unsafe<MessageRecord>(
        `SELECT * FROM pgmq.read_with_poll('mm_cond', 0, 10, 1, 100, '{"n":3}')`
      )
      assert.deepStrictEqual(sortedIds(polled), [3n])
    })
  )

  it.effect(
    "read_with_poll: answers at once, waits for a commit or a delay, or returns nothing after max_poll_seconds",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("mm_poll")
        yield* sql.unsafe(`SELECT * FROM pgmq.send('mm_poll', '{"n":1}'::jsonb)`)
        const ready = yield* sql.unsafe<MessageRecord>(`SELECT * FROM pgmq.read_with_poll('mm_poll', 30, 5)`)
        assert.deepStrictEqual(sortedIds(ready), [1n])
        // Nothing to read: empty after max_poll_seconds.
        const started = Date.now()
        const none = yield* sql.unsafe(`SELECT * FROM pgmq.read_with_poll('mm_poll', 30, 5, 1, 50)`)
        assert.lengthOf(none, 0)
        assert.isAtLeast(Date.now() - started, 950)
        // A message committed by another session during the poll is returned.
        const poll = yield* Effect.forkChild(
          sql.unsafe<MessageRecord>(`SELECT * FROM pgmq.read_with_poll('mm_poll', 30, 5, 20, 50)`)
        )
        yield* Effect.sleep("300 millis")
        yield* sql.unsafe(`SELECT * FROM pgmq.send('mm_poll', '{"n":2}'::jsonb)`)
        assert.deepStrictEqual(sortedIds(yield* Fiber.join(poll)), [2n])
        // A delayed message is returned once its delay has passed.
        yield* sql.unsafe(`SELECT * FROM pgmq.send('mm_poll', '{"n":3}'::jsonb, 1)`)
        const delayed = yield* sql.unsafe<MessageRecord>(
          `SELECT * FROM pgmq.read_with_poll(queue_name => 'mm_poll', vt => 30, qty => 5, max_poll_seconds => 20, poll_interval_ms => 50)`
        )
        assert.deepStrictEqual(sortedIds(delayed), [3n])
        assert.isTrue(delayed[0]!.last_read_at!.getTime() >= delayed[0]!.enqueued_at.getTime() + 900)
      })
  )

  it.effect(
    "pop: removes visible rows in msg_id order and returns them as they were; not archived; qty defaults to 1",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("mm_pop")
        yield* sql.unsafe(
          `SELECT * FROM pgmq.send_batch('mm_pop', ARRAY['{"n":1}','{"n":2}','{"n":3}','{"n":4}']::jsonb[])`
        )
        yield* sql.unsafe(`SELECT * FROM pgmq.send('mm_pop', '{"n":5}'::jsonb, 3600)`)
        yield* sql.unsafe(`SELECT * FROM pgmq.read('mm_pop', 0, 1)`)
        yield* sql.unsafe(`SELECT * FROM pgmq.read('mm_pop', 60, 1)`)
        const popped = yield* sql<MessageRecord>`SELECT * FROM pgmq.pop(${"mm_pop"}::text)`
        assert.lengthOf(popped, 1)
        const [one] = popped
        // msg 1 was read twice (in flight now); msg 2 is the first visible one.
        assert.deepStrictEqual(
          { ...one!, enqueued_at: null },
          {
            msg_id: 2n,
            read_ct: 0,
            enqueued_at: null,
            last_read_at: null,
            vt: one!.vt,
            message: { n: 2 },
            headers: null
          }
        )
        const rest = yield* sql<MessageRecord>`SELECT * FROM pgmq.pop(queue_name => ${"mm_pop"}::text, qty => 10)`
        assert.deepStrictEqual(Object.keys(rest[0]!), messageRecordColumns)
        assert.deepStrictEqual(sortedIds(rest), [3n, 4n])
        const left = yield* sql<{
          readonly msg_id: bigint
          readonly read_ct: number
        }>`SELECT msg_id, read_ct FROM pgmq.q_mm_pop ORDER BY msg_id`
        assert.deepStrictEqual(left, [
          { msg_id: 1n, read_ct: 2 },
          { msg_id: 5n, read_ct: 0 }
        ])
        assert.lengthOf(yield* sql`SELECT 1 FROM pgmq.a_mm_pop`, 0)
        assert.lengthOf(yield* sql`SELECT * FROM pgmq.pop(${"mm_pop"}::text, 10)`, 0)
      })
  )

  it.effect(
    "set_vt: seconds or an absolute time, visible or not; read_ct unchanged; missing ids give no rows; batch form",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("mm_setvt")
        yield* sql.unsafe(`SELECT * FROM pgmq.send_batch('mm_setvt', ARRAY['{"n":1}','{"n":2}','{"n":3}']::jsonb[])`)
        const [read] = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"mm_setvt"}::text, 300, 1)`
        assert.strictEqual(read!.msg_id, 1n)
        const back = yield* sql<MessageRecord>`SELECT * FROM pgmq.set_vt(${"mm_setvt"}::text, 1::bigint, 0)`
        assert.deepStrictEqual(Object.keys(back[0]!), messageRecordColumns)
        assert.deepStrictEqual(
          back.map((row) => [row.msg_id, row.read_ct, row.last_read_at!.getTime()]),
          [[1n, 1, read!.last_read_at!.getTime()]]
        )
        const again = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"mm_setvt"}::text, 300, 1)`
        assert.deepStrictEqual(
          again.map((row) => [row.msg_id, row.read_ct]),
          [[1n, 2]]
        )
        const at = "2031-02-03T04:05:06.789Z"
        const fixed =
          yield* sql<MessageRecord>`SELECT * FROM pgmq.set_vt(queue_name => ${"mm_setvt"}::text, msg_id => 2::bigint, vt => ${at}::timestamptz)`
        assert.deepStrictEqual(
          fixed.map((row) => [row.msg_id, row.read_ct, row.vt.toISOString()]),
          [[2n, 0, at]]
        )
        const later = yield* sql<MessageRecord>`SELECT * FROM pgmq.set_vt(${"mm_setvt"}::text, 3::bigint, 100)`
        const delay = (later[0]!.vt.getTime() - Date.now()) / 1000
        assert.isTrue(delay > 90 && delay < 110, `set_vt 100 s gave ${delay}s`)
        assert.lengthOf(yield* sql`SELECT * FROM pgmq.read(${"mm_setvt"}::text, 300, 10)`, 0)
        assert.lengthOf(yield* sql`SELECT * FROM pgmq.set_vt(${"mm_setvt"}::text, 999::bigint, 10)`, 0)
        assert.lengthOf(yield* sql`SELECT * FROM pgmq.set_vt(${"mm_setvt"}::text, 999::bigint, now())`, 0)
        const batch = yield* sql.unsafe<MessageRecord>(
          `SELECT * FROM pgmq.set_vt('mm_setvt', ARRAY[1, 3, 999]::bigint[], -5)`
        )
        assert.deepStrictEqual(sortedIds(batch), [1n, 3n])
        const batchAt = yield* sql.unsafe<MessageRecord>(
          `SELECT * FROM pgmq.set_vt(queue_name => 'mm_setvt', msg_ids => ARRAY[2, 998]::bigint[], vt => now() - interval '1 minute')`
        )
        assert.deepStrictEqual(sortedIds(batchAt), [2n])
        const visible = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"mm_setvt"}::text, 300, 10)`
        assert.deepStrictEqual(visible.map((row) => [row.msg_id, row.read_ct]).sort(), [
          [1n, 3],
          [2n, 1],
          [3n, 1]
        ])
      })
  )

  it.effect(
    "archive: moves the row with all its fields to a_<n> (archived_at set), visible or not; single bool, batch ids",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("mm_archive")
        yield* sql.unsafe(
          `SELECT * FROM pgmq.send_batch('mm_archive', ARRAY['{"n":1}','{"n":2}','{"n":3}']::jsonb[], ARRAY['{"h":1}', NULL, '{}']::jsonb[])`
        )
        yield* sql.unsafe(`SELECT * FROM pgmq.read('mm_archive', 600, 1)`)
        const before = yield* sql<Record<string, unknown>>`
        SELECT msg_id, read_ct, enqueued_at, last_read_at, vt, message, headers FROM pgmq.q_mm_archive ORDER BY msg_id`
        const single = yield* sql<{ readonly archive: boolean }>`SELECT pgmq.archive(${"mm_archive"}::text, 1::bigint)`
        assert.isTrue(single[0]!.archive)
        assert.isFalse(
          (yield* sql<{ readonly archive: boolean }>`SELECT pgmq.archive(${"mm_archive"}::text, 1::bigint)`)[0]!.archive
        )
        const batch = yield* sql.unsafe<{ readonly archive: bigint }>(
          `SELECT * FROM pgmq.archive('mm_archive', ARRAY[2, 3, 999]::bigint[])`
        )
        assert.deepStrictEqual(batch.map((row) => row.archive).sort(), [2n, 3n])
        assert.lengthOf(
          yield* sql.unsafe(`SELECT * FROM pgmq.archive(queue_name => 'mm_archive', msg_ids => ARRAY[2]::bigint[])`),
          0
        )
        assert.lengthOf(yield* sql`SELECT 1 FROM pgmq.q_mm_archive`, 0)
        const after = yield* sql<Record<string, unknown>>`
        SELECT msg_id, read_ct, enqueued_at, last_read_at, vt, message, headers FROM pgmq.a_mm_archive ORDER BY msg_id`
        assert.deepStrictEqual(after, before)
        assert.deepStrictEqual(
          after.map((row) => row.headers),
          [{ h: 1 }, null, {}]
        )
        assert.deepStrictEqual(
          after.map((row) => row.read_ct),
          [1, 0, 0]
        )
        const stamps = yield* sql<{ readonly recent: boolean }>`
        SELECT bool_and(archived_at <= now() AND archived_at > now() - interval '1 minute') AS recent FROM pgmq.a_mm_archive`
        assert.isTrue(stamps[0]!.recent)
      })
  )

  it.effect("delete: single bool, batch returns the ids actually deleted; nothing archived; ids never reused", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("mm_delete")
      yield* sql.unsafe(`SELECT * FROM pgmq.send_batch('mm_delete', ARRAY['{}','{}','{}','{}']::jsonb[])`)
      yield* sql.unsafe(`SELECT * FROM pgmq.read('mm_delete', 600, 1)`)
      assert.isTrue(
        (yield* sql<{ readonly delete: boolean }>`SELECT pgmq.delete(${"mm_delete"}::text, 1::bigint)`)[0]!.delete
      )
      assert.isFalse(
        (yield* sql<{ readonly delete: boolean }>`SELECT pgmq.delete(${"mm_delete"}::text, 1::bigint)`)[0]!.delete
      )
      assert.isTrue((yield* sql.unsafe<{ readonly delete: boolean }>(`SELECT pgmq.delete('mm_delete', 2)`))[0]!.delete)
      const batch = yield* sql.unsafe<{ readonly delete: bigint }>(
        `SELECT * FROM pgmq.delete(queue_name => 'mm_delete', msg_ids => ARRAY[3, 4, 999]::bigint[])`
      )
      assert.deepStrictEqual(batch.map((row) => row.delete).sort(), [3n, 4n])
      assert.lengthOf(yield* sql`SELECT 1 FROM pgmq.q_mm_delete`, 0)
      assert.lengthOf(yield* sql`SELECT 1 FROM pgmq.a_mm_delete`, 0)
      assert.deepStrictEqual(yield* sql.unsafe(`SELECT * FROM pgmq.send('mm_delete', '{}'::jsonb)`), [{ send: 5n }])
    })
  )
})

// Conformance (pgmq.md §3 delay/headers/message, §4 "Producing", §8.7, §8.8): send and send_batch
// with every overload and named arguments, delays (seconds, absolute, past, negative), headers
// NULL vs {}, the 1.11 batch validation, and the overload ambiguity clients must cast around.
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { QueueDatabase } from "../helpers.ts"
import { createQueues, failsWith, type MessageRecord, sortedIds } from "./sql.ts"

type Sent = { readonly send: bigint }

layer(QueueDatabase, { excludeTestServices: true })("pgmq conformance: send", (it) => {
  it.effect("send(q, msg): one ascending id per call; read_ct 0, last_read_at NULL, headers NULL, vt = send time", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("mm_send")
      const first = yield* sql<Sent>`SELECT * FROM pgmq.send(${"mm_send"}::text, ${JSON.stringify({ a: 1 })}::jsonb)`
      const second = yield* sql<Sent>`SELECT * FROM pgmq.send(${"mm_send"}::text, ${JSON.stringify({ a: 2 })}::jsonb)`
      assert.deepStrictEqual([...first, ...second], [{ send: 1n }, { send: 2n }])
      const rows = yield* sql<{
        readonly msg_id: bigint
        readonly read_ct: number
        readonly last_read_at: Date | null
        readonly message: unknown
        readonly headers: unknown
        readonly visible: boolean
        readonly after_enqueue: boolean
      }>`
        SELECT msg_id, read_ct, last_read_at, message, headers, vt <= clock_timestamp() AS visible,
               vt >= enqueued_at AS after_enqueue
        FROM pgmq.q_mm_send ORDER BY msg_id`
      assert.deepStrictEqual(rows, [
        {
          msg_id: 1n,
          read_ct: 0,
          last_read_at: null,
          message: { a: 1 },
          headers: null,
          visible: true,
          after_enqueue: true
        },
        {
          msg_id: 2n,
          read_ct: 0,
          last_read_at: null,
          message: { a: 2 },
          headers: null,
          visible: true,
          after_enqueue: true
        }
      ])
      // Two untyped literals resolve (only one two-argument overload).
      assert.deepStrictEqual(yield* sql.unsafe(`SELECT * FROM pgmq.send('mm_send', '{"a":3}')`), [{ send: 3n }])
      // NULL body is accepted; an empty object header stays an object (not NULL).
      yield* sql.unsafe(`SELECT * FROM pgmq.send('mm_send', NULL::jsonb)`)
      yield* sql.unsafe(`SELECT * FROM pgmq.send('mm_send', '{"a":5}'::jsonb, '{}'::jsonb)`)
      const tail = yield* sql<{ readonly msg_id: bigint; readonly message: unknown; readonly headers: unknown }>`
        SELECT msg_id, message, headers FROM pgmq.q_mm_send WHERE msg_id >= 4 ORDER BY msg_id`
      assert.deepStrictEqual(tail, [
        { msg_id: 4n, message: null, headers: null },
        { msg_id: 5n, message: { a: 5 }, headers: {} }
      ])
      const [nullHeaders] = yield* sql<{
        readonly is_null: boolean
      }>`SELECT headers IS NULL AS is_null FROM pgmq.q_mm_send WHERE msg_id = 1`
      assert.isTrue(nullHeaders!.is_null)
    })
  )

  it.effect(
    "send overloads: headers, integer delay, timestamptz delay (verbatim), past/negative delays visible, named arguments",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("mm_over")
        const at = "2031-05-06T07:08:09.123456Z"
        const sent = [
          ...(yield* sql.unsafe<Sent>(`SELECT * FROM pgmq.send('mm_over', '{"n":1}'::jsonb, '{"h":1}'::jsonb)`)),
          ...(yield* sql.unsafe<Sent>(`SELECT * FROM pgmq.send('mm_over', '{"n":2}'::jsonb, 100)`)),
          ...(yield* sql<Sent>`SELECT * FROM pgmq.send(${"mm_over"}::text, '{"n":3}'::jsonb, ${at}::timestamptz)`),
          ...(yield* sql.unsafe<Sent>(`SELECT * FROM pgmq.send('mm_over', '{"n":4}'::jsonb, '{"h":4}'::jsonb, 100)`)),
          ...(yield* sql<Sent>`SELECT * FROM pgmq.send(${"mm_over"}::text, '{"n":5}'::jsonb, '{"h":5}'::jsonb, ${at}::timestamptz)`),
          ...(yield* sql.unsafe<Sent>(`SELECT * FROM pgmq.send('mm_over', '{"n":6}'::jsonb, -30)`)),
          ...(yield* sql.unsafe<Sent>(
            `SELECT * FROM pgmq.send('mm_over', '{"n":7}'::jsonb, now() - interval '1 hour')`
          )),
          ...(yield* sql.unsafe<Sent>(
            `SELECT * FROM pgmq.send(queue_name => 'mm_over', msg => '{"n":8}'::jsonb, delay => 5)`
          )),
          ...(yield* sql.unsafe<Sent>(
            `SELECT * FROM pgmq.send(queue_name => 'mm_over', msg => '{"n":9}'::jsonb, headers => '{"h":9}'::jsonb)`
          ))
        ]
        assert.deepStrictEqual(
          sent.map((row) => row.send),
          [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]
        )
        const rows = yield* sql<{
          readonly msg_id: bigint
          readonly headers: unknown
          readonly delay: number
          readonly exact: boolean
        }>`
        SELECT msg_id, headers, round(extract(epoch FROM vt - clock_timestamp()))::int AS delay, vt = ${at}::timestamptz AS exact
        FROM pgmq.q_mm_over ORDER BY msg_id`
        const view = rows.map((row) => [
          row.msg_id,
          row.headers,
          row.exact ? "at" : row.delay > 0 ? row.delay : "visible"
        ])
        assert.deepStrictEqual(view, [
          [1n, { h: 1 }, "visible"],
          [2n, null, 100],
          [3n, null, "at"],
          [4n, { h: 4 }, 100],
          [5n, { h: 5 }, "at"],
          [6n, null, "visible"],
          [7n, null, "visible"],
          [8n, null, 5],
          [9n, { h: 9 }, "visible"]
        ])
        const read = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"mm_over"}::text, 30, 10)`
        assert.deepStrictEqual(sortedIds(read), [1n, 6n, 7n, 9n])
      })
  )

  it.effect("uncast literals: send('q', '{..}', '{..}') is ambiguous (42725), as with pgmq; casts resolve it", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("mm_ambiguous")
      const notUnique = /function pgmq\.send\(unknown, unknown, unknown\) is not unique/
      yield* failsWith(sql.unsafe(`SELECT * FROM pgmq.send('mm_ambiguous', '{"a":1}', '{"h":1}')`), "42725", notUnique)
      // Bind parameters without a type are unknown too.
      yield* failsWith(sql`SELECT * FROM pgmq.send(${"mm_ambiguous"}, ${"{}"}, ${"{}"})`, "42725", notUnique)
      yield* failsWith(
        sql.unsafe(`SELECT * FROM pgmq.send('mm_ambiguous', '{}', '{}', '1')`),
        "42725",
        /function pgmq\.send\(unknown, unknown, unknown, unknown\) is not unique/
      )
      yield* failsWith(sql.unsafe(`SELECT * FROM pgmq.send_batch('mm_ambiguous', '{}', '{}')`), "42725")
      const cast = yield* sql<Sent>`SELECT * FROM pgmq.send(${"mm_ambiguous"}::text, ${"{}"}::jsonb, ${"{}"}::jsonb)`
      assert.deepStrictEqual(cast, [{ send: 1n }])
      assert.lengthOf(yield* sql`SELECT 1 FROM pgmq.q_mm_ambiguous`, 1)
    })
  )

  it.effect("send_batch: ids in input order, one shared vt, parallel headers, every overload", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("mm_batch")
      const msgs = `ARRAY['{"n":1}', '{"n":2}', '{"n":3}']::jsonb[]`
      const batches = [
        `SELECT * FROM pgmq.send_batch('mm_batch', ${msgs})`,
        `SELECT * FROM pgmq.send_batch('mm_batch', ${msgs}, ARRAY['{"h":1}', NULL, '{}']::jsonb[])`,
        `SELECT * FROM pgmq.send_batch('mm_batch', ${msgs}, 100)`,
        `SELECT * FROM pgmq.send_batch('mm_batch', ${msgs}, '2031-01-01T00:00:00Z'::timestamptz)`,
        `SELECT * FROM pgmq.send_batch('mm_batch', ${msgs}, ARRAY['{"h":1}', '{"h":2}', '{"h":3}']::jsonb[], 100)`,
        `SELECT * FROM pgmq.send_batch('mm_batch', ${msgs}, NULL::jsonb[], '2031-01-01T00:00:00Z'::timestamptz)`,
        `SELECT * FROM pgmq.send_batch(queue_name => 'mm_batch', msgs => ${msgs}, delay => 0)`
      ]
      let expected = 1n
      for (const batch of batches) {
        const ids = yield* sql.unsafe<{ readonly send_batch: bigint }>(batch)
        assert.deepStrictEqual(
          ids.map((row) => row.send_batch),
          [expected, expected + 1n, expected + 2n],
          batch
        )
        expected += 3n
      }
      const rows = yield* sql<{
        readonly msg_id: bigint
        readonly message: { readonly n: number }
        readonly headers: unknown
      }>`
        SELECT msg_id, message, headers FROM pgmq.q_mm_batch ORDER BY msg_id`
      assert.deepStrictEqual(
        rows.map((row) => row.message.n),
        [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]
      )
      assert.deepStrictEqual(
        rows.map((row) => row.headers),
        [
          null,
          null,
          null,
          { h: 1 },
          null,
          {},
          null,
          null,
          null,
          null,
          null,
          null,
          { h: 1 },
          { h: 2 },
          { h: 3 },
          null,
          null,
          null,
          null,
          null,
          null
        ]
      )
      const vts = yield* sql<{
        readonly batch: number
        readonly vts: number
        readonly delay: number
        readonly fixed: boolean
      }>`
        SELECT (msg_id - 1) / 3 AS batch, count(DISTINCT vt)::int AS vts,
               round(extract(epoch FROM min(vt) - clock_timestamp()))::int AS delay,
               bool_and(vt = '2031-01-01T00:00:00Z'::timestamptz) AS fixed
        FROM pgmq.q_mm_batch GROUP BY 1 ORDER BY 1`
      assert.deepStrictEqual(
        vts.map((row) => row.vts),
        [1, 1, 1, 1, 1, 1, 1]
      )
      assert.deepStrictEqual(
        vts.map((row) => row.fixed),
        [false, false, false, true, false, true, false]
      )
      assert.deepStrictEqual([vts[2]!.delay, vts[4]!.delay], [100, 100])
      assert.isAtMost(vts[0]!.delay, 0)
    })
  )

  it.effect(
    "send_batch validation (1.11): NULL/empty msgs, headers length mismatch (also an empty headers array) are P0001",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("mm_batch_check")
        const empty = /msgs cannot be NULL or empty/
        yield* failsWith(sql.unsafe(`SELECT * FROM pgmq.send_batch('mm_batch_check', NULL::jsonb[])`), "P0001", empty)
        yield* failsWith(
          sql.unsafe(`SELECT * FROM pgmq.send_batch('mm_batch_check', ARRAY[]::jsonb[])`),
          "P0001",
          empty
        )
        yield* failsWith(
          sql.unsafe(`SELECT * FROM pgmq.send_batch('mm_batch_check', '{}'::jsonb[], 5)`),
          "P0001",
          empty
        )
        yield* failsWith(
          sql.unsafe(
            `SELECT * FROM pgmq.send_batch('mm_batch_check', ARRAY['{}', '{}']::jsonb[], ARRAY['{}']::jsonb[])`
          ),
          "P0001",
          /headers array length \(1\) must match msgs array length \(2\)/
        )
        yield* failsWith(
          sql.unsafe(`SELECT * FROM pgmq.send_batch('mm_batch_check', ARRAY['{}']::jsonb[], ARRAY[]::jsonb[], 0)`),
          "P0001",
          /headers array length \(0\) must match msgs array length \(1\)/
        )
        yield* failsWith(
          sql.unsafe(
            `SELECT * FROM pgmq.send_batch('mm_batch_check', ARRAY['{}']::jsonb[], ARRAY['{}', '{}']::jsonb[], now())`
          ),
          "P0001",
          /headers array length \(2\) must match msgs array length \(1\)/
        )
        assert.lengthOf(yield* sql`SELECT 1 FROM pgmq.q_mm_batch_check`, 0)
        const ok = yield* sql.unsafe(
          `SELECT * FROM pgmq.send_batch('mm_batch_check', ARRAY['{}']::jsonb[], NULL::jsonb[])`
        )
        assert.lengthOf(ok, 1)
      })
  )
})

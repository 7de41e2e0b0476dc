// Conformance (pgmq.md §5): grouped FIFO reads on the `x-pgmq-group` header — read_grouped (SQS
// FIFO style), read_grouped_rr (layered round robin, sorted output), read_grouped_head (one head per
// group) and their _with_poll forms.
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { QueueDatabase } from "../helpers.ts"
import { createQueues, type MessageRecord, messageRecordColumns, sortedIds } from "./sql.ts"

/** Sends one message per entry: the group name (header `x-pgmq-group`), or null for no header at all. */
const sendGroups = Effect.fnUntraced(function* (queue: string, groups: ReadonlyArray<string | null>) {
  const sql = yield* PgClient.PgClient
  for (const [index, group] of groups.entries()) {
    const headers = group === null ? null : JSON.stringify({ "x-pgmq-group": group })
    yield* sql`SELECT * FROM pgmq.send(${queue}::text, ${JSON.stringify({ n: index + 1 })}::jsonb, ${headers}::jsonb)`
  }
})

layer(QueueDatabase, { excludeTestServices: true })("pgmq conformance: fifo", (it) => {
  it.effect(
    "read_grouped: fills the batch from the group with the oldest message first; a group with an invisible message is blocked",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("ff_grouped")
        // ids:             1    2    3     4    5    6     7
        yield* sendGroups("ff_grouped", ["A", "B", "A", null, "B", "A", null])
        const first = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped(${"ff_grouped"}::text, 60, 4)`
        assert.deepStrictEqual(Object.keys(first[0]!), messageRecordColumns)
        // A's three messages (oldest group), then B's first.
        assert.deepStrictEqual(sortedIds(first), [1n, 2n, 3n, 6n])
        assert.isTrue(first.every((row) => row.read_ct === 1 && row.last_read_at !== null))
        // A and B now have messages in flight: only the default group (no header) is eligible.
        const second = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped(${"ff_grouped"}::text, 60, 10)`
        assert.deepStrictEqual(sortedIds(second), [4n, 7n])
        assert.lengthOf(yield* sql`SELECT * FROM pgmq.read_grouped(${"ff_grouped"}::text, 60, 10)`, 0)
        // B advances when its in-flight head is deleted.
        yield* sql`SELECT pgmq.delete(${"ff_grouped"}::text, 2::bigint)`
        const third = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped(${"ff_grouped"}::text, 60, 10)`
        assert.deepStrictEqual(sortedIds(third), [5n])
      })
  )

  it.effect("read_grouped: a delayed message blocks the rest of its group; an expired vt redelivers the head", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("ff_delay")
      yield* sql.unsafe(`SELECT * FROM pgmq.send('ff_delay', '{"n":1}'::jsonb, '{"x-pgmq-group":"D"}'::jsonb, 3600)`)
      yield* sendGroups("ff_delay", ["D", "E", "E"])
      // D's head (id 1) is delayed: D is blocked. E: both.
      const first = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped(${"ff_delay"}::text, 0, 10)`
      assert.deepStrictEqual(sortedIds(first), [3n, 4n])
      // vt 0: E's messages are visible again at once and are delivered again, read_ct counting.
      const again = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped(${"ff_delay"}::text, 0, 1)`
      assert.deepStrictEqual(
        again.map((row) => [row.msg_id, row.read_ct]),
        [[3n, 2]]
      )
      // A message in the middle made invisible (set_vt) stops its group right before it.
      yield* sql`SELECT * FROM pgmq.set_vt(${"ff_delay"}::text, 4::bigint, 3600)`
      yield* sendGroups("ff_delay", ["E"])
      const stopped = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped(${"ff_delay"}::text, 0, 10)`
      assert.deepStrictEqual(sortedIds(stopped), [3n])
    })
  )

  it.effect("no header (and the literal '_default_fifo_group') is one strictly serialised group", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("ff_default")
      yield* sendGroups("ff_default", [null, "_default_fifo_group", null])
      yield* sql.unsafe(`SELECT * FROM pgmq.send('ff_default', '{"n":4}'::jsonb, '{"other":"x"}'::jsonb)`)
      const one = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped(${"ff_default"}::text, 60, 1)`
      assert.deepStrictEqual(sortedIds(one), [1n])
      assert.lengthOf(yield* sql`SELECT * FROM pgmq.read_grouped(${"ff_default"}::text, 60, 10)`, 0)
      assert.lengthOf(yield* sql`SELECT * FROM pgmq.read_grouped_rr(${"ff_default"}::text, 60, 10)`, 0)
      assert.lengthOf(yield* sql`SELECT * FROM pgmq.read_grouped_head(${"ff_default"}::text, 60, 10)`, 0)
      yield* sql`SELECT pgmq.archive(${"ff_default"}::text, 1::bigint)`
      const rest = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped(${"ff_default"}::text, 60, 10)`
      assert.deepStrictEqual(sortedIds(rest), [2n, 3n, 4n])
      // A plain read ignores groups.
      yield* sendGroups("ff_default", [null, null])
      const plain = yield* sql<MessageRecord>`SELECT * FROM pgmq.read(${"ff_default"}::text, 60, 10)`
      assert.deepStrictEqual(sortedIds(plain), [5n, 6n])
    })
  )

  it.effect(
    "read_grouped_rr: rank 1 of every eligible group by head id, then rank 2, ...; rows returned in that order",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("ff_rr")
        // ids:             1    2    3    4    5    6    7
        yield* sendGroups("ff_rr", ["B", "A", "A", "B", "C", "A", null])
        const first = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped_rr(${"ff_rr"}::text, 60, 6)`
        assert.deepStrictEqual(Object.keys(first[0]!), messageRecordColumns)
        // Heads B=1, A=2, C=5, default=7; then B's 4, A's 3 (limit 6).
        assert.deepStrictEqual(
          first.map((row) => row.msg_id),
          [1n, 2n, 5n, 7n, 4n, 3n]
        )
        assert.isTrue(first.every((row) => row.read_ct === 1 && row.last_read_at !== null))
        // Every group's head is in flight: nothing, although A's 6 is visible.
        assert.lengthOf(yield* sql`SELECT * FROM pgmq.read_grouped_rr(${"ff_rr"}::text, 60, 10)`, 0)
        yield* sql.unsafe(`SELECT * FROM pgmq.delete('ff_rr', ARRAY[2, 3]::bigint[])`)
        const next = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped_rr(${"ff_rr"}::text, 60, 10)`
        assert.deepStrictEqual(
          next.map((row) => row.msg_id),
          [6n]
        )
      })
  )

  it.effect("read_grouped_rr: a group whose head is delayed is skipped, the others served", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("ff_rr_delay")
      yield* sql.unsafe(
        `SELECT * FROM pgmq.send('ff_rr_delay', '{"n":1}'::jsonb, '{"x-pgmq-group":"late"}'::jsonb, 3600)`
      )
      yield* sendGroups("ff_rr_delay", ["late", "early", "early"])
      const rows = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped_rr(${"ff_rr_delay"}::text, 60, 10)`
      assert.deepStrictEqual(
        rows.map((row) => row.msg_id),
        [3n, 4n]
      )
    })
  )

  it.effect(
    "read_grouped_head: at most one message per group, each group's absolute head when visible, lowest ids first",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("ff_head")
        // ids:             1    2    3    4    5    6
        yield* sendGroups("ff_head", ["B", "A", "A", "B", "C", null])
        const first = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped_head(${"ff_head"}::text, 60, 2)`
        assert.deepStrictEqual(Object.keys(first[0]!), messageRecordColumns)
        assert.deepStrictEqual(sortedIds(first), [1n, 2n])
        assert.isTrue(first.every((row) => row.read_ct === 1 && row.last_read_at !== null))
        const second = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped_head(${"ff_head"}::text, 60, 10)`
        assert.deepStrictEqual(sortedIds(second), [5n, 6n])
        assert.lengthOf(yield* sql`SELECT * FROM pgmq.read_grouped_head(${"ff_head"}::text, 60, 10)`, 0)
        yield* sql`SELECT pgmq.delete(${"ff_head"}::text, 1::bigint)`
        yield* sql`SELECT pgmq.archive(${"ff_head"}::text, 2::bigint)`
        const third = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped_head(${"ff_head"}::text, 60, 10)`
        assert.deepStrictEqual(sortedIds(third), [3n, 4n])
        // A delayed head blocks its group even when later messages are visible.
        yield* sql.unsafe(`SELECT * FROM pgmq.send('ff_head', '{}'::jsonb, '{"x-pgmq-group":"Z"}'::jsonb, 3600)`)
        yield* sendGroups("ff_head", ["Z"])
        assert.lengthOf(yield* sql`SELECT * FROM pgmq.read_grouped_head(${"ff_head"}::text, 60, 10)`, 0)
      })
  )

  it.effect("qty => NULL: no limit for the grouped reads either", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("ff_unlimited")
      // ids:             1    2    3    4    5    6
      yield* sendGroups("ff_unlimited", ["a", "b", "c", "a", "b", "c"])
      // vt 0 keeps everything visible for the next call.
      const grouped = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped(${"ff_unlimited"}::text, 0, NULL)`
      assert.deepStrictEqual(sortedIds(grouped), [1n, 2n, 3n, 4n, 5n, 6n])
      const rr = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped_rr(${"ff_unlimited"}::text, 0, NULL)`
      assert.deepStrictEqual(
        rr.map((row) => row.msg_id),
        [1n, 2n, 3n, 4n, 5n, 6n]
      )
      const heads = yield* sql<MessageRecord>`SELECT * FROM pgmq.read_grouped_head(${"ff_unlimited"}::text, 0, NULL)`
      assert.deepStrictEqual(sortedIds(heads), [1n, 2n, 3n])
      const counts = yield* sql<{
        readonly msg_id: bigint
        readonly read_ct: number
      }>`SELECT msg_id, read_ct FROM pgmq.q_ff_unlimited ORDER BY msg_id`
      assert.deepStrictEqual(
        counts.map((row) => row.read_ct),
        [3, 3, 3, 2, 2, 2]
      )
    })
  )

  it.effect("the _with_poll forms: answer at once, wait for a commit, or return nothing after max_poll_seconds", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      for (const name of ["read_grouped", "read_grouped_rr", "read_grouped_head"]) {
        const queue = `ff_poll_${name}`
        yield* createQueues(queue)
        yield* sendGroups(queue, ["g", "g"])
        const ready = yield* sql.unsafe<MessageRecord>(`SELECT * FROM pgmq.${name}_with_poll('${queue}', 60, 1)`)
        assert.deepStrictEqual(sortedIds(ready), [1n], name)
        // g is in flight: nothing for a second.
        const started = Date.now()
        const none = yield* sql.unsafe(`SELECT * FROM pgmq.${name}_with_poll('${queue}', 60, 1, 1, 50)`)
        assert.lengthOf(none, 0, name)
        assert.isAtLeast(Date.now() - started, 950, name)
        // A new group committed during the poll is served.
        const poll = yield* Effect.forkChild(
          sql.unsafe<MessageRecord>(
            `SELECT * FROM pgmq.${name}_with_poll(queue_name => '${queue}', vt => 60, qty => 5, max_poll_seconds => 20, poll_interval_ms => 50)`
          )
        )
        yield* Effect.sleep("300 millis")
        yield* sendGroups(queue, ["h"])
        assert.deepStrictEqual(sortedIds(yield* Fiber.join(poll)), [3n], name)
      }
    })
  )
})

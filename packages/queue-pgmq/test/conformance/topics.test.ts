// Conformance (pgmq.md §7): topic routing — bind/unbind/list, test_routing, send_topic and
// send_batch_topic, routing-key and pattern validation, and what `*` and `#` match.
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { QueueDatabase } from "../helpers.ts"
import { createQueues, failsWith } from "./sql.ts"

interface Binding {
  readonly pattern: string
  readonly queue_name: string
  readonly bound_at: Date
  readonly compiled_regex: string
}

/** The `queue_name` values `test_routing(key)` answers, sorted (its order is unspecified). */
const routes = (key: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    Effect.map(
      sql<{
        readonly queue_name: string
      }>`SELECT queue_name FROM pgmq.test_routing(${key}::text) WHERE queue_name LIKE 'tt\_%'`,
      (rows) => rows.map((row) => row.queue_name).sort()
    )
  )

/** Drops the queues named (their bindings go with them): catch-all patterns must not outlive their test. */
const dropQueues = (...names: ReadonlyArray<string>) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    Effect.forEach(names, (name) => sql`SELECT pgmq.drop_queue(${name}::text)`, { discard: true })
  ).pipe(Effect.orDie)

layer(QueueDatabase, { excludeTestServices: true })("pgmq conformance: topics", (it) => {
  it.effect("bind_topic (idempotent), list_topic_bindings (newest first, per queue), unbind_topic true/false", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("tt_bind_a", "tt_bind_b")
      yield* sql`SELECT pgmq.bind_topic(${"bind.one"}::text, ${"tt_bind_a"}::text)`
      yield* sql`SELECT pgmq.bind_topic(${"bind.two.*"}::text, ${"tt_bind_a"}::text)`
      yield* sql`SELECT pgmq.bind_topic(pattern => ${"bind.#"}::text, queue_name => ${"tt_bind_b"}::text)`
      yield* sql`SELECT pgmq.bind_topic(${"bind.one"}::text, ${"tt_bind_a"}::text)`
      const all = yield* sql<Binding>`SELECT * FROM pgmq.list_topic_bindings()`
      assert.deepStrictEqual(Object.keys(all[0]!), ["pattern", "queue_name", "bound_at", "compiled_regex"])
      const ours = all.filter((row) => row.queue_name.startsWith("tt_bind_"))
      assert.deepStrictEqual(
        ours.map((row) => [row.pattern, row.queue_name]),
        [
          ["bind.#", "tt_bind_b"],
          ["bind.two.*", "tt_bind_a"],
          ["bind.one", "tt_bind_a"]
        ]
      )
      assert.isTrue(ours.every((row) => row.compiled_regex.startsWith("^") && row.compiled_regex.endsWith("$")))
      const forA = yield* sql<Binding>`SELECT * FROM pgmq.list_topic_bindings(${"tt_bind_a"}::text)`
      assert.deepStrictEqual(
        forA.map((row) => row.pattern),
        ["bind.two.*", "bind.one"]
      )
      assert.deepStrictEqual(Object.keys(forA[0]!), ["pattern", "queue_name", "bound_at", "compiled_regex"])
      const unbound = yield* sql<{
        readonly unbind_topic: boolean
      }>`SELECT pgmq.unbind_topic(${"bind.one"}::text, ${"tt_bind_a"}::text)`
      assert.isTrue(unbound[0]!.unbind_topic)
      const again = yield* sql<{
        readonly unbind_topic: boolean
      }>`SELECT pgmq.unbind_topic(${"bind.one"}::text, ${"tt_bind_a"}::text)`
      assert.isFalse(again[0]!.unbind_topic)
      const never = yield* sql<{
        readonly unbind_topic: boolean
      }>`SELECT pgmq.unbind_topic(${"bind.#"}::text, ${"tt_bind_a"}::text)`
      assert.isFalse(never[0]!.unbind_topic)
      assert.deepStrictEqual(
        (yield* sql<Binding>`SELECT * FROM pgmq.list_topic_bindings(${"tt_bind_a"}::text)`).map((row) => row.pattern),
        ["bind.two.*"]
      )
    })
  )

  it.effect(
    "bind_topic on a queue that is not in meta: P0001 'Queue \"<n>\" does not exist. Create it first using pgmq.create()'",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* failsWith(
          sql`SELECT pgmq.bind_topic(${"x.y"}::text, ${"tt_nowhere"}::text)`,
          "P0001",
          /Queue "tt_nowhere" does not exist\. Create it first using pgmq\.create\(\)/
        )
        assert.lengthOf(yield* sql`SELECT 1 FROM pgmq.topic_bindings WHERE queue_name = 'tt_nowhere'`, 0)
      })
  )

  it.effect(
    "pattern validation: [A-Za-z0-9._-] plus * and #; no empty, edge or double dots, no **, ##, *#, #*, at most 255",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("tt_patterns")
        for (const pattern of ["#", "*", "a.*.c", "logs.#", "A-b_c.9", "*.x.#", "a".repeat(255)]) {
          yield* sql`SELECT pgmq.validate_topic_pattern(${pattern}::text)`
          yield* sql`SELECT pgmq.bind_topic(${pattern}::text, ${"tt_patterns"}::text)`
        }
        const invalid = [
          "",
          ".a",
          "a.",
          "a..b",
          "a.**",
          "a.##",
          "a.*#",
          "a.#*",
          "a b",
          "a/b",
          "a$",
          "a+b",
          "a".repeat(256)
        ]
        for (const pattern of invalid) {
          yield* failsWith(sql`SELECT pgmq.validate_topic_pattern(${pattern}::text)`, "P0001")
          yield* failsWith(sql`SELECT pgmq.bind_topic(${pattern}::text, ${"tt_patterns"}::text)`, "P0001")
        }
        yield* failsWith(sql`SELECT pgmq.bind_topic(NULL::text, ${"tt_patterns"}::text)`, "P0001")
        const count = yield* sql<{
          readonly n: number
        }>`SELECT count(*)::int AS n FROM pgmq.topic_bindings WHERE queue_name = 'tt_patterns'`
        assert.strictEqual(count[0]!.n, 7)
      }).pipe(Effect.ensuring(dropQueues("tt_patterns")))
  )

  it.effect("routing-key validation: 1-255 of [A-Za-z0-9._-], no leading/trailing/double dots, no wildcards", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      for (const key of ["a", "a.b.c", "A-b_c.9", "a".repeat(255)]) {
        yield* sql`SELECT pgmq.validate_routing_key(${key}::text)`
        yield* sql`SELECT * FROM pgmq.test_routing(${key}::text)`
      }
      const invalid = ["", ".a", "a.", "a..b", "a.*", "a.#", "a b", "a/b", "a".repeat(256)]
      for (const key of invalid) {
        yield* failsWith(sql`SELECT pgmq.validate_routing_key(${key}::text)`, "P0001")
        yield* failsWith(sql`SELECT * FROM pgmq.test_routing(${key}::text)`, "P0001")
        yield* failsWith(sql`SELECT pgmq.send_topic(${key}::text, '{}'::jsonb)`, "P0001")
        yield* failsWith(sql`SELECT * FROM pgmq.send_batch_topic(${key}::text, ARRAY['{}']::jsonb[])`, "P0001")
      }
    })
  )

  it.effect(
    "matching: * is exactly one dot-free segment, # any text (logs.# needs a segment after 'logs.'), dots are literal",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("tt_star", "tt_hash", "tt_all", "tt_mid", "tt_literal", "tt_inner")
        const bindings: ReadonlyArray<readonly [string, string]> = [
          ["logs.*", "tt_star"],
          ["logs.#", "tt_hash"],
          ["#", "tt_all"],
          ["logs.*.error", "tt_mid"],
          ["a.b", "tt_literal"],
          ["x.#.z", "tt_inner"]
        ]
        for (const [pattern, queue] of bindings) yield* sql`SELECT pgmq.bind_topic(${pattern}::text, ${queue}::text)`
        assert.deepStrictEqual(yield* routes("logs.app"), ["tt_all", "tt_hash", "tt_star"])
        assert.deepStrictEqual(yield* routes("logs.app.error"), ["tt_all", "tt_hash", "tt_mid"])
        assert.deepStrictEqual(yield* routes("logs.app.warn.more"), ["tt_all", "tt_hash"])
        assert.deepStrictEqual(yield* routes("logs"), ["tt_all"])
        assert.deepStrictEqual(yield* routes("logsXapp"), ["tt_all"])
        assert.deepStrictEqual(yield* routes("a.b"), ["tt_all", "tt_literal"])
        assert.deepStrictEqual(yield* routes("aXb"), ["tt_all"])
        assert.deepStrictEqual(yield* routes("x.y.z"), ["tt_all", "tt_inner"])
        assert.deepStrictEqual(yield* routes("x.1.2.z"), ["tt_all", "tt_inner"])
        assert.deepStrictEqual(yield* routes("x.z"), ["tt_all"])
        const dry = yield* sql<{
          readonly pattern: string
          readonly queue_name: string
          readonly compiled_regex: string
        }>`
        SELECT * FROM pgmq.test_routing(${"logs.app"}::text) WHERE queue_name = 'tt_star'`
        assert.deepStrictEqual(Object.keys(dry[0]!), ["pattern", "queue_name", "compiled_regex"])
        assert.strictEqual(dry[0]!.pattern, "logs.*")
        // A dry run sends nothing.
        assert.lengthOf(yield* sql`SELECT 1 FROM pgmq.q_tt_star`, 0)
      }).pipe(Effect.ensuring(dropQueues("tt_star", "tt_hash", "tt_all", "tt_mid", "tt_literal", "tt_inner")))
  )

  it.effect(
    "send_topic: one send per matching queue (each once), the count returned; 0 without a match; NULL msg and negative delay rejected",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("tt_send_a", "tt_send_b", "tt_send_c")
        yield* sql`SELECT pgmq.bind_topic(${"orders.*"}::text, ${"tt_send_a"}::text)`
        yield* sql`SELECT pgmq.bind_topic(${"orders.#"}::text, ${"tt_send_a"}::text)`
        yield* sql`SELECT pgmq.bind_topic(${"orders.created"}::text, ${"tt_send_b"}::text)`
        yield* sql`SELECT pgmq.bind_topic(${"billing.#"}::text, ${"tt_send_c"}::text)`
        const sent = yield* sql<{
          readonly send_topic: number
        }>`SELECT pgmq.send_topic(${"orders.created"}::text, '{"o":1}'::jsonb)`
        assert.strictEqual(sent[0]!.send_topic, 2)
        assert.strictEqual(
          (yield* sql<{
            readonly send_topic: number
          }>`SELECT pgmq.send_topic(${"nobody.listens"}::text, '{}'::jsonb)`)[0]!.send_topic,
          0
        )
        const delayed = yield* sql<{ readonly send_topic: number }>`
        SELECT pgmq.send_topic(routing_key => ${"orders.updated"}::text, msg => '{"o":2}'::jsonb, delay => 3600)`
        assert.strictEqual(delayed[0]!.send_topic, 1)
        const headed = yield* sql<{ readonly send_topic: number }>`
        SELECT pgmq.send_topic(${"orders.created"}::text, '{"o":3}'::jsonb, '{"h":3}'::jsonb, 0)`
        assert.strictEqual(headed[0]!.send_topic, 2)
        const rows = (queue: string) =>
          sql.unsafe<{ readonly message: unknown; readonly headers: unknown; readonly later: boolean }>(
            `SELECT message, headers, vt > clock_timestamp() + interval '1000 seconds' AS later FROM pgmq.q_${queue} ORDER BY msg_id`
          )
        assert.deepStrictEqual(yield* rows("tt_send_a"), [
          { message: { o: 1 }, headers: null, later: false },
          { message: { o: 2 }, headers: null, later: true },
          { message: { o: 3 }, headers: { h: 3 }, later: false }
        ])
        assert.deepStrictEqual(yield* rows("tt_send_b"), [
          { message: { o: 1 }, headers: null, later: false },
          { message: { o: 3 }, headers: { h: 3 }, later: false }
        ])
        assert.deepStrictEqual(yield* rows("tt_send_c"), [])
        yield* failsWith(sql`SELECT pgmq.send_topic(${"orders.created"}::text, NULL::jsonb)`, "P0001")
        yield* failsWith(sql`SELECT pgmq.send_topic(${"orders.created"}::text, '{}'::jsonb, -1)`, "P0001")
        // Rejected as a whole: nothing was sent.
        assert.lengthOf(yield* rows("tt_send_a"), 3)
      })
  )

  it.effect(
    "send_batch_topic: (queue_name, msg_id) for every matching queue and message; send_batch's validation; delays",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("tt_batch_a", "tt_batch_b")
        yield* sql`SELECT pgmq.bind_topic(${"events.#"}::text, ${"tt_batch_a"}::text)`
        yield* sql`SELECT pgmq.bind_topic(${"events.*"}::text, ${"tt_batch_b"}::text)`
        const out = yield* sql<{ readonly queue_name: string; readonly msg_id: bigint }>`
        SELECT * FROM pgmq.send_batch_topic(${"events.x"}::text, ARRAY['{"n":1}', '{"n":2}']::jsonb[])`
        assert.deepStrictEqual(Object.keys(out[0]!), ["queue_name", "msg_id"])
        assert.deepStrictEqual(out.map((row) => [row.queue_name, row.msg_id]).sort(), [
          ["tt_batch_a", 1n],
          ["tt_batch_a", 2n],
          ["tt_batch_b", 1n],
          ["tt_batch_b", 2n]
        ])
        const deep = yield* sql<{ readonly queue_name: string; readonly msg_id: bigint }>`
        SELECT * FROM pgmq.send_batch_topic(${"events.x.y"}::text, ARRAY['{"n":3}']::jsonb[], ARRAY['{"h":3}']::jsonb[])`
        assert.deepStrictEqual(
          deep.map((row) => [row.queue_name, row.msg_id]),
          [["tt_batch_a", 3n]]
        )
        const variants = [
          `SELECT * FROM pgmq.send_batch_topic('events.x.y', ARRAY['{}']::jsonb[], 3600)`,
          `SELECT * FROM pgmq.send_batch_topic('events.x.y', ARRAY['{}']::jsonb[], now() + interval '1 hour')`,
          `SELECT * FROM pgmq.send_batch_topic('events.x.y', ARRAY['{}']::jsonb[], ARRAY['{"h":1}']::jsonb[], 3600)`,
          `SELECT * FROM pgmq.send_batch_topic('events.x.y', ARRAY['{}']::jsonb[], ARRAY['{"h":1}']::jsonb[], now() + interval '1 hour')`
        ]
        for (const variant of variants) assert.lengthOf(yield* sql.unsafe(variant), 1, variant)
        const stored = yield* sql<{ readonly msg_id: bigint; readonly headers: unknown; readonly later: boolean }>`
        SELECT msg_id, headers, vt > clock_timestamp() + interval '1000 seconds' AS later FROM pgmq.q_tt_batch_a ORDER BY msg_id`
        assert.deepStrictEqual(
          stored.map((row) => [row.msg_id, row.headers, row.later]),
          [
            [1n, null, false],
            [2n, null, false],
            [3n, { h: 3 }, false],
            [4n, null, true],
            [5n, null, true],
            [6n, { h: 1 }, true],
            [7n, { h: 1 }, true]
          ]
        )
        assert.lengthOf(
          yield* sql`SELECT * FROM pgmq.send_batch_topic(${"nobody.here"}::text, ARRAY['{}']::jsonb[])`,
          0
        )
        yield* failsWith(
          sql`SELECT * FROM pgmq.send_batch_topic(${"events.x"}::text, ARRAY[]::jsonb[])`,
          "P0001",
          /msgs cannot be NULL or empty/
        )
        yield* failsWith(
          sql`SELECT * FROM pgmq.send_batch_topic(${"events.x"}::text, NULL::jsonb[])`,
          "P0001",
          /msgs cannot be NULL or empty/
        )
        yield* failsWith(
          sql`SELECT * FROM pgmq.send_batch_topic(${"events.x"}::text, ARRAY['{}', '{}']::jsonb[], ARRAY['{}']::jsonb[])`,
          "P0001",
          /headers array length \(1\) must match msgs array length \(2\)/
        )
        yield* failsWith(
          sql`SELECT * FROM pgmq.send_batch_topic(${"events.x"}::text, ARRAY['{}']::jsonb[], -1)`,
          "P0001"
        )
        assert.lengthOf(yield* sql`SELECT 1 FROM pgmq.q_tt_batch_a`, 7)
      })
  )

  it.effect("bindings follow the queue: drop_queue removes them, and send_topic no longer reaches it", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("tt_dropped")
      yield* sql`SELECT pgmq.bind_topic(${"dropped.#"}::text, ${"tt_dropped"}::text)`
      assert.deepStrictEqual(yield* routes("dropped.x"), ["tt_dropped"])
      yield* sql`SELECT pgmq.drop_queue(${"tt_dropped"}::text)`
      assert.deepStrictEqual(yield* routes("dropped.x"), [])
      assert.strictEqual(
        (yield* sql<{ readonly send_topic: number }>`SELECT pgmq.send_topic(${"dropped.x"}::text, '{}'::jsonb)`)[0]!
          .send_topic,
        0
      )
    })
  )
})

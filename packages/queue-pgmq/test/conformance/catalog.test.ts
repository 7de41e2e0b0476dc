// Conformance (pgmq.md §2, §4, §8.1, §8.2, §8.8): what the catalog of schema pgmq holds — the
// composite types and their field order, the shared tables, the per-queue tables, indexes and
// sequence, and the public functions with exactly pgmq's overloads, argument names and defaults.
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Install from "../../src/internal/install/index.ts"
import { QueueDatabase } from "../helpers.ts"
import { messageRecordColumns } from "./sql.ts"

/** Every public function (no leading `_`) as `name(arguments with defaults) -> result`, pgmq 1.11.1 + read_grouped_head_with_poll (1.12.0). */
const functions = [
  "acquire_queue_lock(queue_name text) -> void",
  "archive(queue_name text, msg_id bigint) -> boolean",
  "archive(queue_name text, msg_ids bigint[]) -> SETOF bigint",
  "bind_topic(pattern text, queue_name text) -> void",
  "convert_archive_partitioned(table_name text, partition_interval text DEFAULT '10000'::text, retention_interval text DEFAULT '100000'::text, leading_partition integer DEFAULT 10) -> void",
  "create(queue_name text) -> void",
  "create_fifo_index(queue_name text) -> void",
  "create_fifo_indexes_all() -> void",
  "create_non_partitioned(queue_name text) -> void",
  "create_partitioned(queue_name text, partition_interval text DEFAULT '10000'::text, retention_interval text DEFAULT '100000'::text) -> void",
  "create_unlogged(queue_name text) -> void",
  "delete(queue_name text, msg_id bigint) -> boolean",
  "delete(queue_name text, msg_ids bigint[]) -> SETOF bigint",
  "detach_archive(queue_name text) -> void",
  "disable_notify_insert(queue_name text) -> void",
  "drop_queue(queue_name text) -> boolean",
  "drop_queue(queue_name text, partitioned boolean) -> boolean",
  "enable_notify_insert(queue_name text, throttle_interval_ms integer DEFAULT 250) -> void",
  "format_table_name(queue_name text, prefix text) -> text",
  "list_notify_insert_throttles() -> TABLE(queue_name character varying, throttle_interval_ms integer, last_notified_at timestamp with time zone)",
  "list_queues() -> SETOF pgmq.queue_record",
  "list_topic_bindings() -> TABLE(pattern text, queue_name text, bound_at timestamp with time zone, compiled_regex text)",
  "list_topic_bindings(queue_name text) -> TABLE(pattern text, queue_name text, bound_at timestamp with time zone, compiled_regex text)",
  "metrics(queue_name text) -> pgmq.metrics_result",
  "metrics_all() -> SETOF pgmq.metrics_result",
  "pop(queue_name text, qty integer DEFAULT 1) -> SETOF pgmq.message_record",
  "purge_queue(queue_name text) -> bigint",
  "read(queue_name text, vt integer, qty integer, conditional jsonb DEFAULT '{}'::jsonb) -> SETOF pgmq.message_record",
  "read_grouped(queue_name text, vt integer, qty integer) -> SETOF pgmq.message_record",
  "read_grouped_head(queue_name text, vt integer, qty integer) -> SETOF pgmq.message_record",
  "read_grouped_head_with_poll(queue_name text, vt integer, qty integer, max_poll_seconds integer DEFAULT 5, poll_interval_ms integer DEFAULT 100) -> SETOF pgmq.message_record",
  "read_grouped_rr(queue_name text, vt integer, qty integer) -> SETOF pgmq.message_record",
  "read_grouped_rr_with_poll(queue_name text, vt integer, qty integer, max_poll_seconds integer DEFAULT 5, poll_interval_ms integer DEFAULT 100) -> SETOF pgmq.message_record",
  "read_grouped_with_poll(queue_name text, vt integer, qty integer, max_poll_seconds integer DEFAULT 5, poll_interval_ms integer DEFAULT 100) -> SETOF pgmq.message_record",
  "read_with_poll(queue_name text, vt integer, qty integer, max_poll_seconds integer DEFAULT 5, poll_interval_ms integer DEFAULT 100, conditional jsonb DEFAULT '{}'::jsonb) -> SETOF pgmq.message_record",
  "send(queue_name text, msg jsonb) -> SETOF bigint",
  "send(queue_name text, msg jsonb, delay integer) -> SETOF bigint",
  "send(queue_name text, msg jsonb, delay timestamp with time zone) -> SETOF bigint",
  "send(queue_name text, msg jsonb, headers jsonb) -> SETOF bigint",
  "send(queue_name text, msg jsonb, headers jsonb, delay integer) -> SETOF bigint",
  "send(queue_name text, msg jsonb, headers jsonb, delay timestamp with time zone) -> SETOF bigint",
  "send_batch(queue_name text, msgs jsonb[]) -> SETOF bigint",
  "send_batch(queue_name text, msgs jsonb[], delay integer) -> SETOF bigint",
  "send_batch(queue_name text, msgs jsonb[], delay timestamp with time zone) -> SETOF bigint",
  "send_batch(queue_name text, msgs jsonb[], headers jsonb[]) -> SETOF bigint",
  "send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay integer) -> SETOF bigint",
  "send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay timestamp with time zone) -> SETOF bigint",
  "send_batch_topic(routing_key text, msgs jsonb[]) -> TABLE(queue_name text, msg_id bigint)",
  "send_batch_topic(routing_key text, msgs jsonb[], delay integer) -> TABLE(queue_name text, msg_id bigint)",
  "send_batch_topic(routing_key text, msgs jsonb[], delay timestamp with time zone) -> TABLE(queue_name text, msg_id bigint)",
  "send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[]) -> TABLE(queue_name text, msg_id bigint)",
  "send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[], delay integer) -> TABLE(queue_name text, msg_id bigint)",
  "send_batch_topic(routing_key text, msgs jsonb[], headers jsonb[], delay timestamp with time zone) -> TABLE(queue_name text, msg_id bigint)",
  "send_topic(routing_key text, msg jsonb) -> integer",
  "send_topic(routing_key text, msg jsonb, delay integer) -> integer",
  "send_topic(routing_key text, msg jsonb, headers jsonb, delay integer) -> integer",
  "set_vt(queue_name text, msg_id bigint, vt integer) -> SETOF pgmq.message_record",
  "set_vt(queue_name text, msg_id bigint, vt timestamp with time zone) -> SETOF pgmq.message_record",
  "set_vt(queue_name text, msg_ids bigint[], vt integer) -> SETOF pgmq.message_record",
  "set_vt(queue_name text, msg_ids bigint[], vt timestamp with time zone) -> SETOF pgmq.message_record",
  "test_routing(routing_key text) -> TABLE(pattern text, queue_name text, compiled_regex text)",
  "unbind_topic(pattern text, queue_name text) -> boolean",
  "update_notify_insert(queue_name text, throttle_interval_ms integer) -> void",
  "validate_queue_name(queue_name text) -> void",
  "validate_routing_key(routing_key text) -> boolean",
  "validate_topic_pattern(pattern text) -> boolean"
]

interface Column {
  readonly name: string
  readonly type: string
  readonly not_null: boolean
  readonly default_value: string | null
  readonly identity: string
  readonly generated: string
}

layer(QueueDatabase, { excludeTestServices: true })("pgmq conformance: catalog", (it) => {
  const columns = (relation: string) =>
    Effect.flatMap(
      PgClient.PgClient,
      (sql) => sql<Column>`
        SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS not_null,
               pg_get_expr(d.adbin, d.adrelid) AS default_value, attidentity::text AS identity,
               attgenerated::text AS generated
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE attrelid = to_regclass(${relation}) AND attnum > 0 AND NOT attisdropped
        ORDER BY attnum`
    )

  it.effect("the public functions: exactly pgmq's overloads, argument names, defaults and results", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      const rows = yield* sql<{ readonly signature: string }>`
        SELECT p.proname || '(' || pg_get_function_arguments(p.oid) || ') -> ' || pg_get_function_result(p.oid) AS signature
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'pgmq' AND p.proname !~ '^_'`
      assert.deepStrictEqual(rows.map((row) => row.signature).sort(), [...functions].sort())
    })
  )

  it.effect("composite types: message_record, queue_record, metrics_result fields in order", () =>
    Effect.gen(function* () {
      const typed = (type: string) =>
        Effect.map(columns(type), (rows) => rows.map((column) => `${column.name} ${column.type}`))
      assert.deepStrictEqual(yield* typed("pgmq.message_record"), [
        "msg_id bigint",
        "read_ct integer",
        "enqueued_at timestamp with time zone",
        "last_read_at timestamp with time zone",
        "vt timestamp with time zone",
        "message jsonb",
        "headers jsonb"
      ])
      assert.deepStrictEqual(
        (yield* columns("pgmq.message_record")).map((column) => column.name),
        messageRecordColumns
      )
      assert.deepStrictEqual(yield* typed("pgmq.queue_record"), [
        "queue_name character varying",
        "is_partitioned boolean",
        "is_unlogged boolean",
        "created_at timestamp with time zone"
      ])
      // pgmq 1.11: default_partition_length (1.13.0) is not part of the API the install reproduces.
      assert.deepStrictEqual(yield* typed("pgmq.metrics_result"), [
        "queue_name text",
        "queue_length bigint",
        "newest_msg_age_sec integer",
        "oldest_msg_age_sec integer",
        "total_messages bigint",
        "scrape_time timestamp with time zone",
        "queue_visible_length bigint"
      ])
    })
  )

  it.effect("shared tables: meta, notify_insert_throttle (UNLOGGED), topic_bindings (generated regex)", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      const meta = yield* columns("pgmq.meta")
      assert.deepStrictEqual(
        meta.map((column) => [column.name, column.type, column.not_null, column.default_value]),
        [
          ["queue_name", "character varying", true, null],
          ["is_partitioned", "boolean", true, null],
          ["is_unlogged", "boolean", true, null],
          ["created_at", "timestamp with time zone", true, "now()"]
        ]
      )
      const throttle = yield* columns("pgmq.notify_insert_throttle")
      assert.deepStrictEqual(
        throttle.map((column) => [column.name, column.type, column.not_null, column.default_value]),
        [
          ["queue_name", "character varying", true, null],
          ["throttle_interval_ms", "integer", true, "0"],
          ["last_notified_at", "timestamp with time zone", true, "to_timestamp((0)::double precision)"]
        ]
      )
      const bindings = yield* columns("pgmq.topic_bindings")
      assert.deepStrictEqual(
        bindings.map((column) => [column.name, column.type, column.generated]),
        [
          ["pattern", "text", ""],
          ["queue_name", "text", ""],
          ["bound_at", "timestamp with time zone", ""],
          ["compiled_regex", "text", "s"]
        ]
      )
      const persistence = yield* sql<{ readonly relname: string; readonly relpersistence: string }>`
        SELECT relname, relpersistence::text FROM pg_class
        WHERE relnamespace = 'pgmq'::regnamespace AND relname IN ('meta', 'notify_insert_throttle', 'topic_bindings')
        ORDER BY relname`
      assert.deepStrictEqual(
        persistence.map((row) => [row.relname, row.relpersistence]),
        [
          ["meta", "p"],
          ["notify_insert_throttle", "u"],
          ["topic_bindings", "p"]
        ]
      )
      // Foreign keys to meta with ON DELETE CASCADE (drop_queue takes the throttle and bindings along).
      const foreign = yield* sql<{ readonly relname: string; readonly definition: string }>`
        SELECT c.conrelid::regclass::text AS relname, pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c
        WHERE c.connamespace = 'pgmq'::regnamespace AND c.contype = 'f' ORDER BY 1`
      assert.deepStrictEqual(
        foreign.map((row) => [row.relname, row.definition]),
        [
          [
            "pgmq.notify_insert_throttle",
            "FOREIGN KEY (queue_name) REFERENCES pgmq.meta(queue_name) ON DELETE CASCADE"
          ],
          ["pgmq.topic_bindings", "FOREIGN KEY (queue_name) REFERENCES pgmq.meta(queue_name) ON DELETE CASCADE"]
        ]
      )
      const indexes = yield* sql<{ readonly indexdef: string }>`
        SELECT indexdef FROM pg_indexes WHERE schemaname = 'pgmq' AND tablename IN ('notify_insert_throttle', 'topic_bindings')
          AND indexdef NOT LIKE 'CREATE UNIQUE%' ORDER BY tablename`
      assert.deepStrictEqual(
        indexes.map((row) => row.indexdef.replace(/^CREATE INDEX \S+ /, "")),
        [
          "ON pgmq.notify_insert_throttle USING btree (queue_name, last_notified_at) WHERE (throttle_interval_ms > 0)",
          "ON pgmq.topic_bindings USING btree (pattern) INCLUDE (queue_name, compiled_regex)"
        ]
      )
      const unique = yield* sql<{ readonly relname: string; readonly definition: string }>`
        SELECT conrelid::regclass::text AS relname, pg_get_constraintdef(oid) AS definition FROM pg_constraint
        WHERE connamespace = 'pgmq'::regnamespace AND contype = 'u' ORDER BY 1`
      assert.deepStrictEqual(
        unique.map((row) => [row.relname, row.definition]),
        [
          ["pgmq.meta", "UNIQUE (queue_name)"],
          ["pgmq.notify_insert_throttle", "UNIQUE (queue_name)"],
          ["pgmq.topic_bindings", "UNIQUE (pattern, queue_name)"]
        ]
      )
      const monitor = yield* sql<{ readonly usage: boolean; readonly meta: boolean }>`
        SELECT has_schema_privilege('pg_monitor', 'pgmq', 'USAGE') AS usage,
               has_table_privilege('pg_monitor', 'pgmq.meta', 'SELECT') AS meta`
      assert.deepStrictEqual(monitor[0], { usage: true, meta: true })
    })
  )

  it.effect("per-queue objects: q_<n> (identity msg_id), a_<n>, q_<n>_vt_idx, archived_at_idx_<N>, the sequence", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* sql`SELECT pgmq.create(${"Cat_Queue"}::text)`
      const relations = yield* sql<{
        readonly relname: string
        readonly relkind: string
        readonly relpersistence: string
      }>`
        SELECT relname, relkind::text, relpersistence::text FROM pg_class
        WHERE relnamespace = 'pgmq'::regnamespace AND relname ILIKE '%cat_queue%' ORDER BY relname COLLATE "C"`
      assert.deepStrictEqual(
        relations.map((row) => [row.relname, row.relkind, row.relpersistence]),
        [
          ["a_cat_queue", "r", "p"],
          ["a_cat_queue_pkey", "i", "p"],
          ["archived_at_idx_Cat_Queue", "i", "p"],
          ["q_cat_queue", "r", "p"],
          ["q_cat_queue_msg_id_seq", "S", "p"],
          ["q_cat_queue_pkey", "i", "p"],
          ["q_cat_queue_vt_idx", "i", "p"]
        ]
      )
      const indexes = yield* sql<{ readonly indexname: string; readonly indexdef: string }>`
        SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'pgmq' AND indexname IN ('q_cat_queue_vt_idx', 'archived_at_idx_Cat_Queue')
        ORDER BY indexname COLLATE "C"`
      assert.deepStrictEqual(
        indexes.map((row) => row.indexdef),
        [
          `CREATE INDEX "archived_at_idx_Cat_Queue" ON pgmq.a_cat_queue USING btree (archived_at)`,
          "CREATE INDEX q_cat_queue_vt_idx ON pgmq.q_cat_queue USING btree (vt)"
        ]
      )
      const sequence = yield* sql<{
        readonly sequence: string
      }>`SELECT pg_get_serial_sequence('pgmq.q_cat_queue', 'msg_id') AS sequence`
      assert.strictEqual(sequence[0]!.sequence, "pgmq.q_cat_queue_msg_id_seq")
      // Column sets (pgmq.md: never rely on the SELECT * order of these tables), by name.
      const byName = (rows: ReadonlyArray<Column>) =>
        rows
          .map((column) => [column.name, column.type, column.not_null, column.default_value, column.identity])
          .sort((a, b) => String(a[0]).localeCompare(String(b[0])))
      assert.deepStrictEqual(byName(yield* columns("pgmq.q_cat_queue")), [
        ["enqueued_at", "timestamp with time zone", true, "now()", ""],
        ["headers", "jsonb", false, null, ""],
        ["last_read_at", "timestamp with time zone", false, null, ""],
        ["message", "jsonb", false, null, ""],
        ["msg_id", "bigint", true, null, "a"],
        ["read_ct", "integer", true, "0", ""],
        ["vt", "timestamp with time zone", true, null, ""]
      ])
      assert.deepStrictEqual(byName(yield* columns("pgmq.a_cat_queue")), [
        ["archived_at", "timestamp with time zone", true, "now()", ""],
        ["enqueued_at", "timestamp with time zone", true, "now()", ""],
        ["headers", "jsonb", false, null, ""],
        ["last_read_at", "timestamp with time zone", false, null, ""],
        ["message", "jsonb", false, null, ""],
        ["msg_id", "bigint", true, null, ""],
        ["read_ct", "integer", true, "0", ""],
        ["vt", "timestamp with time zone", true, null, ""]
      ])
      const keys = yield* sql<{ readonly relname: string; readonly definition: string }>`
        SELECT conrelid::regclass::text AS relname, pg_get_constraintdef(oid) AS definition FROM pg_constraint
        WHERE contype = 'p' AND conrelid IN ('pgmq.q_cat_queue'::regclass, 'pgmq.a_cat_queue'::regclass) ORDER BY 1`
      assert.deepStrictEqual(
        keys.map((row) => [row.relname, row.definition]),
        [
          ["pgmq.a_cat_queue", "PRIMARY KEY (msg_id)"],
          ["pgmq.q_cat_queue", "PRIMARY KEY (msg_id)"]
        ]
      )
      // Clients (and upstream's tests) read the tables directly.
      const [sent] = yield* sql<{
        readonly send: bigint
      }>`SELECT * FROM pgmq.send(${"Cat_Queue"}::text, ${JSON.stringify({ n: 1 })}::jsonb)`
      const direct = yield* sql<{ readonly msg_id: bigint; readonly read_ct: number; readonly message: unknown }>`
        SELECT msg_id, read_ct, message FROM pgmq.q_cat_queue`
      assert.deepStrictEqual(direct, [{ msg_id: sent!.send, read_ct: 0, message: { n: 1 } }])
      assert.isTrue(
        (yield* sql<{
          readonly archive: boolean
        }>`SELECT pgmq.archive(${"cat_queue"}::text, ${sent!.send}::bigint)`)[0]!.archive
      )
      const archived = yield* sql<{ readonly msg_id: bigint }>`SELECT msg_id FROM pgmq.a_cat_queue`
      assert.deepStrictEqual(archived, [{ msg_id: sent!.send }])
      // pg_monitor reads queues created later too (default privileges).
      const monitor = yield* sql<{ readonly q: boolean; readonly a: boolean; readonly seq: boolean }>`
        SELECT has_table_privilege('pg_monitor', 'pgmq.q_cat_queue', 'SELECT') AS q,
               has_table_privilege('pg_monitor', 'pgmq.a_cat_queue', 'SELECT') AS a,
               has_sequence_privilege('pg_monitor', 'pgmq.q_cat_queue_msg_id_seq', 'SELECT') AS seq`
      assert.deepStrictEqual(monitor[0], { q: true, a: true, seq: true })
    })
  )

  it.effect("create_unlogged: only q_<n> is UNLOGGED; meta says (false, true)", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* sql`SELECT pgmq.create_unlogged(${"cat_unlogged"}::text)`
      yield* sql`SELECT pgmq.create_non_partitioned(${"cat_logged"}::text)`
      const persistence = yield* sql<{ readonly relname: string; readonly relpersistence: string }>`
        SELECT relname, relpersistence::text FROM pg_class
        WHERE relnamespace = 'pgmq'::regnamespace AND relname IN ('q_cat_unlogged', 'a_cat_unlogged', 'q_cat_logged', 'a_cat_logged')
        ORDER BY relname`
      assert.deepStrictEqual(
        persistence.map((row) => [row.relname, row.relpersistence]),
        [
          ["a_cat_logged", "p"],
          ["a_cat_unlogged", "p"],
          ["q_cat_logged", "p"],
          ["q_cat_unlogged", "u"]
        ]
      )
      const meta = yield* sql<{
        readonly queue_name: string
        readonly is_partitioned: boolean
        readonly is_unlogged: boolean
      }>`
        SELECT queue_name, is_partitioned, is_unlogged FROM pgmq.meta WHERE queue_name LIKE 'cat\_%logged' ORDER BY queue_name`
      assert.deepStrictEqual(meta, [
        { queue_name: "cat_logged", is_partitioned: false, is_unlogged: false },
        { queue_name: "cat_unlogged", is_partitioned: false, is_unlogged: true }
      ])
      const [sent] = yield* sql<{
        readonly send: bigint
      }>`SELECT * FROM pgmq.send(${"cat_unlogged"}::text, '{}'::jsonb)`
      const read = yield* sql<{ readonly msg_id: bigint }>`SELECT * FROM pgmq.read(${"cat_unlogged"}::text, 30, 1)`
      assert.deepStrictEqual(
        read.map((row) => row.msg_id),
        [sent!.send]
      )
    })
  )

  it.effect(
    "create_fifo_index: q_<n>_fifo_idx, a GIN index on headers; create_fifo_indexes_all covers every queue",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* sql`SELECT pgmq.create(${"cat_fifo"}::text)`
        yield* sql`SELECT pgmq.create(${"cat_fifo_all"}::text)`
        yield* sql`SELECT pgmq.create_fifo_index(${"Cat_Fifo"}::text)`
        yield* sql`SELECT pgmq.create_fifo_index(${"cat_fifo"}::text)`
        const one = yield* sql<{ readonly indexdef: string }>`
        SELECT indexdef FROM pg_indexes WHERE schemaname = 'pgmq' AND indexname = 'q_cat_fifo_fifo_idx'`
        assert.deepStrictEqual(
          one.map((row) => row.indexdef),
          ["CREATE INDEX q_cat_fifo_fifo_idx ON pgmq.q_cat_fifo USING gin (headers)"]
        )
        yield* sql`SELECT pgmq.create_fifo_indexes_all()`
        const all = yield* sql<{ readonly missing: number }>`
        SELECT count(*)::int AS missing FROM pgmq.meta m
        WHERE to_regclass(format('pgmq.%I', pgmq.format_table_name(m.queue_name, 'q') || '_fifo_idx')) IS NULL`
        assert.strictEqual(all[0]!.missing, 0)
      })
  )

  it.effect("the install can be run again: types, queues, messages, triggers and bindings are kept", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* sql`SELECT pgmq.create(${"cat_rerun"}::text)`
      yield* sql`SELECT * FROM pgmq.send(${"cat_rerun"}::text, '{"kept":true}'::jsonb)`
      yield* sql`SELECT pgmq.enable_notify_insert(${"cat_rerun"}::text, 0)`
      yield* sql`SELECT pgmq.bind_topic(${"cat.rerun"}::text, ${"cat_rerun"}::text)`
      const state = sql<Record<string, unknown>>`
        SELECT to_regtype('pgmq.message_record')::oid::int AS message_record,
               (SELECT count(*)::int FROM pgmq.q_cat_rerun) AS messages,
               (SELECT count(*)::int FROM pgmq.meta) AS queues,
               (SELECT count(*)::int FROM pgmq.notify_insert_throttle) AS throttles,
               (SELECT count(*)::int FROM pgmq.topic_bindings) AS bindings,
               (SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'pgmq.q_cat_rerun'::regclass AND NOT tgisinternal) AS triggers,
               (SELECT count(*)::int FROM pg_proc WHERE pronamespace = 'pgmq'::regnamespace) AS functions`
      const before = yield* state
      yield* sql.withTransaction(
        Effect.forEach(Install.statements, (statement) => sql.unsafe(statement).unprepared, { discard: true })
      )
      assert.deepStrictEqual(yield* state, before)
      assert.deepStrictEqual(before[0]!["messages"], 1)
      const [sent] = yield* sql<{ readonly send: bigint }>`SELECT * FROM pgmq.send(${"cat_rerun"}::text, '{}'::jsonb)`
      assert.strictEqual(sent!.send, 2n)
    })
  )
})

// Conformance (pgmq.md §2 naming/validation, §3 missing queue, §4 queue management, §8.3, §8.6,
// §8.7): create/drop/purge/list/metrics, name rules and case folding, and the error classes.
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { TestDatabase } from "@nexus/testing"
import { Effect } from "effect"
import { QueueDatabase } from "../helpers.ts"
import { createQueues, failsWith, psql, sqlState } from "./sql.ts"

interface Metrics {
  readonly queue_name: string
  readonly queue_length: bigint
  readonly newest_msg_age_sec: number | null
  readonly oldest_msg_age_sec: number | null
  readonly total_messages: bigint
  readonly scrape_time: Date
  readonly queue_visible_length: bigint
}

const metricsColumns = [
  "queue_name",
  "queue_length",
  "newest_msg_age_sec",
  "oldest_msg_age_sec",
  "total_messages",
  "scrape_time",
  "queue_visible_length"
]

layer(QueueDatabase, { excludeTestServices: true })("pgmq conformance: queues", (it) => {
  it.effect("create is idempotent: same tables, one meta row, messages kept", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* sql`SELECT pgmq.create(${"qm_idem"}::text)`
      yield* sql`SELECT * FROM pgmq.send(${"qm_idem"}::text, '{}'::jsonb)`
      yield* sql`SELECT pgmq.create(${"qm_idem"}::text)`
      yield* sql`SELECT pgmq.create_non_partitioned(${"qm_idem"}::text)`
      const meta = yield* sql<{
        readonly n: number
      }>`SELECT count(*)::int AS n FROM pgmq.meta WHERE queue_name = 'qm_idem'`
      assert.strictEqual(meta[0]!.n, 1)
      const rows = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM pgmq.q_qm_idem`
      assert.strictEqual(rows[0]!.n, 1)
    })
  )

  it.effect(
    "names: table names lower-cased, meta keeps the name as given; hyphens, dots, spaces, unicode accepted",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        const name = "Qm-Mixed.v1 é"
        yield* sql`SELECT pgmq.create(${name}::text)`
        const tables = yield* sql<{ readonly relname: string }>`
        SELECT relname FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace AND relkind = 'r' AND relname LIKE '%qm-mixed%' ORDER BY relname`
        assert.deepStrictEqual(
          tables.map((row) => row.relname),
          ["a_qm-mixed.v1 é", "q_qm-mixed.v1 é"]
        )
        const format = yield* sql<{ readonly q: string; readonly a: string }>`
        SELECT pgmq.format_table_name(${name}, 'q') AS q, pgmq.format_table_name(${name}, 'a') AS a`
        assert.deepStrictEqual(format[0], { q: "q_qm-mixed.v1 é", a: "a_qm-mixed.v1 é" })
        const meta = yield* sql<{
          readonly queue_name: string
        }>`SELECT queue_name FROM pgmq.meta WHERE queue_name ILIKE 'qm-mixed%'`
        assert.deepStrictEqual(meta, [{ queue_name: name }])
        // Every other call folds the name onto the same tables.
        const [sent] = yield* sql<{
          readonly send: bigint
        }>`SELECT * FROM pgmq.send(${"QM-MIXED.V1 é"}::text, '{"x":1}'::jsonb)`
        const read = yield* sql<{ readonly msg_id: bigint }>`SELECT * FROM pgmq.read(${"qm-mixed.v1 é"}::text, 30, 5)`
        assert.deepStrictEqual(
          read.map((row) => row.msg_id),
          [sent!.send]
        )
        const metrics = yield* sql<Metrics>`SELECT * FROM pgmq.metrics(${"qM-mIXED.v1 é"}::text)`
        assert.strictEqual(metrics[0]!.queue_name, "qM-mIXED.v1 é")
        assert.strictEqual(metrics[0]!.queue_length, 1n)
        assert.isTrue(
          (yield* sql<{ readonly drop_queue: boolean }>`SELECT pgmq.drop_queue(${name}::text)`)[0]!.drop_queue
        )
      })
  )

  it.effect(
    "case folding: create('MyQ') and create('myq') share tables, two meta rows; drop_queue('MyQ') leaves 'myq' dangling and metrics_all fails with 42P01",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* sql`SELECT pgmq.create(${"QmFold"}::text)`
        yield* sql`SELECT pgmq.create(${"qmfold"}::text)`
        const meta = yield* sql<{ readonly queue_name: string }>`
        SELECT queue_name FROM pgmq.list_queues() WHERE lower(queue_name) = 'qmfold' ORDER BY queue_name COLLATE "C"`
        assert.deepStrictEqual(
          meta.map((row) => row.queue_name),
          ["QmFold", "qmfold"]
        )
        const relations = yield* sql<{ readonly relname: string }>`
        SELECT relname FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace AND lower(relname) LIKE '%qmfold%'
        ORDER BY relname COLLATE "C"`
        assert.deepStrictEqual(
          relations.map((row) => row.relname),
          [
            "a_qmfold",
            "a_qmfold_pkey",
            "archived_at_idx_QmFold",
            "archived_at_idx_qmfold",
            "q_qmfold",
            "q_qmfold_msg_id_seq",
            "q_qmfold_pkey",
            "q_qmfold_vt_idx"
          ]
        )
        yield* sql`SELECT * FROM pgmq.send(${"QMFOLD"}::text, '{}'::jsonb)`
        const both = yield* sql<Metrics>`
        SELECT * FROM pgmq.metrics_all() WHERE lower(queue_name) = 'qmfold' ORDER BY queue_name COLLATE "C"`
        assert.deepStrictEqual(
          both.map((row) => [row.queue_name, row.queue_length]),
          [
            ["QmFold", 1n],
            ["qmfold", 1n]
          ]
        )
        assert.isTrue(
          (yield* sql<{ readonly drop_queue: boolean }>`SELECT pgmq.drop_queue(${"QmFold"}::text)`)[0]!.drop_queue
        )
        const left = yield* sql<{
          readonly queue_name: string
        }>`SELECT queue_name FROM pgmq.meta WHERE lower(queue_name) = 'qmfold'`
        assert.deepStrictEqual(left, [{ queue_name: "qmfold" }])
        assert.isNull((yield* sql<{ readonly t: string | null }>`SELECT to_regclass('pgmq.q_qmfold')::text AS t`)[0]!.t)
        yield* failsWith(sql`SELECT * FROM pgmq.metrics_all()`, "42P01", /relation "pgmq\.q_qmfold" does not exist/)
        // Clean up the dangling row the documented way: the tables back, then a real drop.
        yield* sql`SELECT pgmq.create(${"qmfold"}::text)`
        assert.isTrue(
          (yield* sql<{ readonly drop_queue: boolean }>`SELECT pgmq.drop_queue(${"qmfold"}::text)`)[0]!.drop_queue
        )
        assert.isAbove((yield* sql`SELECT * FROM pgmq.metrics_all()`).length, 0)
      })
  )

  it.effect("forbidden characters ($ ; -- ') raise P0001 in every function; a single hyphen is fine", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      const invalid = /queue name contains invalid characters: \$, ;, --, or \\'/
      for (const name of ["qm$x", "qm;x", "qm--x", "qm'x"]) {
        yield* failsWith(sql`SELECT pgmq.create(${name}::text)`, "P0001", invalid)
        yield* failsWith(sql`SELECT pgmq.format_table_name(${name}::text, 'q')`, "P0001", invalid)
        yield* failsWith(sql`SELECT * FROM pgmq.send(${name}::text, '{}'::jsonb)`, "P0001", invalid)
        yield* failsWith(sql`SELECT * FROM pgmq.read(${name}::text, 30, 1)`, "P0001", invalid)
        yield* failsWith(sql`SELECT * FROM pgmq.metrics(${name}::text)`, "P0001", invalid)
        yield* failsWith(sql`SELECT pgmq.drop_queue(${name}::text)`, "P0001", invalid)
        yield* failsWith(sql`SELECT pgmq.purge_queue(${name}::text)`, "P0001", invalid)
      }
      const none = yield* sql<{
        readonly n: number
      }>`SELECT count(*)::int AS n FROM pgmq.meta WHERE queue_name LIKE 'qm%x'`
      assert.strictEqual(none[0]!.n, 0)
      yield* sql`SELECT pgmq.create(${"qm-x"}::text)`
      assert.strictEqual(
        (yield* sql<{ readonly t: string }>`SELECT to_regclass('pgmq."q_qm-x"')::text AS t`)[0]!.t,
        `pgmq."q_qm-x"`
      )
    })
  )

  it.effect("length: 47 characters accepted, 48 rejected (P0001) by the create functions only", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      const ok = "q".repeat(47)
      const long = "q".repeat(48)
      const tooLong = /queue name is too long, maximum length is 47 characters/
      yield* sql`SELECT pgmq.create(${ok}::text)`
      yield* failsWith(sql`SELECT pgmq.create(${long}::text)`, "P0001", tooLong)
      yield* failsWith(sql`SELECT pgmq.create_non_partitioned(${long}::text)`, "P0001", tooLong)
      yield* failsWith(sql`SELECT pgmq.create_unlogged(${long}::text)`, "P0001", tooLong)
      yield* failsWith(sql`SELECT pgmq.create_partitioned(${long}::text)`, "P0001")
      yield* failsWith(sql`SELECT pgmq.validate_queue_name(${long}::text)`, "P0001", tooLong)
      yield* sql`SELECT pgmq.validate_queue_name(${ok}::text)`
      // 47 is counted in characters, as PostgreSQL's length() counts them.
      yield* sql`SELECT pgmq.validate_queue_name(${"é".repeat(47)}::text)`
      // Other functions do not check the length: a 48-character queue is simply missing.
      yield* failsWith(sql`SELECT * FROM pgmq.send(${long}::text, '{}'::jsonb)`, "42P01")
      const [sent] = yield* sql<{ readonly send: bigint }>`SELECT * FROM pgmq.send(${ok}::text, '{}'::jsonb)`
      assert.strictEqual(sent!.send, 1n)
      assert.isTrue((yield* sql<{ readonly drop_queue: boolean }>`SELECT pgmq.drop_queue(${ok}::text)`)[0]!.drop_queue)
    })
  )

  it.effect("create_partitioned without pg_partman: P0001 'pg_partman is required for partitioned queues'", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      const partman = yield* sql`SELECT 1 FROM pg_extension WHERE extname = 'pg_partman'`
      assert.lengthOf(partman, 0)
      yield* failsWith(
        sql`SELECT pgmq.create_partitioned(${"qm_part"}::text, '10000', '100000')`,
        "P0001",
        /pg_partman is required for partitioned queues/
      )
      assert.lengthOf(yield* sql`SELECT 1 FROM pgmq.meta WHERE queue_name = 'qm_part'`, 0)
    })
  )

  it.effect("drop_queue: true, then false for the missing queue; tables, meta row, throttle and bindings gone", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("qm_drop")
      yield* sql`SELECT pgmq.enable_notify_insert(${"qm_drop"}::text, 0)`
      yield* sql`SELECT pgmq.bind_topic(${"qm.drop.*"}::text, ${"qm_drop"}::text)`
      assert.isTrue(
        (yield* sql<{ readonly drop_queue: boolean }>`SELECT pgmq.drop_queue(${"qm_drop"}::text)`)[0]!.drop_queue
      )
      const gone = yield* sql<{
        readonly q: string | null
        readonly a: string | null
        readonly meta: number
        readonly throttle: number
        readonly bindings: number
      }>`
        SELECT to_regclass('pgmq.q_qm_drop')::text AS q, to_regclass('pgmq.a_qm_drop')::text AS a,
               (SELECT count(*)::int FROM pgmq.meta WHERE queue_name = 'qm_drop') AS meta,
               (SELECT count(*)::int FROM pgmq.notify_insert_throttle WHERE queue_name = 'qm_drop') AS throttle,
               (SELECT count(*)::int FROM pgmq.topic_bindings WHERE queue_name = 'qm_drop') AS bindings`
      assert.deepStrictEqual(gone[0], { q: null, a: null, meta: 0, throttle: 0, bindings: 0 })
      assert.isFalse(
        (yield* sql<{ readonly drop_queue: boolean }>`SELECT pgmq.drop_queue(${"qm_drop"}::text)`)[0]!.drop_queue
      )
      assert.isFalse(
        (yield* sql<{ readonly drop_queue: boolean }>`SELECT pgmq.drop_queue(${"qm_never"}::text)`)[0]!.drop_queue
      )
      // The deprecated two-argument form always answers true.
      assert.isTrue(
        (yield* sql<{ readonly drop_queue: boolean }>`SELECT pgmq.drop_queue(${"qm_never"}::text, false)`)[0]!
          .drop_queue
      )
      yield* createQueues("qm_drop2")
      assert.isTrue(
        (yield* sql<{ readonly drop_queue: boolean }>`SELECT pgmq.drop_queue(${"qm_drop2"}::text, false)`)[0]!
          .drop_queue
      )
      assert.isNull((yield* sql<{ readonly t: string | null }>`SELECT to_regclass('pgmq.q_qm_drop2')::text AS t`)[0]!.t)
    })
  )

  it.effect("NOTICEs (read with psql): drop_queue on a missing queue, create on an existing one", () =>
    Effect.gen(function* () {
      const { url } = yield* TestDatabase.TestDatabase
      const result = yield* psql(url, "SELECT pgmq.drop_queue('qm_notice')")
      assert.strictEqual(result.stdout.trim(), "f")
      assert.include(result.stderr, "NOTICE:  pgmq queue `qm_notice` does not exist")
      const deprecated = yield* psql(url, "SELECT pgmq.drop_queue('qm_notice', false)")
      assert.strictEqual(deprecated.stdout.trim(), "t")
      assert.include(deprecated.stderr, "WARNING:")
      // A repeated create says what it skipped.
      yield* psql(url, "SELECT pgmq.create('qm_notice')")
      const again = yield* psql(url, "SELECT pgmq.create('qm_notice')")
      assert.include(again.stderr, `NOTICE:  relation "q_qm_notice" already exists, skipping`)
    })
  )

  it.effect(
    "purge_queue: counts every row of q_ (visible or not), archive untouched, total_messages and ids unchanged",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("qm_purge")
        yield* sql.unsafe(`SELECT * FROM pgmq.send_batch('qm_purge', ARRAY['{"n":1}', '{"n":2}', '{"n":3}']::jsonb[])`)
        yield* sql.unsafe(`SELECT * FROM pgmq.send('qm_purge', '{"n":4}'::jsonb, 3600)`)
        yield* sql.unsafe(`SELECT * FROM pgmq.read('qm_purge', 60, 1)`)
        assert.isTrue(
          (yield* sql.unsafe<{ readonly archive: boolean }>(`SELECT pgmq.archive('qm_purge', 3::bigint)`))[0]!.archive
        )
        const purged = yield* sql<{ readonly purge_queue: bigint }>`SELECT pgmq.purge_queue(${"qm_purge"}::text)`
        assert.strictEqual(purged[0]!.purge_queue, 3n)
        const [metrics] = yield* sql<Metrics>`SELECT * FROM pgmq.metrics(${"qm_purge"}::text)`
        assert.strictEqual(metrics!.queue_length, 0n)
        assert.strictEqual(metrics!.total_messages, 4n)
        const archived = yield* sql<{ readonly msg_id: bigint }>`SELECT msg_id FROM pgmq.a_qm_purge`
        assert.deepStrictEqual(archived, [{ msg_id: 3n }])
        const [next] = yield* sql<{ readonly send: bigint }>`SELECT * FROM pgmq.send(${"qm_purge"}::text, '{}'::jsonb)`
        assert.strictEqual(next!.send, 5n)
        assert.strictEqual(
          (yield* sql<{ readonly purge_queue: bigint }>`SELECT pgmq.purge_queue(${"QM_PURGE"}::text)`)[0]!.purge_queue,
          1n
        )
        assert.strictEqual(
          (yield* sql<{ readonly purge_queue: bigint }>`SELECT pgmq.purge_queue(${"qm_purge"}::text)`)[0]!.purge_queue,
          0n
        )
      })
  )

  it.effect("list_queues: queue_record columns in order, one row per meta row", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* sql`SELECT pgmq.create(${"qm_list_b"}::text)`
      yield* sql`SELECT pgmq.create_unlogged(${"qm_list_a"}::text)`
      const rows = yield* sql<{
        readonly queue_name: string
        readonly is_partitioned: boolean
        readonly is_unlogged: boolean
        readonly created_at: Date
      }>`
        SELECT * FROM pgmq.list_queues()`
      assert.deepStrictEqual(Object.keys(rows[0]!), ["queue_name", "is_partitioned", "is_unlogged", "created_at"])
      const ours = rows
        .filter((row) => row.queue_name.startsWith("qm_list_"))
        .sort((a, b) => a.queue_name.localeCompare(b.queue_name))
      assert.deepStrictEqual(
        ours.map((row) => [row.queue_name, row.is_partitioned, row.is_unlogged, row.created_at instanceof Date]),
        [
          ["qm_list_a", false, true, true],
          ["qm_list_b", false, false, true]
        ]
      )
      const meta = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM pgmq.meta`
      assert.strictEqual(rows.length, meta[0]!.n)
    })
  )

  it.effect(
    "metrics: metrics_result columns in order; ages, visibility and scrape_time by transaction time; total from the sequence",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("qm_metrics")
        const empty = yield* sql<Metrics>`SELECT * FROM pgmq.metrics(${"qm_metrics"}::text)`
        assert.deepStrictEqual(Object.keys(empty[0]!), metricsColumns)
        assert.deepStrictEqual(
          { ...empty[0]!, scrape_time: null },
          {
            queue_name: "qm_metrics",
            queue_length: 0n,
            newest_msg_age_sec: null,
            oldest_msg_age_sec: null,
            total_messages: 0n,
            scrape_time: null,
            queue_visible_length: 0n
          }
        )
        yield* sql.withTransaction(
          Effect.gen(function* () {
            yield* sql.unsafe(`SELECT * FROM pgmq.send_batch('qm_metrics', ARRAY['{"n":1}', '{"n":2}']::jsonb[])`)
            yield* sql.unsafe(`SELECT * FROM pgmq.send('qm_metrics', '{"n":3}'::jsonb, 3600)`)
            yield* sql.unsafe(
              `UPDATE pgmq.q_qm_metrics SET enqueued_at = now() - interval '100 seconds' WHERE msg_id = 1`
            )
            yield* sql.unsafe(
              `UPDATE pgmq.q_qm_metrics SET enqueued_at = now() - interval '40 seconds' WHERE msg_id = 2`
            )
            const [inside] = yield* sql<Metrics & { readonly same_time: boolean }>`
            SELECT m.*, m.scrape_time = now() AS same_time FROM pgmq.metrics(${"qm_metrics"}::text) m`
            // vt = clock_timestamp() at send is later than now() (the transaction's start): not yet visible by now().
            assert.deepStrictEqual(
              { ...inside!, scrape_time: null },
              {
                queue_name: "qm_metrics",
                queue_length: 3n,
                newest_msg_age_sec: 0,
                oldest_msg_age_sec: 100,
                total_messages: 3n,
                scrape_time: null,
                queue_visible_length: 0n,
                same_time: true
              }
            )
          })
        )
        const [after] = yield* sql<Metrics>`SELECT * FROM pgmq.metrics(${"qm_metrics"}::text)`
        assert.strictEqual(after!.queue_length, 3n)
        assert.strictEqual(after!.queue_visible_length, 2n)
        assert.strictEqual(after!.total_messages, 3n)
        const all = yield* sql<Metrics>`SELECT * FROM pgmq.metrics_all() WHERE queue_name = 'qm_metrics'`
        assert.deepStrictEqual(Object.keys(all[0]!), metricsColumns)
        assert.strictEqual(all[0]!.queue_length, 3n)
      })
  )

  it.effect('a missing queue: 42P01 relation "pgmq.q_<n>" does not exist from every per-queue function', () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      const missing = /relation "pgmq\.q_qm_missing" does not exist/
      const statements = [
        `SELECT * FROM pgmq.send('QM_Missing', '{}'::jsonb)`,
        `SELECT * FROM pgmq.send('QM_Missing', '{}'::jsonb, '{}'::jsonb)`,
        `SELECT * FROM pgmq.send('QM_Missing', '{}'::jsonb, 1)`,
        `SELECT * FROM pgmq.send('QM_Missing', '{}'::jsonb, now())`,
        `SELECT * FROM pgmq.send('QM_Missing', '{}'::jsonb, '{}'::jsonb, 1)`,
        `SELECT * FROM pgmq.send('QM_Missing', '{}'::jsonb, '{}'::jsonb, now())`,
        `SELECT * FROM pgmq.send_batch('QM_Missing', ARRAY['{}']::jsonb[])`,
        `SELECT * FROM pgmq.send_batch('QM_Missing', ARRAY['{}']::jsonb[], ARRAY['{}']::jsonb[], 1)`,
        `SELECT * FROM pgmq.read('QM_Missing', 30, 1)`,
        `SELECT * FROM pgmq.read_with_poll('QM_Missing', 30, 1, 1, 100)`,
        `SELECT * FROM pgmq.pop('QM_Missing')`,
        `SELECT pgmq.archive('QM_Missing', 1::bigint)`,
        `SELECT * FROM pgmq.archive('QM_Missing', ARRAY[1]::bigint[])`,
        `SELECT pgmq.delete('QM_Missing', 1::bigint)`,
        `SELECT * FROM pgmq.delete('QM_Missing', ARRAY[1]::bigint[])`,
        `SELECT * FROM pgmq.set_vt('QM_Missing', 1::bigint, 10)`,
        `SELECT * FROM pgmq.set_vt('QM_Missing', 1::bigint, now())`,
        `SELECT * FROM pgmq.set_vt('QM_Missing', ARRAY[1]::bigint[], 10)`,
        `SELECT * FROM pgmq.set_vt('QM_Missing', ARRAY[1]::bigint[], now())`,
        `SELECT * FROM pgmq.metrics('QM_Missing')`,
        `SELECT pgmq.purge_queue('QM_Missing')`,
        `SELECT pgmq.create_fifo_index('QM_Missing')`,
        `SELECT * FROM pgmq.read_grouped('QM_Missing', 30, 1)`,
        `SELECT * FROM pgmq.read_grouped_with_poll('QM_Missing', 30, 1, 1, 100)`,
        `SELECT * FROM pgmq.read_grouped_rr('QM_Missing', 30, 1)`,
        `SELECT * FROM pgmq.read_grouped_rr_with_poll('QM_Missing', 30, 1, 1, 100)`,
        `SELECT * FROM pgmq.read_grouped_head('QM_Missing', 30, 1)`,
        `SELECT * FROM pgmq.read_grouped_head_with_poll('QM_Missing', 30, 1, 1, 100)`
      ]
      for (const statement of statements) {
        const state = sqlState(yield* Effect.flip(sql.unsafe(statement)))
        assert.strictEqual(state.code, "42P01", statement)
        assert.match(state.message ?? "", missing, statement)
      }
    })
  )

  it.effect("detach_archive is a no-op; convert_archive_partitioned on a missing queue is a no-op", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("qm_detach")
      yield* sql`SELECT pgmq.detach_archive(${"qm_detach"}::text)`
      assert.strictEqual(
        (yield* sql<{ readonly t: string }>`SELECT to_regclass('pgmq.a_qm_detach')::text AS t`)[0]!.t,
        "pgmq.a_qm_detach"
      )
      yield* sql`SELECT pgmq.convert_archive_partitioned(${"qm_nothing_here"}::text)`
      assert.isNull(
        (yield* sql<{ readonly t: string | null }>`SELECT to_regclass('pgmq.a_qm_nothing_here_old')::text AS t`)[0]!.t
      )
    })
  )
})

// Conformance (pgmq.md §6): insert notifications — enable/disable/update/list, the constraint
// trigger, a real LISTEN on "pgmq.q_<name>.INSERT" (delivered at commit, none on rollback, merged
// within a transaction), throttling, and the errors.
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Option, Queue } from "effect"
import { QueueDatabase } from "../helpers.ts"
import { createQueues, failsWith } from "./sql.ts"

interface Throttle {
  readonly queue_name: string
  readonly throttle_interval_ms: number
  readonly last_notified_at: Date
}

/** Listens on `channel` for the duration of `use`, which gets the next notification's payload or none within `within`. */
const listening = <A, E, R>(
  channel: string,
  use: (
    next: (within: `${number} ${"millis" | "seconds"}`) => Effect.Effect<Option.Option<string>, unknown>
  ) => Effect.Effect<A, E, R>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      const notifications = yield* sql.listen(channel)
      return yield* use((within) =>
        Queue.take(notifications).pipe(
          Effect.map((notification) => notification.payload),
          Effect.timeoutOption(within)
        )
      )
    })
  )

layer(QueueDatabase, { excludeTestServices: true })("pgmq conformance: notify", (it) => {
  it.effect("enable (default 250 ms), list, update, re-enable, disable; the deferrable constraint trigger", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("nn_admin")
      yield* sql`SELECT pgmq.enable_notify_insert(${"nn_admin"}::text)`
      const listed = yield* sql<Throttle>`SELECT * FROM pgmq.list_notify_insert_throttles()`
      assert.deepStrictEqual(Object.keys(listed[0]!), ["queue_name", "throttle_interval_ms", "last_notified_at"])
      const ours = () =>
        Effect.map(
          sql<Throttle>`SELECT * FROM pgmq.list_notify_insert_throttles() WHERE queue_name = 'nn_admin'`,
          (rows) => rows.map((row) => [row.queue_name, row.throttle_interval_ms, row.last_notified_at.getTime()])
        )
      assert.deepStrictEqual(yield* ours(), [["nn_admin", 250, 0]])
      const trigger = yield* sql<{
        readonly tgname: string
        readonly deferrable: boolean
        readonly constraint: boolean
        readonly enabled: string
      }>`
        SELECT tgname, tgdeferrable AS deferrable, tgconstraint <> 0 AS constraint, tgenabled::text AS enabled
        FROM pg_trigger WHERE tgrelid = 'pgmq.q_nn_admin'::regclass AND NOT tgisinternal`
      assert.deepStrictEqual(trigger, [
        { tgname: "trigger_notify_queue_insert_listeners", deferrable: true, constraint: true, enabled: "O" }
      ])
      const definition = yield* sql<{ readonly definition: string }>`
        SELECT pg_get_triggerdef(oid) AS definition FROM pg_trigger WHERE tgrelid = 'pgmq.q_nn_admin'::regclass AND NOT tgisinternal`
      assert.match(
        definition[0]!.definition,
        /^CREATE CONSTRAINT TRIGGER trigger_notify_queue_insert_listeners AFTER INSERT ON pgmq\.q_nn_admin DEFERRABLE INITIALLY IMMEDIATE FOR EACH ROW EXECUTE FUNCTION /
      )
      yield* sql`SELECT pgmq.update_notify_insert(${"nn_admin"}::text, 1000)`
      assert.deepStrictEqual(yield* ours(), [["nn_admin", 1000, 0]])
      yield* sql`SELECT pgmq.enable_notify_insert(queue_name => ${"nn_admin"}::text, throttle_interval_ms => 0)`
      assert.deepStrictEqual(yield* ours(), [["nn_admin", 0, 0]])
      const triggers =
        yield* sql`SELECT 1 FROM pg_trigger WHERE tgrelid = 'pgmq.q_nn_admin'::regclass AND NOT tgisinternal`
      assert.lengthOf(triggers, 1)
      yield* sql`SELECT pgmq.disable_notify_insert(${"nn_admin"}::text)`
      assert.deepStrictEqual(yield* ours(), [])
      assert.lengthOf(
        yield* sql`SELECT 1 FROM pg_trigger WHERE tgrelid = 'pgmq.q_nn_admin'::regclass AND NOT tgisinternal`,
        0
      )
      // Sends work as before without the trigger.
      assert.deepStrictEqual(yield* sql.unsafe(`SELECT * FROM pgmq.send('nn_admin', '{}'::jsonb)`), [{ send: 1n }])
    })
  )

  it.effect("errors: missing queue, negative throttle, update without enable (P0001); invalid name (P0001)", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* createQueues("nn_errors")
      const missing = /Queue "nn_nowhere" does not exist\. Create it first using pgmq\.create\(\)/
      yield* failsWith(sql`SELECT pgmq.enable_notify_insert(${"nn_nowhere"}::text)`, "P0001", missing)
      yield* failsWith(sql`SELECT pgmq.update_notify_insert(${"nn_nowhere"}::text, 10)`, "P0001", missing)
      yield* failsWith(sql`SELECT pgmq.enable_notify_insert(${"nn_errors"}::text, -1)`, "P0001")
      yield* failsWith(sql`SELECT pgmq.update_notify_insert(${"nn_errors"}::text, 10)`, "P0001")
      yield* sql`SELECT pgmq.enable_notify_insert(${"nn_errors"}::text, 10)`
      yield* failsWith(sql`SELECT pgmq.update_notify_insert(${"nn_errors"}::text, -5)`, "P0001")
      yield* failsWith(sql`SELECT pgmq.enable_notify_insert(${"nn;errors"}::text)`, "P0001", /invalid characters/)
      const rows =
        yield* sql<Throttle>`SELECT * FROM pgmq.list_notify_insert_throttles() WHERE queue_name = 'nn_errors'`
      assert.deepStrictEqual(
        rows.map((row) => row.throttle_interval_ms),
        [10]
      )
    })
  )

  it.effect(
    'LISTEN "pgmq.q_<n>.INSERT": one notification at commit with an empty payload, none on rollback, merged within a transaction',
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("nn_listen", "nn_quiet")
        yield* sql`SELECT pgmq.enable_notify_insert(${"nn_listen"}::text, 0)`
        yield* listening("pgmq.q_nn_listen.INSERT", (next) =>
          Effect.gen(function* () {
            yield* sql.unsafe(`SELECT * FROM pgmq.send('nn_listen', '{"n":1}'::jsonb)`)
            assert.deepStrictEqual(yield* next("10 seconds"), Option.some(""))
            // Rolled back: nothing.
            const exit = yield* Effect.exit(
              sql.withTransaction(
                Effect.gen(function* () {
                  yield* sql.unsafe(`SELECT * FROM pgmq.send('nn_listen', '{"n":2}'::jsonb)`)
                  return yield* Effect.fail("roll back" as const)
                })
              )
            )
            assert.strictEqual(exit._tag, "Failure")
            assert.deepStrictEqual(yield* next("1 seconds"), Option.none())
            // Not before commit; two sends in one transaction notify once.
            yield* sql.withTransaction(
              Effect.gen(function* () {
                yield* sql.unsafe(`SELECT * FROM pgmq.send('nn_listen', '{"n":3}'::jsonb)`)
                yield* sql.unsafe(`SELECT * FROM pgmq.send_batch('nn_listen', ARRAY['{"n":4}', '{"n":5}']::jsonb[])`)
                assert.deepStrictEqual(yield* next("500 millis"), Option.none())
              })
            )
            assert.deepStrictEqual(yield* next("10 seconds"), Option.some(""))
            assert.deepStrictEqual(yield* next("1 seconds"), Option.none())
            // A queue without notifications enabled stays silent.
            yield* sql.unsafe(`SELECT * FROM pgmq.send('nn_quiet', '{}'::jsonb)`)
            assert.deepStrictEqual(yield* next("500 millis"), Option.none())
            // After disable_notify_insert: silent too.
            yield* sql`SELECT pgmq.disable_notify_insert(${"nn_listen"}::text)`
            yield* sql.unsafe(`SELECT * FROM pgmq.send('nn_listen', '{"n":6}'::jsonb)`)
            assert.deepStrictEqual(yield* next("1 seconds"), Option.none())
          })
        )
      })
  )

  it.effect(
    "throttling: within throttle_interval_ms a second insert does not notify; last_notified_at is recorded",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        yield* createQueues("nn_throttle")
        yield* sql`SELECT pgmq.enable_notify_insert(${"nn_throttle"}::text, 600000)`
        yield* listening("pgmq.q_nn_throttle.INSERT", (next) =>
          Effect.gen(function* () {
            yield* sql.unsafe(`SELECT * FROM pgmq.send('nn_throttle', '{"n":1}'::jsonb)`)
            assert.deepStrictEqual(yield* next("10 seconds"), Option.some(""))
            const [row] = yield* sql<Throttle & { readonly recent: boolean }>`
            SELECT t.*, t.last_notified_at > now() - interval '1 minute' AS recent
            FROM pgmq.list_notify_insert_throttles() t WHERE queue_name = 'nn_throttle'`
            assert.isTrue(row!.recent)
            yield* sql.unsafe(`SELECT * FROM pgmq.send('nn_throttle', '{"n":2}'::jsonb)`)
            yield* sql.unsafe(`SELECT * FROM pgmq.send('nn_throttle', '{"n":3}'::jsonb)`)
            assert.deepStrictEqual(yield* next("1 seconds"), Option.none())
            // Throttle 0: every committed insert notifies again.
            yield* sql`SELECT pgmq.update_notify_insert(${"nn_throttle"}::text, 0)`
            yield* sql.unsafe(`SELECT * FROM pgmq.send('nn_throttle', '{"n":4}'::jsonb)`)
            assert.deepStrictEqual(yield* next("10 seconds"), Option.some(""))
            yield* sql.unsafe(`SELECT * FROM pgmq.send('nn_throttle', '{"n":5}'::jsonb)`)
            assert.deepStrictEqual(yield* next("10 seconds"), Option.some(""))
          })
        )
        assert.lengthOf(yield* sql`SELECT 1 FROM pgmq.q_nn_throttle`, 5)
      })
  )

  it.effect(
    "a mixed-case queue notifies on the channel with its name as given (the 1.13.1 behaviour, taken deliberately)",
    () =>
      Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        // pgmq 1.11 derived the channel from the lower-cased table and so never notified such queues
        // (pgmq.md §6); 1.13.1 fixed it with this channel name, which the install uses.
        yield* createQueues("NnMixed")
        yield* sql`SELECT pgmq.enable_notify_insert(${"NnMixed"}::text, 0)`
        yield* listening("pgmq.q_NnMixed.INSERT", (next) =>
          Effect.gen(function* () {
            yield* sql.unsafe(`SELECT * FROM pgmq.send('nnmixed', '{}'::jsonb)`)
            assert.deepStrictEqual(yield* next("10 seconds"), Option.some(""))
          })
        )
      })
  )
})

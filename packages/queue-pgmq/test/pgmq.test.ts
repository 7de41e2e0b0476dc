// The typed Pgmq service over a real database.
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { RecordedSpans } from "@nexus/testing"
import { Effect, Fiber, Option } from "effect"
import { SqlError } from "effect/sql"
import { pgmqError } from "../src/Errors.ts"
import { Pgmq } from "../src/Pgmq.ts"
import { PgmqTest } from "./helpers.ts"

layer(PgmqTest, { excludeTestServices: true })("Pgmq", (it) => {
  it.effect("send, read, archive: ids, counts and clocks as pgmq defines them", () =>
    Effect.gen(function* () {
      const pgmq = yield* Pgmq
      yield* pgmq.create("typed")
      const id = yield* pgmq.send("typed", { hello: "world" }, { headers: { trace: "t1" } })
      const [message] = yield* pgmq.read("typed", { vt: 30, qty: 1 })
      assert.strictEqual(message!.msgId, id)
      assert.deepStrictEqual(message!.message, { hello: "world" })
      assert.deepStrictEqual(message!.headers, { trace: "t1" })
      assert.strictEqual(message!.readCt, 1)
      assert.instanceOf(message!.lastReadAt, Date)
      assert.lengthOf(yield* pgmq.read("typed", { vt: 30, qty: 1 }), 0)
      const moved = yield* pgmq.setVt("typed", id, 0)
      assert.isTrue(Option.isSome(moved))
      assert.isTrue(yield* pgmq.archive("typed", id))
      assert.isFalse(yield* pgmq.archive("typed", id))
      const metrics = yield* pgmq.metrics("typed")
      assert.strictEqual(metrics.queueLength, 0)
      assert.strictEqual(metrics.totalMessages, 1)
      const installation = yield* pgmq.installation
      assert.oneOf(installation.mode, ["extension", "nexus"])
    })
  )

  it.effect("a missing queue is QueueNotFound, a bad name InvalidQueueName before any SQL", () =>
    Effect.gen(function* () {
      const pgmq = yield* Pgmq
      const missing = yield* Effect.flip(pgmq.send("nowhere", {}))
      assert.strictEqual(missing._tag, "QueueNotFound")
      const bad = yield* Effect.flip(pgmq.read("a;drop", { vt: 1, qty: 1 }))
      assert.strictEqual(bad._tag, "InvalidQueueName")
      const batch = yield* Effect.flip(pgmq.sendBatch("llm_requests", []))
      assert.strictEqual(batch._tag, "PgmqError")
      assert.include(batch.message, "msgs cannot be NULL or empty")
    })
  )

  it.effect("every call of the API reaches its pgmq function with its arguments cast, and decodes the answer", () =>
    Effect.gen(function* () {
      const pgmq = yield* Pgmq
      yield* pgmq.createUnlogged("every")
      const ids = yield* pgmq.sendBatch("every", [{ n: 1 }, { n: 2 }, { n: 3 }], {
        headers: [{ "x-pgmq-group": "a" }, { "x-pgmq-group": "a" }, { "x-pgmq-group": "b" }]
      })
      assert.lengthOf(ids, 3)
      const delayed = yield* pgmq.send("every", { n: 4 }, { delay: new Date(Date.now() + 60_000) })
      const later = yield* pgmq.send("every", { n: 5 }, { delay: 60 })
      const grouped = yield* pgmq.readGrouped("every", { vt: 0, qty: 10 })
      assert.deepStrictEqual(
        grouped.map((message) => message.msgId),
        ids
      )
      assert.lengthOf(yield* pgmq.readGroupedRr("every", { vt: 0, qty: 10 }), 3)
      assert.lengthOf(yield* pgmq.readGroupedHead("every", { vt: 0, qty: 10 }), 2)
      assert.lengthOf(yield* pgmq.readGroupedWithPoll("every", { vt: 0, qty: 1, maxPollSeconds: 1 }), 1)
      assert.lengthOf(yield* pgmq.readGroupedRrWithPoll("every", { vt: 0, qty: 1, maxPollSeconds: 1 }), 1)
      assert.lengthOf(yield* pgmq.readGroupedHeadWithPoll("every", { vt: 0, qty: 1, maxPollSeconds: 1 }), 1)
      const conditional = yield* pgmq.readWithPoll("every", {
        vt: 0,
        qty: null,
        conditional: { n: 2 },
        maxPollSeconds: 1
      })
      assert.deepStrictEqual(
        conditional.map((message) => message.message),
        [{ n: 2 }]
      )
      const moved = yield* pgmq.setVtBatch("every", [delayed, later], 0)
      assert.lengthOf(moved, 2)
      assert.isTrue(Option.isNone(yield* pgmq.setVt("every", 999n, new Date())))
      assert.deepStrictEqual(yield* pgmq.archiveBatch("every", [ids[0]!, 999n]), [ids[0]!])
      assert.isTrue(yield* pgmq.delete("every", ids[1]!))
      assert.deepStrictEqual(yield* pgmq.deleteBatch("every", [ids[2]!]), [ids[2]!])
      const popped = yield* pgmq.pop("every", 5)
      assert.sameMembers(
        popped.map((message) => message.msgId),
        [delayed, later]
      )
      yield* pgmq.createFifoIndex("every")
      yield* pgmq.createFifoIndexesAll
      const queues = yield* pgmq.listQueues
      assert.isTrue(queues.some((queue) => queue.queueName === "every" && queue.isUnlogged))
      const all = yield* pgmq.metricsAll
      assert.strictEqual(all.find((metrics) => metrics.queueName === "every")?.totalMessages, 5)

      yield* pgmq.enableNotifyInsert("every", 0)
      yield* pgmq.updateNotifyInsert("every", 500)
      const throttles = yield* pgmq.listNotifyInsertThrottles
      assert.deepStrictEqual(
        throttles.filter((entry) => entry.queueName === "every").map((entry) => entry.throttleIntervalMs),
        [500]
      )
      yield* pgmq.disableNotifyInsert("every")
      assert.isFalse((yield* pgmq.listNotifyInsertThrottles).some((entry) => entry.queueName === "every"))

      yield* pgmq.bindTopic("orders.*", "every")
      assert.deepStrictEqual(
        (yield* pgmq.listTopicBindings("every")).map((binding) => binding.pattern),
        ["orders.*"]
      )
      assert.lengthOf(yield* pgmq.listTopicBindings(), 1)
      assert.deepStrictEqual(
        (yield* pgmq.testRouting("orders.created")).map((match) => match.queueName),
        ["every"]
      )
      assert.strictEqual(yield* pgmq.sendTopic("orders.created", { order: 1 }, { headers: { h: 1 } }), 1)
      assert.strictEqual(yield* pgmq.sendTopic("nobody.listens", { order: 2 }), 0)
      const sent = yield* pgmq.sendBatchTopic("orders.updated", [{ order: 3 }, { order: 4 }], { delay: 0 })
      assert.deepStrictEqual(
        sent.map((entry) => entry.queueName),
        ["every", "every"]
      )
      const rejected = yield* Effect.flip(pgmq.sendTopic("bad..key", {}))
      assert.strictEqual(rejected.reason, "rejected")
      assert.isTrue(yield* pgmq.unbindTopic("orders.*", "every"))
      assert.strictEqual(yield* pgmq.purgeQueue("every"), 3)
      assert.isTrue(yield* pgmq.dropQueue("every"))
      assert.isFalse(yield* pgmq.dropQueue("every"))
    })
  )

  it.effect("calls make their spans when a tracer collects them, parenting the SQL they run", () =>
    Effect.gen(function* () {
      const pgmq = yield* Pgmq
      yield* pgmq.create("traced")
      const { spans } = yield* RecordedSpans.withRecordedSpans(pgmq.send("traced", { n: 1 }))
      const send = spans.find((span) => span.name === "Pgmq.send")
      assert.isDefined(send)
      const statement = spans.find((span) => span.name !== "Pgmq.send")
      assert.isDefined(statement)
      assert.strictEqual(Option.getOrUndefined(statement!.parent)?.spanId, send!.spanId)
    })
  )

  it.effect(
    "a connection the server ends (57P01, as when it shuts down) is `unavailable`: retryable, not a failure",
    () =>
      Effect.gen(function* () {
        const pgmq = yield* Pgmq
        const sql = yield* PgClient.PgClient
        yield* pgmq.create("ended")
        // A read that waits on the server for a message, until its connection is ended under it.
        const reading = yield* Effect.forkChild(
          Effect.flip(pgmq.readWithPoll("ended", { vt: 30, qty: 1, maxPollSeconds: 20 }))
        )
        // This database's only: other test files' reads run on the same server at the same time.
        const waiting = sql<{ readonly pid: number }>`
        SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE '%read_with_poll%' AND pid <> pg_backend_pid()`
        let pids: ReadonlyArray<{ readonly pid: number }> = []
        for (let polls = 0; pids.length === 0 && polls < 250; polls++) {
          pids = yield* Effect.andThen(Effect.sleep("20 millis"), waiting)
        }
        assert.lengthOf(pids, 1, "the read never showed in pg_stat_activity")
        yield* sql`SELECT pg_terminate_backend(${pids[0]!.pid})`
        const error = yield* Fiber.join(reading)
        assert.strictEqual(error._tag, "PgmqError")
        if (error._tag !== "PgmqError") return
        assert.strictEqual(error.reason, "unavailable", error.message)
        assert.isTrue(error.retryable)
      })
  )

  it.effect(
    "the server shutting down, starting up or full is `unavailable` too, whatever kind of error the client calls it",
    () =>
      Effect.sync(() => {
        // What a worker's reconnect met while PostgreSQL restarted (./dev chaos, db-restart): the
        // client reports a server error of SQLSTATE 57P03, an "unknown", non-retryable kind to it.
        const server = (code: string, message: string) =>
          pgmqError(
            "pgmq.read",
            "llm_requests"
          )(
            new SqlError.SqlError({
              reason: new SqlError.UnknownError({
                cause: Object.assign(new Error(message), { code }),
                message: "PgConnection: The server reported an error",
                operation: "query"
              })
            })
          )
        for (const [code, message] of [
          ["57P03", "the database system is shutting down"],
          ["57P03", "the database system is starting up"],
          ["57P01", "terminating connection due to administrator command"],
          ["57P02", "terminating connection because of crash of another server process"],
          ["53300", "sorry, too many clients already"],
          ["08006", "connection failure"],
          ["08001", "could not connect to server"]
        ] as const) {
          const error = server(code, message)
          assert.strictEqual(error.reason, "unavailable", `${code} ${message}`)
          assert.isTrue(error.retryable)
          assert.include(error.message, message)
        }
        // A statement the server refused is not retried.
        assert.strictEqual(server("42501", "permission denied for table q_llm_requests").reason, "failed")
        // Nor a protocol violation (08P01): a client bug that trying again cannot mend.
        assert.strictEqual(
          server("08P01", "bind message supplies 2 parameters, but prepared statement requires 3").reason,
          "failed"
        )
      })
  )

  it.effect("sendBatch keeps the order of 100 messages, and a null header is SQL NULL as in send", () =>
    Effect.gen(function* () {
      const pgmq = yield* Pgmq
      yield* pgmq.create("batched")
      const ids = yield* pgmq.sendBatch(
        "batched",
        Array.from({ length: 100 }, (_, n) => ({ n })),
        { headers: Array.from({ length: 100 }, (_, n) => (n % 2 === 0 ? null : { odd: n })) }
      )
      assert.lengthOf(ids, 100)
      const read = yield* pgmq.read("batched", { vt: 30, qty: null })
      const byId = new Map(read.map((message) => [message.msgId, message]))
      ids.forEach((id, n) => {
        assert.deepStrictEqual(byId.get(id)!.message, { n })
        assert.deepStrictEqual(byId.get(id)!.headers, n % 2 === 0 ? null : { odd: n })
      })
      const sql = yield* PgClient.PgClient
      const [nulls] = yield* sql<{
        readonly n: number
      }>`SELECT count(*)::int AS n FROM pgmq.q_batched WHERE headers IS NULL`
      assert.strictEqual(nulls!.n, 50)
      assert.deepStrictEqual(yield* pgmq.sendBatch("batched", [{ one: 1 }]), [ids[99]! + 1n])
    })
  )
})

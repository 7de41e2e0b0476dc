// The typed Pgmq service over a real database.
import { assert, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
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
})

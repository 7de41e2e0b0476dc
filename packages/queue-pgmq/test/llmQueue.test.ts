// The request/result contract on a real database: exactly one result per request under
// concurrency and takeovers, callers that never take each other's results, and dead letters.
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { TestDatabase } from "@nexus/testing"
import { Effect, Fiber, Layer, Metric, Redacted } from "effect"
import { DEAD_LETTERS, type LlmRequest, type LlmResult, REQUESTS } from "../src/Contract.ts"
import { completionBatchSize, type Delivery, LlmQueue } from "../src/LlmQueue.ts"
import { Pgmq } from "../src/Pgmq.ts"
import { QueueDatabase, request } from "./helpers.ts"

const answer = (delivery: Delivery): LlmResult => {
  const now = new Date().toISOString()
  return {
    version: 1,
    request_id: delivery.request.id,
    status: "ok",
    model: "gpt-5.4-mini",
    account: "test",
    output: { text: `echo ${String(delivery.request.messages[0]!.content)}` },
    attempts: 1,
    started_at: now,
    finished_at: now
  }
}

/** Every message on `queue` (read from its table, so nothing is consumed). */
const bodies = (queue: string) =>
  Effect.flatMap(
    PgClient.PgClient,
    (sql) =>
      sql<{
        readonly message: Record<string, unknown>
      }>`SELECT message FROM ${sql("pgmq")}.${sql(`q_${queue}`)} ORDER BY msg_id`
  ).pipe(Effect.map((rows) => rows.map((row) => row.message)))

/** A second, independent consumer: its own connection pool and services, as another process has. */
const otherConsumer = Layer.unwrap(
  Effect.gen(function* () {
    const { url } = yield* TestDatabase.TestDatabase
    return LlmQueue.layerNoDeps.pipe(
      Layer.provideMerge(Pgmq.layerNoDeps),
      Layer.provideMerge(PgClient.layer({ url: Redacted.make(url) }))
    )
  })
)

const Live = LlmQueue.layerNoDeps.pipe(Layer.provideMerge(Pgmq.layerNoDeps), Layer.provideMerge(QueueDatabase))

layer(Live, { excludeTestServices: true, timeout: 180_000 })("LlmQueue", (it) => {
  it.effect("a consumer whose request was taken over cannot publish; the one holding it does, once", () =>
    Effect.gen(function* () {
      const queue = yield* LlmQueue
      const pgmq = yield* Pgmq
      const sent = request("takeover", { reply_to: "takeover_replies" })
      yield* queue.enqueue(sent)
      const [first] = yield* pgmq.read(REQUESTS, { vt: 1, qty: 1 })
      yield* Effect.sleep("1200 millis")
      const [second] = yield* pgmq.read(REQUESTS, { vt: 30, qty: 1 })
      assert.strictEqual(second!.msgId, first!.msgId)
      const delivery = (message: typeof first): Delivery => ({
        msgId: message!.msgId,
        readCt: message!.readCt,
        enqueuedAt: message!.enqueuedAt,
        request: sent,
        replyTo: "takeover_replies"
      })
      const slow = delivery(first)
      assert.isFalse(yield* queue.complete(slow, answer(slow)))
      const current = delivery(second)
      assert.isTrue(yield* queue.complete(current, answer(current)))
      assert.isFalse(yield* queue.complete(current, answer(current)))
      assert.lengthOf(yield* bodies("takeover_replies"), 1)
      assert.lengthOf(yield* bodies(REQUESTS), 0)
    })
  )

  it.effect(
    "completions written together: each caller gets its own answer — published, taken over, or its reply queue gone",
    () =>
      Effect.gen(function* () {
        const queue = yield* LlmQueue
        const pgmq = yield* Pgmq
        yield* pgmq.purgeQueue(REQUESTS)
        const toDeliveries = (sent: ReadonlyArray<LlmRequest>) =>
          Effect.map(pgmq.read(REQUESTS, { vt: 30, qty: sent.length }), (messages) =>
            messages.map((message): Delivery => {
              const original = sent.find((entry) => entry.id === (message.message as { id: string }).id)!
              return {
                msgId: message.msgId,
                readCt: message.readCt,
                enqueuedAt: message.enqueuedAt,
                request: original,
                replyTo: original.reply_to!
              }
            })
          )
        // Twenty at once, two of them taken over by another consumer: one statement for the lot.
        const sent = Array.from({ length: 20 }, (_, i) => request(`batch ${i}`, { reply_to: "batch_replies" }))
        yield* queue.enqueueBatch(sent)
        const deliveries = yield* toDeliveries(sent)
        const takenOver = new Set(deliveries.slice(0, 2).map((delivery) => delivery.msgId))
        yield* pgmq.setVtBatch(REQUESTS, [...takenOver], 0)
        assert.lengthOf(yield* pgmq.read(REQUESTS, { vt: 30, qty: 2 }), 2)
        const answers = yield* Effect.forEach(deliveries, (delivery) => queue.complete(delivery, answer(delivery)), {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual(
          answers,
          deliveries.map((delivery) => !takenOver.has(delivery.msgId))
        )
        assert.lengthOf(yield* bodies("batch_replies"), 18)
        assert.lengthOf(yield* bodies(REQUESTS), 2)
        // They went together: a statement wrote more than one.
        const sizes = yield* Metric.value(completionBatchSize)
        assert.isAbove(sizes.max, 1)

        // A reply queue dropped under a batch: the others still publish, that one fails alone.
        yield* pgmq.purgeQueue(REQUESTS)
        const more = [
          request("fine", { reply_to: "batch_replies" }),
          request("gone", { reply_to: "gone_replies" }),
          request("fine too", { reply_to: "batch_replies" })
        ]
        yield* queue.enqueueBatch(more)
        yield* pgmq.dropQueue("gone_replies")
        const outcomes = yield* Effect.forEach(
          yield* toDeliveries(more),
          (delivery) =>
            Effect.result(queue.complete(delivery, answer(delivery))).pipe(
              Effect.map((r) => [delivery.request.id, r] as const)
            ),
          { concurrency: "unbounded" }
        )
        for (const [id, outcome] of outcomes) {
          if (id === more[1]!.id) {
            assert.strictEqual(outcome._tag, "Failure")
            assert.strictEqual(outcome._tag === "Failure" ? outcome.failure._tag : "", "QueueNotFound")
          } else assert.deepStrictEqual(outcome._tag === "Success" ? outcome.success : undefined, true)
        }
        assert.lengthOf(yield* bodies("batch_replies"), 20)
        // The two taken over are still there (and invisible): the next tests start from an empty queue.
        yield* pgmq.purgeQueue(REQUESTS)
      })
  )

  it.effect(
    "two consumers, a 1 s visibility timeout and slow handlers: 1,000 requests, 1,000 results, each once",
    () =>
      Effect.gen(function* () {
        const queue = yield* LlmQueue
        const requests = Array.from({ length: 1000 }, (_, index) => request(`r${index}`, { reply_to: "many_replies" }))
        for (let start = 0; start < requests.length; start += 100) {
          yield* queue.enqueueBatch(requests.slice(start, start + 100))
        }
        // One in twenty handlers outlives the visibility timeout: only the extension keeps it ours.
        const handler = (delivery: Delivery) =>
          Effect.as(
            Effect.sleep(
              Number(delivery.request.messages[0]!.content.slice(1)) % 20 === 0 ? "1500 millis" : "5 millis"
            ),
            answer(delivery)
          )
        const options = { concurrency: 8, visibilityTimeout: 1, pollSeconds: 1 }
        const one = yield* Effect.forkChild(queue.consume(handler, options))
        const other = yield* Effect.forkChild(
          Effect.gen(function* () {
            const second = yield* LlmQueue
            return yield* second.consume(handler, options)
          }).pipe(Effect.provide(otherConsumer))
        )
        let results: ReadonlyArray<Record<string, unknown>> = []
        for (let waited = 0; waited < 120 && results.length < 1000; waited++) {
          yield* Effect.sleep("1 second")
          results = yield* bodies("many_replies")
        }
        yield* Effect.sleep("2 seconds")
        yield* Fiber.interrupt(one)
        yield* Fiber.interrupt(other)
        results = yield* bodies("many_replies")
        assert.strictEqual(results.length, 1000)
        assert.strictEqual(new Set(results.map((result) => result["request_id"])).size, 1000)
        assert.deepStrictEqual(
          new Set(results.map((result) => result["request_id"])),
          new Set(requests.map((sent) => sent.id))
        )
        assert.lengthOf(yield* bodies(REQUESTS), 0)
      }),
    // About 10 s alone; under a full CI run (every package's tests at once on two cores) 45 s was seen.
    120_000
  )

  it.effect("50 concurrent callers on 2 reply queues each get their own result, none lost", () =>
    Effect.gen(function* () {
      const queue = yield* LlmQueue
      const requests = Array.from({ length: 50 }, (_, index) =>
        request(`caller ${index}`, { reply_to: index % 2 === 0 ? "replies_even" : "replies_odd" })
      )
      const worker = yield* Effect.forkChild(
        queue.consume((delivery) => Effect.as(Effect.sleep("20 millis"), answer(delivery)), { concurrency: 4 })
      )
      const results = yield* Effect.forEach(
        requests,
        (sent) =>
          Effect.andThen(
            queue.enqueue(sent),
            queue.awaitResult(sent.id, { replyTo: sent.reply_to, timeout: "60 seconds" })
          ),
        { concurrency: "unbounded" }
      )
      yield* Fiber.interrupt(worker)
      results.forEach((result, index) => {
        assert.strictEqual(result.request_id, requests[index]!.id)
        assert.strictEqual(result.output?.text, `echo caller ${index}`)
      })
      assert.lengthOf(yield* bodies("replies_even"), 0)
      assert.lengthOf(yield* bodies("replies_odd"), 0)
    })
  )

  it.effect("a result nobody awaits in time stays on the reply queue for a later caller", () =>
    Effect.gen(function* () {
      const queue = yield* LlmQueue
      const sent = request("late", { reply_to: "late_replies" })
      yield* queue.enqueue(sent)
      const timedOut = yield* Effect.flip(
        queue.awaitResult(sent.id, { replyTo: "late_replies", timeout: "300 millis" })
      )
      assert.strictEqual(timedOut._tag, "ResultTimeout")
      const worker = yield* Effect.forkChild(queue.consume((delivery) => Effect.succeed(answer(delivery))))
      const found = yield* queue.awaitResult(sent.id, { replyTo: "late_replies", timeout: "30 seconds" })
      yield* Fiber.interrupt(worker)
      assert.strictEqual(found.request_id, sent.id)
    })
  )

  it.effect(
    "every malformed kind is dead-lettered with its reason; the sender is told when it can be; the loop goes on",
    () =>
      Effect.gen(function* () {
        const queue = yield* LlmQueue.make({ maxBytes: 2048 })
        const pgmq = yield* Pgmq
        yield* pgmq.create("told_replies")
        const good = request("after the bad ones", { reply_to: "told_replies" })
        const recoverable = { version: 1, id: crypto.randomUUID(), reply_to: "told_replies", complexity: "simple" }
        yield* pgmq.send(REQUESTS, "not an object")
        yield* pgmq.send(REQUESTS, null)
        yield* pgmq.send(REQUESTS, { ...request("big"), padding: "x".repeat(4096) } as never)
        yield* pgmq.send(REQUESTS, { ...request("v2"), version: 2 } as never)
        yield* pgmq.send(REQUESTS, recoverable)
        yield* pgmq.send(REQUESTS, good as never)
        const worker = yield* Effect.forkChild(queue.consume((delivery) => Effect.succeed(answer(delivery))))
        const result = yield* queue.awaitResult(good.id, { replyTo: "told_replies", timeout: "30 seconds" })
        const told = yield* queue.awaitResult(recoverable.id, { replyTo: "told_replies", timeout: "30 seconds" })
        yield* Fiber.interrupt(worker)
        assert.strictEqual(result.status, "ok")
        assert.strictEqual(told.status, "error")
        assert.strictEqual(told.error?.tag, "InvalidMessage")
        assert.include(told.error?.message, "task_type")
        // Handled concurrently: in the order they were sent, by their original id.
        const letters = [...(yield* queue.deadLetters)].sort(
          (a, b) => Number(a.letter.original_msg_id) - Number(b.letter.original_msg_id)
        )
        assert.deepStrictEqual(
          letters.map((entry) => entry.letter.problem),
          ["not_json", "not_json", "too_large", "unknown_version", "invalid"]
        )
        assert.include(letters[0]!.letter.reason, "a string")
        assert.include(letters[2]!.letter.reason, "over the limit of 2048")
        assert.include(letters[3]!.letter.reason, "version 2")
        assert.include(letters[4]!.letter.reason, "task_type")
        assert.strictEqual(letters[0]!.letter.body, "not an object")
        assert.lengthOf(yield* bodies(REQUESTS), 0)
      })
  )

  it.effect("dlq retry puts a fixed request back, and it is served", () =>
    Effect.gen(function* () {
      const queue = yield* LlmQueue
      const pgmq = yield* Pgmq
      yield* pgmq.purgeQueue(DEAD_LETTERS)
      const broken = { ...request("fixed later", { reply_to: "fixed_replies" }), complexity: "hard" }
      yield* pgmq.create("fixed_replies")
      yield* pgmq.send(REQUESTS, broken as never)
      const worker = yield* Effect.forkChild(queue.consume((delivery) => Effect.succeed(answer(delivery))))
      const refused = yield* queue.awaitResult(broken.id, { replyTo: "fixed_replies", timeout: "30 seconds" })
      assert.strictEqual(refused.status, "error")
      const [letter] = yield* queue.deadLetters
      assert.strictEqual(letter!.letter.problem, "invalid")
      const [retried] = yield* queue.retry([letter!.msgId], { ...broken, complexity: "simple" } as never)
      assert.strictEqual(retried!.deadLetter, letter!.msgId)
      const served = yield* queue.awaitResult(broken.id, { replyTo: "fixed_replies", timeout: "30 seconds" })
      yield* Fiber.interrupt(worker)
      assert.strictEqual(served.status, "ok")
      assert.lengthOf(yield* queue.deadLetters, 0)
    })
  )

  it.effect("the loop outlives its connections being killed, and serves the next request", () =>
    Effect.gen(function* () {
      const queue = yield* LlmQueue
      const sql = yield* PgClient.PgClient
      const worker = yield* Effect.forkChild(
        queue.consume((delivery) => Effect.succeed(answer(delivery)), { pollSeconds: 1 })
      )
      yield* Effect.sleep("300 millis")
      const killed = yield* sql<{ readonly n: number }>`
        SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()`
      assert.isAbove(killed[0]!.n, 0)
      const sent = request("after the outage", { reply_to: "outage_replies" })
      yield* queue.enqueue(sent)
      const result = yield* queue.awaitResult(sent.id, { replyTo: "outage_replies", timeout: "30 seconds" })
      assert.strictEqual(result.request_id, sent.id)
      assert.isUndefined(worker.pollUnsafe())
      yield* Fiber.interrupt(worker)
    })
  )

  it.effect("enqueue refuses a request that breaks the contract before sending anything", () =>
    Effect.gen(function* () {
      const queue = yield* LlmQueue
      const before = (yield* bodies(REQUESTS)).length
      const error = yield* Effect.flip(queue.enqueue({ ...request("x"), complexity: "hard" } as never))
      assert.strictEqual(error._tag, "InvalidMessage")
      const badReply = yield* Effect.flip(queue.enqueue(request("x", { reply_to: "bad;name" })))
      assert.strictEqual(badReply._tag, "InvalidMessage")
      assert.include(badReply.message, "reply_to")
      assert.lengthOf(yield* bodies(REQUESTS), before)
    })
  )
})

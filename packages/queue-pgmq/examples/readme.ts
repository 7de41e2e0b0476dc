// LlmQueue.layer and Pgmq.layer provide LlmQueue and Pgmq; they need the QueueDatabase, which
// QueueDatabase.layer gives (SHARED_QUEUE_DB_URL, else the Nexus database of Database.layer).
import { Database } from "@nexus/database"
import { LlmQueue, Pgmq } from "@nexus/queue-pgmq"
import { Effect, Layer } from "effect"

const QueueLive = Layer.mergeAll(LlmQueue.LlmQueue.layer, Pgmq.Pgmq.layer).pipe(
  Layer.provide(Database.QueueDatabase.layer),
  Layer.provide(Database.Database.layer)
)

const program = Effect.gen(function* () {
  yield* (yield* Pgmq.Pgmq).create("my_replies") // your own reply queue
  const queue = yield* LlmQueue.LlmQueue
  const id = crypto.randomUUID()
  yield* queue.enqueue({
    version: 1,
    id,
    task_type: "chat",
    complexity: "simple",
    messages: [{ role: "user", content: "Say hello" }],
    reply_to: "my_replies"
  })
  const result = yield* queue.awaitResult(id, { replyTo: "my_replies", timeout: "2 minutes" })
  yield* Effect.log(result.status === "ok" ? result.output?.text : result.error?.message)
})

Effect.runFork(program.pipe(Effect.provide(QueueLive)))

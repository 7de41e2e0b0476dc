// The README's plain SQL, run as written: a request sent with pgmq.send is served by a consumer, and
// the README's read of the reply queue returns its result.
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Fiber, Layer } from "effect"
import { readFileSync } from "node:fs"
import { LlmQueue } from "../src/LlmQueue.ts"
import { Pgmq } from "../src/Pgmq.ts"
import { QueueDatabase } from "./helpers.ts"

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8")
const blocks = [...readme.matchAll(/```sql\n([\s\S]*?)```/g)].map((match) => match[1]!.trim())

const Live = LlmQueue.layerNoDeps.pipe(Layer.provideMerge(Pgmq.layerNoDeps), Layer.provideMerge(QueueDatabase))

layer(Live, { excludeTestServices: true, timeout: 60_000 })("the README's SQL", (it) => {
  it.effect("create a reply queue, send a request, read and archive its result: as the README shows", () =>
    Effect.gen(function* () {
      assert.lengthOf(blocks, 3)
      const sql = yield* PgClient.PgClient
      const [create, send, receive] = blocks
      yield* sql.unsafe(create!)
      const [sent] = yield* sql.unsafe<{ readonly send: bigint }>(send!)
      assert.strictEqual(typeof sent!.send, "bigint")
      const queue = yield* LlmQueue
      const worker = yield* Effect.forkChild(
        queue.consume((delivery) =>
          Effect.succeed({
            version: 1 as const,
            request_id: delivery.request.id,
            status: "ok" as const,
            model: "gpt-5.4-mini",
            account: "work",
            output: { text: "Hello!" },
            attempts: 1,
            started_at: new Date().toISOString(),
            finished_at: new Date().toISOString()
          })
        )
      )
      let rows: ReadonlyArray<{ readonly message: Record<string, unknown>; readonly archived: boolean }> = []
      for (let tries = 0; tries < 100 && rows.length === 0; tries++) {
        rows = yield* sql.unsafe<{ readonly message: Record<string, unknown>; readonly archived: boolean }>(receive!)
        if (rows.length === 0) yield* Effect.sleep("100 millis")
      }
      yield* Fiber.interrupt(worker)
      assert.lengthOf(rows, 1)
      assert.strictEqual(rows[0]!.message["request_id"], "9b2c7e52-0c4f-4a8e-9d7e-3f1a2b4c5d6e")
      assert.strictEqual(rows[0]!.message["status"], "ok")
      assert.isTrue(rows[0]!.archived)
      // Archived: the same read finds nothing more.
      assert.lengthOf(yield* sql.unsafe(receive!), 0)
    })
  )
})

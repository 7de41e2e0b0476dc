// `nexus db migrate` (pgmq and the queues), `nexus db pgmq-sql` run by psql, and `nexus queue`:
// real child processes against a scratch database.
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { LlmQueue, Pgmq } from "@nexus/queue-pgmq"
import { TestDatabase } from "@nexus/testing"
import { Effect, Fiber, Layer } from "effect"
import { execFileSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { childEnv, nexus, tempDir, TestLive } from "./helpers.ts"

const QueueLive = LlmQueue.LlmQueue.layerNoDeps.pipe(
  Layer.provideMerge(Pgmq.Pgmq.layerNoDeps),
  Layer.provideMerge(TestLive)
)

const stats = (env: Record<string, string | undefined>) =>
  Effect.gen(function* () {
    const outcome = yield* nexus(["queue", "stats", "--json"], env)
    assert.strictEqual(outcome.code, 0, outcome.stderr)
    const parsed = JSON.parse(outcome.stdout) as {
      readonly pgmq: { readonly mode: string }
      readonly queues: ReadonlyArray<{ readonly queue: string; readonly length: number; readonly total: number }>
    }
    return { mode: parsed.pgmq.mode, queue: (name: string) => parsed.queues.find((entry) => entry.queue === name) }
  })

layer(QueueLive, { excludeTestServices: true, timeout: 120_000 })("nexus queue", (it) => {
  it.effect("db migrate installs pgmq and the LLM queues; queue send, stats and purge work on them", () =>
    Effect.gen(function* () {
      const env = yield* childEnv
      const migrate = yield* nexus(["db", "migrate"], env)
      assert.strictEqual(migrate.code, 0, migrate.stderr)
      assert.include(migrate.stdout, "Applied migration 0001_pgmq (@nexus/queue-pgmq)")
      assert.include(migrate.stdout, "Applied migration 0002_llm_queues (@nexus/queue-pgmq)")
      assert.include(migrate.stdout, "pgmq: Nexus's pgmq-compatible install (nexus 1, pgmq API 1.11.1)")

      const sent = yield* nexus(
        ["queue", "send", "Say hello", "--task", "chat", "--complexity", "simple", "--json"],
        env
      )
      assert.strictEqual(sent.code, 0, sent.stderr)
      const ids = JSON.parse(sent.stdout) as { readonly requestId: string; readonly replyTo: string }
      assert.strictEqual(ids.replyTo, "llm_results")
      const sql = yield* PgClient.PgClient
      const [row] = yield* sql<{ readonly message: Record<string, unknown> }>`SELECT message FROM pgmq.q_llm_requests`
      assert.strictEqual(row!.message["id"], ids.requestId)
      assert.deepStrictEqual(row!.message["messages"], [{ role: "user", content: "Say hello" }])

      const refused = yield* nexus(["queue", "send", "x", "--reply-to", "bad;name"], env)
      assert.strictEqual(refused.code, 1)
      assert.include(refused.stderr, "invalid characters")

      const before = yield* stats(env)
      assert.strictEqual(before.mode, "nexus")
      assert.strictEqual(before.queue("llm_requests")?.length, 1)
      assert.strictEqual(before.queue("llm_requests_dlq")?.length, 0)
      const human = yield* nexus(["queue", "stats"], env)
      assert.match(human.stdout, /llm_requests\s+1\s+1\s/)

      const purged = yield* nexus(["queue", "purge", "llm_requests"], env)
      assert.strictEqual(purged.code, 0, purged.stderr)
      assert.include(purged.stdout, "1 message(s) removed")
      const after = yield* stats(env)
      assert.strictEqual(after.queue("llm_requests")?.length, 0)
      assert.strictEqual(after.queue("llm_requests")?.total, 1)
      const missing = yield* nexus(["queue", "purge", "nowhere"], env)
      assert.strictEqual(missing.code, 1)
      assert.include(missing.stderr, 'the queue "nowhere" does not exist')
    })
  )

  it.effect("dlq list shows why a request was dead-lettered; dlq retry --file puts the fixed one back", () =>
    Effect.gen(function* () {
      const env = yield* childEnv
      assert.strictEqual((yield* nexus(["db", "migrate"], env)).code, 0)
      const pgmq = yield* Pgmq.Pgmq
      const queue = yield* LlmQueue.LlmQueue
      yield* pgmq.purgeQueue("llm_requests")
      const id = crypto.randomUUID()
      yield* pgmq.send("llm_requests", { version: 1, id, task_type: "chat", complexity: "hard", messages: [] })
      const worker = yield* Effect.forkChild(queue.consume(() => Effect.die("not reached")))
      while ((yield* queue.deadLetters).length === 0) yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(worker)

      const listed = yield* nexus(["queue", "dlq", "list", "--json"], env)
      assert.strictEqual(listed.code, 0, listed.stderr)
      const [letter] = JSON.parse(listed.stdout) as ReadonlyArray<{
        readonly id: string
        readonly problem: string
        readonly reason: string
      }>
      assert.strictEqual(letter!.problem, "invalid")
      assert.include(letter!.reason, "complexity")
      const human = yield* nexus(["queue", "dlq", "list"], env)
      assert.include(human.stdout, `${letter!.id}  `)

      const fixed = join(tempDir("nexus-cli-dlq-"), "fixed.json")
      writeFileSync(
        fixed,
        JSON.stringify({
          version: 1,
          id,
          task_type: "chat",
          complexity: "simple",
          messages: [{ role: "user", content: "hi" }]
        })
      )
      const retried = yield* nexus(["queue", "dlq", "retry", letter!.id, "--file", fixed], env)
      assert.strictEqual(retried.code, 0, retried.stderr)
      assert.include(retried.stdout, `Dead letter ${letter!.id} is back on llm_requests`)
      const [back] = yield* pgmq.read("llm_requests", { vt: 0, qty: 1 })
      assert.strictEqual((back!.message as Record<string, unknown>)["complexity"], "simple")
      assert.lengthOf(yield* queue.deadLetters, 0)
      const again = yield* nexus(["queue", "dlq", "retry", letter!.id], env)
      assert.strictEqual(again.code, 1)
      assert.include(again.stderr, `no dead letter ${letter!.id}`)
    })
  )

  it.effect("db pgmq-sql prints an install psql runs twice on a bare database, and plain pgmq SQL works on it", () =>
    Effect.gen(function* () {
      const env = yield* childEnv
      const printed = yield* nexus(["db", "pgmq-sql"], env)
      assert.strictEqual(printed.code, 0, printed.stderr)
      const file = join(tempDir("nexus-cli-pgmq-"), "pgmq.sql")
      writeFileSync(file, printed.stdout)
      const bare = yield* Effect.promise(() => TestDatabase.createTestDatabase())
      yield* Effect.addFinalizer(() => Effect.promise(() => bare.drop()))
      const psql = (...args: Array<string>) =>
        execFileSync("psql", [bare.url, "-X", "-q", "-v", "ON_ERROR_STOP=1", ...args], { encoding: "utf8" })
      psql("-f", file)
      psql("-f", file)
      const out = psql(
        "-At",
        "-c",
        "select pgmq.create('plain')",
        "-c",
        `select * from pgmq.send('plain', '{"hello": "sql"}'::jsonb)`,
        "-c",
        "select msg_id, read_ct, message->>'hello' from pgmq.read('plain', 30, 1)"
      )
      assert.include(out, "1|1|sql")
    })
  )
})

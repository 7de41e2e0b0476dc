// `nexus-worker` as a real child process against a scratch database and the emulator: what one
// request gets (a result, a wait, an error with what to do, a dead letter), the probes, the logs,
// the wake-up latency and a clean stop.
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { LlmQueue, Pgmq } from "@nexus/queue-pgmq"
import { Effect, type Schema } from "effect"
import { nexus } from "../../cli/test/helpers.ts"
import { awaitResults, fleetEnv, FleetLive, request, results, startWorker, stopped } from "./fleet.ts"

const json = (value: unknown) => value as Schema.Json

const get = (port: number, path: string) =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`)
    return { status: response.status, text: await response.text() }
  })

layer(FleetLive, { excludeTestServices: true, timeout: 180_000 })("nexus-worker", (it) => {
  it.effect("nexus-worker --help and nexus worker --help list every setting with its variable and default", () =>
    Effect.gen(function* () {
      const env = yield* fleetEnv
      const alone = yield* nexus(["worker", "--help"], env)
      assert.strictEqual(alone.code, 0, alone.stderr)
      for (const setting of [
        "--concurrency integer",
        "NEXUS_WORKER_CONCURRENCY; default 16",
        "NEXUS_WORKER_VISIBILITY_TIMEOUT; default 30",
        "NEXUS_WORKER_POLL_INTERVAL; default 5",
        "NEXUS_WORKER_MAX_ATTEMPTS; default 5",
        "NEXUS_WORKER_GRACE; default 30",
        "NEXUS_WORKER_PORT; default 9480",
        "NEXUS_LOG_FORMAT; default text",
        "NEXUS_LOG_CONTENT; default false",
        "OTEL_EXPORTER_OTLP_ENDPOINT"
      ]) {
        assert.include(alone.stdout, setting)
      }
      const worker = yield* startWorker(env, ["--help"], { ready: false })
      const own = yield* Effect.promise(() => worker.done)
      assert.strictEqual(own.code, 0, own.stderr)
      assert.strictEqual(own.stdout.replaceAll("nexus-worker", "X"), alone.stdout.replaceAll("nexus worker", "X"))
      const wrong = yield* startWorker(env, ["--poll-interval", "0"], { ready: false })
      const refused = yield* Effect.promise(() => wrong.done)
      assert.strictEqual(refused.code, 2)
      assert.include(refused.stderr, "--poll-interval must be at least 1 (it is 0)")
    }).pipe(Effect.scoped)
  )

  it.effect("without the queues a worker says to run nexus db migrate and exits 1", () =>
    Effect.gen(function* () {
      const env = yield* fleetEnv
      const sql = yield* PgClient.PgClient
      yield* sql`SELECT pgmq.drop_queue('llm_requests')`
      const worker = yield* startWorker(env, [], { ready: false })
      const outcome = yield* Effect.promise(() => worker.done)
      yield* sql`SELECT pgmq.create('llm_requests')`
      assert.strictEqual(outcome.code, 1, outcome.stderr)
      assert.include(outcome.stderr, 'the queue "llm_requests" does not exist')
      assert.include(outcome.stderr, "nexus db migrate")
    }).pipe(Effect.scoped)
  )

  it.effect(
    "serves a request with its text, usage, model, account and route; probes answer; no prompt text in the logs",
    () =>
      Effect.gen(function* () {
        const env = yield* fleetEnv
        const queue = yield* LlmQueue.LlmQueue
        const worker = yield* startWorker(env, ["--log-format", "json"])
        const health = yield* get(worker.port, "/healthz")
        assert.strictEqual(health.status, 200)
        const ready = yield* get(worker.port, "/readyz")
        assert.strictEqual(ready.status, 200, ready.text)
        assert.deepInclude(JSON.parse(ready.text), { ready: true, accounts: { usable: 1, total: 1 } })

        const sent = request("The secret prompt", { metadata: { prompt_cache_key: "conversation-7" } })
        yield* queue.enqueue(sent)
        const result = yield* queue.awaitResult(sent.id, { timeout: "20 seconds" })
        assert.strictEqual(result.status, "ok", JSON.stringify(result))
        assert.strictEqual(result.request_id, sent.id)
        assert.strictEqual((result.output as { readonly text: string }).text, "The secret prompt")
        assert.isString(result.model)
        assert.isString(result.account)
        assert.strictEqual(result.attempts, 1)
        assert.deepInclude(result.usage, { cached_tokens: 0, reasoning_tokens: 0 })
        const route = result["route"] as { readonly tries: number; readonly skipped: ReadonlyArray<unknown> }
        assert.strictEqual(route.tries, 1)
        assert.deepStrictEqual(route.skipped, [])
        const timings = result["timings"] as Record<string, number>
        assert.isAtLeast(timings["total_ms"]!, 0)
        const emulator = yield* Emulator.Emulator
        const upstream = yield* emulator.lastRequest("responses")
        assert.strictEqual(upstream._tag, "Some")
        assert.include(JSON.stringify(upstream._tag === "Some" ? upstream.value.body : null), "conversation-7")

        const metrics = yield* get(worker.port, "/metrics")
        assert.strictEqual(metrics.status, 200)
        assert.match(metrics.text, /nexus_worker_requests_total\{.*status="ok".*\} 1/)
        assert.match(metrics.text, /nexus_worker_in_flight 0/)
        assert.match(metrics.text, /nexus_queue_length\{queue="llm_requests"\} 0/)
        assert.match(metrics.text, /nexus_account_usable\{account="[^"]+"\} 1/)
        assert.match(metrics.text, /nexus_worker_request_duration_seconds_bucket/)
        assert.match(metrics.text, /nexus_router_requests_total/)

        const outcome = yield* stopped(worker)
        assert.strictEqual(outcome.code, 0, outcome.stderr)
        assert.notInclude(outcome.stderr, "secret prompt")
        const lines = outcome.stderr.split("\n").filter((line) => line.startsWith("{"))
        assert.isAbove(lines.length, 2)
        for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), line)
      }).pipe(Effect.scoped)
  )

  it.effect("with NEXUS_LOG_CONTENT=1 the prompt and output are logged; never otherwise", () =>
    Effect.gen(function* () {
      const env = yield* fleetEnv
      const queue = yield* LlmQueue.LlmQueue
      const worker = yield* startWorker({ ...env, NEXUS_LOG_CONTENT: "1" }, ["--log-level", "debug"])
      const sent = request("Visible on purpose")
      yield* queue.enqueue(sent)
      yield* queue.awaitResult(sent.id, { timeout: "20 seconds" })
      const outcome = yield* stopped(worker)
      assert.include(outcome.stderr, "Visible on purpose")
    }).pipe(Effect.scoped)
  )

  it.effect("with --gateway-port a worker also serves the OpenAI API, on the same accounts, and stops cleanly", () =>
    Effect.gen(function* () {
      const env = yield* fleetEnv
      const made = yield* nexus(["gateway", "keys", "create", `worker-${Date.now()}`, "--json"], env)
      assert.strictEqual(made.code, 0, made.stderr)
      const { key } = JSON.parse(made.stdout) as { readonly key: string }
      const worker = yield* startWorker(env, ["--gateway-port", "0"])
      const [, port] = yield* Effect.promise(() => worker.waitForLog(/gateway listening.*?:(\d+)/))
      const reply = yield* Effect.promise(async () => {
        const response = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "auto", messages: [{ role: "user", content: "from the worker's gateway" }] })
        })
        return {
          status: response.status,
          body: (await response.json()) as { choices: Array<{ message: { content: string } }> }
        }
      })
      assert.strictEqual(reply.status, 200)
      assert.strictEqual(reply.body.choices[0]!.message.content, "from the worker's gateway")
      // The queue is served as before, by the same process.
      const queue = yield* LlmQueue.LlmQueue
      const sent = request("and from the queue")
      yield* queue.enqueue(sent)
      const result = yield* queue.awaitResult(sent.id, { timeout: "20 seconds" })
      assert.strictEqual(result.status, "ok")
      const outcome = yield* stopped(worker)
      assert.strictEqual(outcome.code, 0, outcome.stderr)
      assert.notInclude(outcome.stderr, key)
    }).pipe(Effect.scoped)
  )

  it.effect("an idle worker wakes within 50 ms of a send, and makes a query every few seconds at most", () =>
    Effect.gen(function* () {
      const env = yield* fleetEnv
      const queue = yield* LlmQueue.LlmQueue
      const sql = yield* PgClient.PgClient
      const worker = yield* startWorker(env, ["--poll-interval", "5"])
      // Idle: count the transactions on the database over 15 s. A backend reports its counts at
      // most every second, and an idle one after 10 s: the count starts once the start-up's are in.
      yield* Effect.sleep("11 seconds")
      const commits = sql<{ readonly commits: number }>`
        SELECT xact_commit::int AS commits FROM pg_stat_database WHERE datname = current_database()`
      const before = (yield* commits)[0]!.commits
      yield* Effect.sleep("15 seconds")
      // The second count is itself one transaction; the worker's reads every 5 s make 3, and the
      // router's pool reads everything (4 reads) once every 30 s, which may fall in the window.
      const idle = (yield* commits)[0]!.commits - before - 1
      console.log(`idle worker: ${idle} transactions in 15 s`)
      assert.isAtMost(idle, 8)

      const latencies: Array<number> = []
      for (let i = 0; i < 10; i++) {
        const sent = request(`wake ${i}`)
        yield* queue.enqueue(sent)
        const result = yield* queue.awaitResult(sent.id, { timeout: "20 seconds" })
        latencies.push((result["timings"] as Record<string, number>)["queued_ms"]!)
        yield* Effect.sleep("300 millis")
      }
      latencies.sort((a, b) => a - b)
      console.log(`wake-up latency (send → pick-up), 10 sends: ${latencies.join(", ")} ms`)
      // The median: under a full CI run (every package's tests at once on two cores) a single
      // pick-up can wait for the event loop; the figures on a quiet machine are in the bench.
      assert.isBelow(latencies[5]!, 50)
      yield* stopped(worker)
    }).pipe(Effect.scoped)
  )

  it.effect(
    "a request past its deadline gets an error result without an upstream call; one that runs out while streaming too",
    () =>
      Effect.gen(function* () {
        const env = yield* fleetEnv
        const queue = yield* LlmQueue.LlmQueue
        const emulator = yield* Emulator.Emulator
        const worker = yield* startWorker(env)
        const before = (yield* emulator.counters).requests["responses"]?.total ?? 0
        const late = request("too late", { deadline: new Date(Date.now() - 1000).toISOString() })
        yield* queue.enqueue(late)
        const lateResult = yield* queue.awaitResult(late.id, { timeout: "20 seconds" })
        assert.strictEqual(lateResult.status, "error")
        assert.deepInclude(lateResult.error, { tag: "DeadlineExceeded", retryable: false })
        assert.strictEqual((yield* emulator.counters).requests["responses"]?.total ?? 0, before)

        yield* emulator.injectFault({ kind: "slow_first_byte", delayMs: 5000, times: 1 })
        const slow = request("slow", { deadline: new Date(Date.now() + 1000).toISOString() })
        const started = Date.now()
        yield* queue.enqueue(slow)
        const slowResult = yield* queue.awaitResult(slow.id, { timeout: "20 seconds" })
        assert.deepInclude(slowResult.error, { tag: "DeadlineExceeded", retryable: false })
        assert.include(slowResult.error!.message, "before its turn finished")
        assert.isBelow(Date.now() - started, 4000)
        yield* stopped(worker)
      }).pipe(Effect.scoped)
  )

  it.effect("an unavailable backend is retried with backoff, then answered retryable after the last attempt", () =>
    Effect.gen(function* () {
      const env = { ...(yield* fleetEnv), NEXUS_CODEX_ATTEMPTS: "1" }
      const queue = yield* LlmQueue.LlmQueue
      const emulator = yield* Emulator.Emulator
      const worker = yield* startWorker(env, ["--max-attempts", "3", "--backoff", "0.2", "--poll-interval", "1"])
      yield* emulator.injectFault({ kind: "server_error", times: 2 })
      // One model, one account: only the worker's retries can serve it.
      const recovers = request("recovers", { model: "gpt-6-luna" })
      yield* queue.enqueue(recovers)
      const ok = yield* queue.awaitResult(recovers.id, { timeout: "30 seconds" })
      assert.strictEqual(ok.status, "ok", JSON.stringify(ok))
      assert.strictEqual(ok.attempts, 3)

      yield* emulator.injectFault({ kind: "server_error", probability: 1 })
      const fails = request("never", { model: "gpt-6-luna" })
      yield* queue.enqueue(fails)
      const failed = yield* queue.awaitResult(fails.id, { timeout: "30 seconds" })
      assert.strictEqual(failed.status, "error")
      assert.strictEqual(failed.attempts, 3)
      assert.isTrue(failed.error!.retryable)
      const metrics = yield* get(worker.port, "/metrics")
      assert.match(metrics.text, /nexus_worker_put_off_total\{reason="backoff"\} 4/)
      yield* emulator.clearFaults
      yield* stopped(worker)
    }).pipe(Effect.scoped)
  )

  it.effect(
    "a usage limit on every account: the request waits for the reset, then is served; past its deadline it is answered at once",
    () =>
      Effect.gen(function* () {
        const env = yield* fleetEnv
        const queue = yield* LlmQueue.LlmQueue
        const emulator = yield* Emulator.Emulator
        const worker = yield* startWorker(env, ["--poll-interval", "1"])
        yield* emulator.injectFault({ kind: "usage_limit", resetsInSeconds: 3, times: 1 })
        const waits = request("waits for the reset")
        const sent = Date.now()
        yield* queue.enqueue(waits)
        const served = yield* queue.awaitResult(waits.id, { timeout: "30 seconds" })
        assert.strictEqual(served.status, "ok", JSON.stringify(served))
        assert.strictEqual(served.attempts, 2)
        assert.isAtLeast(Date.now() - sent, 2000)

        yield* emulator.injectFault({ kind: "usage_limit", resetsInSeconds: 600, times: 1 })
        const hurried = request("cannot wait", { deadline: new Date(Date.now() + 60_000).toISOString() })
        yield* queue.enqueue(hurried)
        const answered = yield* queue.awaitResult(hurried.id, { timeout: "30 seconds" })
        assert.strictEqual(answered.status, "error")
        assert.isTrue(answered.error!.retryable)
        assert.isString(answered.error!.resets_at)
        assert.isAbove(Date.parse(answered.error!.resets_at!), Date.now() + 500_000)
        yield* stopped(worker)
      }).pipe(Effect.scoped)
  )

  it.effect("every account needing a sign-in is answered at once, saying to run nexus login", () =>
    Effect.gen(function* () {
      const env = yield* fleetEnv
      const queue = yield* LlmQueue.LlmQueue
      const emulator = yield* Emulator.Emulator
      const worker = yield* startWorker(env)
      yield* emulator.injectFault({ kind: "unauthorized", probability: 1 })
      yield* emulator.injectFault({ kind: "refresh_invalidated", probability: 1 })
      const sent = request("signed out")
      yield* queue.enqueue(sent)
      const result = yield* queue.awaitResult(sent.id, { timeout: "30 seconds" })
      assert.strictEqual(result.status, "error", JSON.stringify(result))
      assert.isFalse(result.error!.retryable)
      assert.strictEqual(result.attempts, 1)
      assert.include(result.error!.message, "nexus login")
      const metrics = yield* get(worker.port, "/metrics")
      assert.match(metrics.text, /nexus_token_refreshes_total\{outcome="rejected"\} 1/)
      // The pool learns of the sign-in's new status from Postgres's notification: not ready then.
      let ready = yield* get(worker.port, "/readyz")
      for (let tries = 0; ready.status === 200 && tries < 50; tries++) {
        yield* Effect.sleep("100 millis")
        ready = yield* get(worker.port, "/readyz")
      }
      assert.strictEqual(ready.status, 503)
      assert.include(ready.text, "nexus login")
      yield* emulator.clearFaults
      yield* stopped(worker)
    }).pipe(Effect.scoped)
  )

  it.effect("each kind of malformed message is dead-lettered with its reason; the worker goes on", () =>
    Effect.gen(function* () {
      const env = { ...(yield* fleetEnv), NEXUS_QUEUE_MAX_BYTES: "4096" }
      const pgmq = yield* Pgmq.Pgmq
      const queue = yield* LlmQueue.LlmQueue
      const worker = yield* startWorker(env)
      const valid = request("fine")
      yield* pgmq.send("llm_requests", "just a string")
      yield* pgmq.send("llm_requests", [1, 2, 3])
      yield* pgmq.send(
        "llm_requests",
        json({ ...request("big"), messages: [{ role: "user", content: "x".repeat(5000) }] })
      )
      yield* pgmq.send("llm_requests", json({ ...request("v2"), version: 2 }))
      yield* pgmq.send("llm_requests", json({ ...request("hard"), complexity: "hard" }))
      // No result could ever be sent to it: refused before any upstream call.
      yield* pgmq.send("llm_requests", json({ ...request("nowhere"), reply_to: "no;such queue" }))
      const unsupported = request("audio", {
        messages: [{ role: "user", content: [{ type: "input_audio", data: "…" }] }]
      })
      yield* pgmq.send("llm_requests", json(unsupported))
      yield* pgmq.send("llm_requests", json(valid))
      const ok = yield* queue.awaitResult(valid.id, { timeout: "20 seconds" })
      assert.strictEqual(ok.status, "ok")
      const refused = yield* queue.awaitResult(unsupported.id, { timeout: "20 seconds" })
      assert.deepInclude(refused.error, { tag: "UnsupportedRequest", retryable: false })
      let letters = yield* queue.deadLetters
      while (letters.length < 6) {
        yield* Effect.sleep("100 millis")
        letters = yield* queue.deadLetters
      }
      assert.deepStrictEqual(letters.map((entry) => entry.letter.problem).sort(), [
        "invalid",
        "invalid",
        "not_json",
        "not_json",
        "too_large",
        "unknown_version"
      ])
      // The senders that can be told are told: an error result for each of the three with an id
      // (the two results awaited above were taken off the queue).
      const told = yield* awaitResults(3)
      assert.deepStrictEqual(
        told.map((result) => result.error?.tag),
        ["InvalidMessage", "InvalidMessage", "InvalidMessage"]
      )
      assert.isNull(worker.child.exitCode)
      const outcome = yield* stopped(worker)
      assert.strictEqual(outcome.code, 0)
      assert.lengthOf(yield* results, 3)
    }).pipe(Effect.scoped)
  )
})

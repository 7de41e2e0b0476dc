// Stopping `nexus-worker`: SIGTERM lets the requests in hand finish and exits 0; past the grace
// period they are put back at once for another worker; a second signal exits at once and the
// visibility timeout brings them back. Nothing is lost or answered twice either way.
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { LlmQueue } from "@nexus/queue-pgmq"
import { Effect } from "effect"
import { awaitResults, fleetEnv, FleetLive, request, results, startWorker, type WorkerProcess } from "./fleet.ts"

/** Waits until the worker holds `count` requests (its in-flight gauge). */
const holding = (worker: WorkerProcess, count: number) =>
  Effect.promise(async () => {
    while (true) {
      const text = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text()
      if (new RegExp(`^nexus_worker_in_flight ${count}$`, "m").test(text)) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })

/** How many turns the emulator has received so far. */
const turnsSoFar = Effect.gen(function* () {
  const emulator = yield* Emulator.Emulator
  return (yield* emulator.counters).requests["responses"]?.total ?? 0
})

/** Waits until the emulator has received `count` turns in all (the slow ones are under way). */
const upstreamTurns = (count: number) =>
  Effect.gen(function* () {
    while ((yield* turnsSoFar) < count) yield* Effect.sleep("20 millis")
  })

/** The requests still on `llm_requests`: their read count and whether they are visible now. */
const onQueue = Effect.gen(function* () {
  const sql = yield* PgClient.PgClient
  return yield* sql<{ readonly read_ct: number; readonly visible: boolean }>`
    SELECT read_ct, vt <= clock_timestamp() AS visible FROM pgmq.q_llm_requests ORDER BY msg_id`
})

const sendAll = (count: number) =>
  Effect.gen(function* () {
    const queue = yield* LlmQueue.LlmQueue
    const sent = Array.from({ length: count }, (_, i) => request(`stop ${i}`))
    yield* queue.enqueueBatch(sent)
    return sent.map((entry) => entry.id)
  })

layer(FleetLive, { excludeTestServices: true, timeout: 180_000 })("stopping nexus-worker", (it) => {
  it.effect("SIGTERM: no more reads, the requests in hand finish and are answered, exit 0", () =>
    Effect.gen(function* () {
      const env = yield* fleetEnv
      const emulator = yield* Emulator.Emulator
      yield* emulator.injectFault({ kind: "slow_first_byte", delayMs: 1500, probability: 1 })
      const worker = yield* startWorker(env, ["--concurrency", "4"])
      const ids = yield* sendAll(6)
      yield* holding(worker, 4)
      worker.child.kill("SIGTERM")
      const outcome = yield* Effect.promise(() => worker.done)
      assert.strictEqual(outcome.code, 0, outcome.stderr)
      assert.include(outcome.stderr, "SIGTERM: stopping")
      const answered = yield* results
      assert.lengthOf(answered, 4)
      assert.isTrue(answered.every((result) => result.status === "ok" && ids.includes(result.request_id)))
      // The two it never read are still there, untouched.
      assert.deepStrictEqual(yield* onQueue, [
        { read_ct: 0, visible: true },
        { read_ct: 0, visible: true }
      ])
    }).pipe(Effect.scoped)
  )

  it.effect("past the grace period the requests in hand are put back at once, and another worker answers them", () =>
    Effect.gen(function* () {
      const env = yield* fleetEnv
      const emulator = yield* Emulator.Emulator
      yield* emulator.injectFault({ kind: "slow_first_byte", delayMs: 20_000, times: 3 })
      const worker = yield* startWorker(env, ["--grace", "0.5"])
      const before = yield* turnsSoFar
      const ids = yield* sendAll(3)
      yield* holding(worker, 3)
      yield* upstreamTurns(before + 3)
      const stoppedAt = Date.now()
      worker.child.kill("SIGTERM")
      const outcome = yield* Effect.promise(() => worker.done)
      assert.strictEqual(outcome.code, 0, outcome.stderr)
      assert.isBelow(Date.now() - stoppedAt, 5000)
      assert.include(outcome.stderr, "grace period over")
      assert.lengthOf(yield* results, 0)
      assert.deepStrictEqual(
        yield* onQueue,
        ids.map(() => ({ read_ct: 1, visible: true }))
      )
      const next = yield* startWorker(env)
      const answered = yield* awaitResults(3)
      assert.deepStrictEqual(answered.map((result) => result.request_id).sort(), [...ids].sort())
      assert.isTrue(answered.every((result) => result.status === "ok" && result.attempts === 2))
      next.child.kill("SIGTERM")
    }).pipe(Effect.scoped)
  )

  it.effect("a second signal exits at once; the visibility timeout brings the requests back for another worker", () =>
    Effect.gen(function* () {
      const env = yield* fleetEnv
      const emulator = yield* Emulator.Emulator
      yield* emulator.injectFault({ kind: "slow_first_byte", delayMs: 20_000, times: 2 })
      const worker = yield* startWorker(env, ["--visibility-timeout", "2"])
      const before = yield* turnsSoFar
      const ids = yield* sendAll(2)
      yield* holding(worker, 2)
      yield* upstreamTurns(before + 2)
      worker.child.kill("SIGTERM")
      yield* Effect.promise(() => worker.waitForLog(/SIGTERM: stopping/))
      const signalledAt = Date.now()
      worker.child.kill("SIGINT")
      const outcome = yield* Effect.promise(() => worker.done)
      assert.strictEqual(outcome.code, 130)
      assert.isBelow(Date.now() - signalledAt, 2000)
      assert.include(outcome.stderr, "SIGINT again: exiting now")
      const next = yield* startWorker(env, ["--poll-interval", "1"])
      const answered = yield* awaitResults(2)
      assert.deepStrictEqual(answered.map((result) => result.request_id).sort(), [...ids].sort())
      assert.isTrue(answered.every((result) => result.status === "ok" && result.attempts === 2))
      next.child.kill("SIGTERM")
    }).pipe(Effect.scoped)
  )
})

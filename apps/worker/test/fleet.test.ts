// Two `nexus-worker` processes sharing the queue, and everything that can go wrong around them:
// a worker killed with SIGKILL mid-stream, every database connection terminated, the backend
// failing in every way it knows. Whatever happens, each request gets exactly one result.
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { type Contract, LlmQueue } from "@nexus/queue-pgmq"
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../cli/test/helpers.ts"
import { signIn } from "../../cli/test/session.ts"
import { awaitResults, fleetEnv, FleetLive, request, roomy, startWorker, stopped, type WorkerProcess } from "./fleet.ts"

/** Sends `count` requests in batches of 100; answers their ids. */
const sendMany = (count: number, extra: Partial<Contract.LlmRequest> = {}) =>
  Effect.gen(function* () {
    const queue = yield* LlmQueue.LlmQueue
    const ids = new Set<string>()
    for (let sent = 0; sent < count; sent += 100) {
      const batch = Array.from({ length: Math.min(100, count - sent) }, (_, i) => request(`request ${sent + i}`, extra))
      yield* queue.enqueueBatch(batch)
      for (const entry of batch) ids.add(entry.id)
    }
    return ids
  })

/** Every id answered exactly once, nothing else answered, every request archived and none left. */
const assertExactlyOnce = (ids: ReadonlySet<string>, answered: ReadonlyArray<Contract.LlmResult>) =>
  Effect.gen(function* () {
    const counts = new Map<string, number>()
    for (const result of answered) counts.set(result.request_id, (counts.get(result.request_id) ?? 0) + 1)
    const twice = [...counts].filter(([, count]) => count > 1)
    assert.deepStrictEqual(twice, [], "requests answered more than once")
    assert.strictEqual(counts.size, ids.size)
    for (const id of ids) assert.isTrue(counts.has(id), `no result for ${id}`)
    const sql = yield* PgClient.PgClient
    const [left] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM pgmq.q_llm_requests`
    const [archived] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM pgmq.a_llm_requests`
    assert.strictEqual(left!.n, 0)
    assert.strictEqual(archived!.n, ids.size)
  })

/** How many requests a worker has answered, from its /metrics. */
const answeredBy = (worker: WorkerProcess) =>
  Effect.promise(async () => {
    const text = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text()
    let total = 0
    for (const match of text.matchAll(/^nexus_worker_requests_total\{[^}]*\} (\d+)/gm)) total += Number(match[1])
    return total
  })

layer(FleetLive, { excludeTestServices: true, timeout: 300_000 })("a fleet of nexus-worker processes", (it) => {
  it.effect("1,000 requests through 2 workers: 1,000 results, each exactly once, every request archived", () =>
    Effect.gen(function* () {
      const env = yield* fleetEnv
      const one = yield* startWorker(env)
      const two = yield* startWorker(env)
      const ids = yield* sendMany(1000)
      const answered = yield* awaitResults(1000)
      assert.isTrue(answered.every((result) => result.status === "ok"))
      yield* Effect.sleep("1 second")
      yield* assertExactlyOnce(ids, yield* awaitResults(1000))
      const [byOne, byTwo] = [yield* answeredBy(one), yield* answeredBy(two)]
      console.log(`1,000 requests: worker one answered ${byOne}, worker two ${byTwo}`)
      assert.strictEqual(byOne + byTwo, 1000)
      assert.isAbove(byOne, 0)
      assert.isAbove(byTwo, 0)
      for (const worker of [one, two]) assert.strictEqual((yield* stopped(worker)).code, 0)
    }).pipe(Effect.scoped)
  )

  it.effect("SIGKILL of a worker mid-stream, three times while two run: still exactly one result per request", () =>
    Effect.gen(function* () {
      const env = yield* fleetEnv
      const emulator = yield* Emulator.Emulator
      yield* emulator.injectFault({ kind: "slow_first_byte", delayMs: 300, probability: 1 })
      const args = ["--visibility-timeout", "2", "--poll-interval", "1"]
      let victim = yield* startWorker(env, args)
      const survivor = yield* startWorker(env, args)
      const ids = yield* sendMany(300)
      for (let round = 1; round <= 3; round++) {
        yield* awaitResults(round * 50)
        victim.child.kill("SIGKILL")
        yield* Effect.promise(() => victim.done)
        victim = yield* startWorker(env, args)
      }
      const answered = yield* awaitResults(300)
      yield* Effect.sleep("3 seconds")
      yield* assertExactlyOnce(ids, yield* awaitResults(300))
      const redelivered = answered.filter((result) => result.attempts > 1).length
      console.log(`SIGKILL ×3: ${redelivered} of 300 requests were served on a later delivery`)
      assert.isAbove(redelivered, 0)
      assert.isTrue(answered.every((result) => result.status === "ok"))
      for (const worker of [victim, survivor]) assert.strictEqual((yield* stopped(worker)).code, 0)
    }).pipe(Effect.scoped)
  )

  it.effect(
    "every worker connection terminated mid-run, twice: the workers reconnect, nothing lost or duplicated",
    () =>
      Effect.gen(function* () {
        const base = yield* fleetEnv
        const env = { ...base, DATABASE_URL: `${base["DATABASE_URL"]}?application_name=nexus-worker-under-test` }
        const sql = yield* PgClient.PgClient
        const emulator = yield* Emulator.Emulator
        yield* emulator.injectFault({ kind: "slow_first_byte", delayMs: 100, probability: 1 })
        const args = ["--visibility-timeout", "3", "--poll-interval", "1"]
        const workers = [yield* startWorker(env, args), yield* startWorker(env, args)]
        const ids = yield* sendMany(400)
        let terminated = 0
        for (const after of [100, 250]) {
          yield* awaitResults(after)
          const [killed] = yield* sql<{ readonly n: number }>`
          SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE application_name = 'nexus-worker-under-test'`
          terminated += killed!.n
        }
        console.log(`pg_terminate_backend: ${terminated} worker connections terminated in two rounds`)
        assert.isAtLeast(terminated, 4)
        const answered = yield* awaitResults(400)
        yield* Effect.sleep("4 seconds")
        yield* assertExactlyOnce(ids, yield* awaitResults(400))
        assert.isTrue(answered.every((result) => result.status === "ok"))
        for (const worker of workers) {
          assert.isNull(worker.child.exitCode, "a worker exited")
          assert.strictEqual((yield* stopped(worker)).code, 0)
        }
      }).pipe(Effect.scoped)
  )

  it.effect(
    "the backend failing 10 % of the time in each of six ways, over two accounts: one result per request, each with the right status",
    () =>
      Effect.gen(function* () {
        const env = yield* fleetEnv
        const second = yield* signIn(env, `spare-${Date.now()}`, "pro")
        yield* roomy
        const policy = join(tempDir("nexus-worker-chaos-"), "routes.yaml")
        writeFileSync(
          policy,
          [
            "rules:",
            "  - candidates: [{ model: gpt-6-luna }, { model: gpt-5.5 }]",
            // Failures are the point here: a cooldown would only make the test wait.
            "cooldown: { failures: 1000, window: 1 minute, duration: 1 second }"
          ].join("\n")
        )
        const chaosEnv = { ...env, NEXUS_ROUTER_CONFIG: policy, NEXUS_CODEX_IDLE_TIMEOUT: "1 second" }
        const emulator = yield* Emulator.Emulator
        for (const fault of [
          { kind: "unauthorized" },
          { kind: "usage_limit", account: second, resetsInSeconds: 2 },
          { kind: "server_error" },
          { kind: "stream_cut", afterEvents: 3, abort: true },
          { kind: "malformed_event", afterEvents: 2 },
          { kind: "idle", afterEvents: 2 }
        ] as const) {
          yield* emulator.injectFault({ ...fault, probability: 0.1 })
        }
        const args = ["--poll-interval", "1", "--backoff", "0.2", "--backoff-max", "1"]
        const workers = [yield* startWorker(chaosEnv, args), yield* startWorker(chaosEnv, args)]
        const ids = yield* sendMany(200)
        const answered = yield* awaitResults(200)
        yield* Effect.sleep("2 seconds")
        yield* assertExactlyOnce(ids, yield* awaitResults(200))
        const faults = (yield* emulator.counters).faultsInjected
        const ok = answered.filter((result) => result.status === "ok").length
        const byAccount = new Map<string, number>()
        for (const result of answered)
          byAccount.set(result.account ?? "none", (byAccount.get(result.account ?? "none") ?? 0) + 1)
        console.log(
          `chaos: ${faults} faults injected; ${ok} of 200 ok; retried on a later delivery: ${answered.filter((result) => result.attempts > 1).length}; by account ${JSON.stringify(Object.fromEntries(byAccount))}`
        )
        assert.isAbove(faults, 30)
        // The right status: ok, or (after every attempt) an error that says trying again may help.
        for (const result of answered) {
          if (result.status === "error") {
            assert.isTrue(result.error!.retryable, JSON.stringify(result.error))
            assert.strictEqual(result.attempts, 5)
          }
        }
        assert.isAtLeast(ok, 190)
        yield* emulator.clearFaults
        for (const worker of workers) assert.strictEqual((yield* stopped(worker)).code, 0)
      }).pipe(Effect.scoped)
  )
})

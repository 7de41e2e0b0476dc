// The fleet under test: a scratch database with the queues and one signed-in account, the
// emulator, and `nexus-worker` processes started as real children.
import { assert } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { LlmQueue, Pgmq, type Contract } from "@nexus/queue-pgmq"
import { Effect, Layer } from "effect"
import { childEnv, type Env, nexus, type Running, startBin, TestLive } from "../../cli/test/helpers.ts"
import { envFromIssued, reset } from "../../cli/test/session.ts"

/** `nexus-worker` as it ships: the bundle `test/bundle.setup.ts` has just built. */
const WORKER = new URL("../dist/nexus-worker.mjs", import.meta.url).pathname

/** The test's own queue client, on the scratch database (as an agent would be). */
export const FleetLive = LlmQueue.LlmQueue.layerNoDeps.pipe(
  Layer.provideMerge(Pgmq.Pgmq.layerNoDeps),
  Layer.provideMerge(TestLive)
)

/** Every emulator account with room for thousands of requests (a plan's own budget is small). */
export const roomy = Effect.gen(function* () {
  const emulator = yield* Emulator.Emulator
  for (const account of yield* emulator.accounts) {
    yield* emulator.updateAccount(account.id, { budget: { primary: 1_000_000, secondary: 1_000_000 } })
  }
})

/** A clean start: no sign-in, no fault, empty queues; then one account signed in. Answers the children's environment. */
export const fleetEnv = Effect.gen(function* () {
  yield* reset
  yield* roomy
  const { env: tokens } = yield* envFromIssued()
  const env: Env = { ...(yield* childEnv), ...tokens }
  const migrate = yield* nexus(["db", "migrate"], env)
  assert.strictEqual(migrate.code, 0, migrate.stderr)
  assert.strictEqual((yield* nexus(["login", "--from-env"], env)).code, 0)
  const sql = yield* PgClient.PgClient
  for (const queue of ["llm_requests", "llm_results", "llm_requests_dlq"]) {
    yield* sql`DELETE FROM ${sql("pgmq")}.${sql(`q_${queue}`)}`
    yield* sql`DELETE FROM ${sql("pgmq")}.${sql(`a_${queue}`)}`
  }
  return env
})

/** A running worker: its child, and the port of its probes. */
export interface WorkerProcess extends Running {
  readonly port: number
}

/**
 * Starts `nexus-worker args…` with its probes on a free port; resolves once it serves (or at
 * once, with `ready: false`). The child is killed after `timeoutMs`.
 */
export const startWorker = (
  env: Env,
  args: ReadonlyArray<string> = [],
  options: { readonly ready?: boolean; readonly timeoutMs?: number } = {}
) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<WorkerProcess> => {
      const running = startBin(WORKER, ["--port", "0", ...args], env, options.timeoutMs ?? 110_000)
      if (options.ready === false) return { ...running, port: 0 }
      const [, port] = await running.waitForLog(/probes listening.*?:(\d+)/)
      await running.waitForLog(/worker started/)
      return { ...running, port: Number(port) }
    }),
    // A test that failed leaves no worker behind, and shows what it logged.
    (worker, exit) =>
      Effect.sync(() => {
        if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGKILL")
        if (exit._tag === "Failure") console.error(`nexus-worker ${worker.child.pid} logged:\n${worker.stderr()}`)
      })
  )

/** Sends SIGTERM and waits for the worker to exit. */
export const stopped = (worker: Running) =>
  Effect.promise(() => {
    worker.child.kill("SIGTERM")
    return worker.done
  })

/** A valid request (the queue's tests' own). */
export { request } from "../../../packages/queue-pgmq/test/helpers.ts"

/** Every result on `llm_results` (read from its table: nothing consumed), by request id. */
export const results = Effect.gen(function* () {
  const sql = yield* PgClient.PgClient
  const rows = yield* sql<{
    readonly message: Contract.LlmResult
  }>`SELECT message FROM pgmq.q_llm_results ORDER BY msg_id`
  return rows.map((row) => row.message)
})

/** Waits until `llm_results` holds `count` results (or more). */
export const awaitResults = (count: number) =>
  Effect.gen(function* () {
    while (true) {
      const found = yield* results
      if (found.length >= count) return found
      yield* Effect.sleep("100 millis")
    }
  })

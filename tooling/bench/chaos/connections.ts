// The database taken from under the workers while they stream:
// - `db-restart`: the whole server stopped and started again (every connection cut, nothing
//   accepted for a while);
// - `terminate`: every connection of the workers ended at once by pg_terminate_backend, three
//   times (they are found by the application_name their DATABASE_URL gives them).
// The workers must reconnect by themselves (none may exit: scenario.ts checks every worker) and
// finish: no request lost, none answered twice.
import type { Fleet } from "./fleet.ts"
import { awaitAll, awaitResults, type Scenario, Skipped } from "./scenario.ts"

const ARGS = ["--visibility-timeout", "3", "--poll-interval", "1"]

/** Two workers streaming `total` requests, each held back `delayMs` by the emulator. */
const underLoad = async (fleet: Fleet, total: number, delayMs: number) => {
  await fleet.admin("/faults", { kind: "slow_first_byte", delayMs, probability: 1 })
  await Promise.all([fleet.startWorker(ARGS), fleet.startWorker(ARGS)])
  await fleet.sendRequests(total)
}

export const dbRestart: Scenario = {
  name: "db-restart",
  limitSeconds: (quick) => (quick ? 45 : 75),
  run: async (context) => {
    if (!context.database.restartable) {
      throw new Skipped(
        "set NEXUS_CHAOS_RESTART_CMD (e.g. 'pg_ctlcluster 15 main restart') to restart the DATABASE_URL server"
      )
    }
    const total = context.quick ? 300 : 1000
    // Durable commits: an immediate stop (a restart command may use one) loses no acknowledged send.
    const fleet = await context.fleet({ durable: true })
    await underLoad(fleet, total, 200)
    await awaitResults(context, fleet, Math.floor(total / 3))
    const stopped = performance.now()
    await context.database.restart()
    context.note(`server restarted in ${((performance.now() - stopped) / 1000).toFixed(1)} s under load`)
    await awaitAll(context, fleet, 4000)
  }
}

export const terminate: Scenario = {
  name: "terminate",
  limitSeconds: (quick) => (quick ? 35 : 60),
  run: async (context) => {
    const total = context.quick ? 300 : 1000
    const fleet = await context.fleet()
    await underLoad(fleet, total, 100)
    const rounds: Array<number> = []
    for (const share of [0.25, 0.5, 0.75]) {
      await awaitResults(context, fleet, Math.floor(total * share))
      // One statement: every connection of both workers ends at the same moment.
      const { rows } = await fleet.pool.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
         WHERE application_name = $1 AND datname = $2`,
        [fleet.appName, fleet.database]
      )
      rounds.push(rows[0]!.n)
    }
    context.note(`worker connections terminated: ${rounds.join(", ")} in ${rounds.length} rounds`)
    // A round that found no connection of the workers tested nothing.
    if (rounds.some((n) => n === 0)) {
      context.fail(`a round found no worker connection to terminate (${rounds.join(", ")})`)
    }
    await awaitAll(context, fleet, 4000)
  }
}

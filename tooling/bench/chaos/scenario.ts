// How a scenario runs: it sets up its fleet, makes its trouble and waits for every message to be
// answered (within its time limit); then the queues are counted (tally.ts) and the fleet closed,
// whatever happened. A scenario adds its own failures (a worker that exited, a fault that never
// fired…) and notes for the detail of its line.
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { BenchDatabase } from "../database.ts"
import { type Fleet, type FleetOptions, makeFleet } from "./fleet.ts"
import { redact } from "./processes.ts"
import { failures, progress, type Tally, tally } from "./tally.ts"

export interface Context {
  readonly quick: boolean
  readonly database: BenchDatabase
  /** performance.now() past which waiting is a failure. */
  readonly deadline: number
  /** Why waiting is pointless (every worker of the fleet exited by itself), if it is. */
  readonly stuck: () => string | undefined
  /** Sets up this scenario's fleet (one per scenario). */
  readonly fleet: (options?: FleetOptions) => Promise<Fleet>
  /** Adds a failure of the scenario's own (beside lost / duplicated / dead letters). */
  readonly fail: (problem: string) => void
  /** Adds a fact to the detail of the scenario's line. */
  readonly note: (fact: string) => void
}

export interface Scenario {
  readonly name: string
  /** Seconds it may take, set-up and checks included. */
  readonly limitSeconds: (quick: boolean) => number
  readonly run: (context: Context) => Promise<void>
}

export interface Outcome {
  readonly scenario: string
  readonly sent: number
  readonly results: number
  readonly duplicates: number
  readonly lost: number
  readonly deadLettered: number
  readonly expectedDeadLettered: number
  readonly passed: boolean
  readonly skipped?: boolean
  readonly seconds: number
  readonly detail: string
}

/** The deadline passed: the scenario fails with this (not the whole run). */
export class TimedOut extends Error {}

/** Thrown by a scenario that cannot run here (not a failure). */
export class Skipped extends Error {}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Polls `ready` every `everyMs` until it holds; TimedOut past the context's deadline. A poll that
 * fails (the server restarting) counts as not ready.
 */
export const until = async (context: Context, what: string, ready: () => Promise<boolean>, everyMs = 200) => {
  let failure = ""
  while (true) {
    try {
      if (await ready()) return
      failure = ""
    } catch (error) {
      failure = ` (the last poll failed: ${error instanceof Error ? error.message : String(error)})`
    }
    if (performance.now() > context.deadline) throw new TimedOut(`while waiting for ${what}${failure}`)
    const stuck = context.stuck()
    if (stuck !== undefined) throw new Error(`${stuck} while waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** How many results are on llm_results so far. */
export const resultCount = async (fleet: Fleet) =>
  Number((await fleet.pool.query<{ n: string }>("SELECT count(*) AS n FROM pgmq.q_llm_results")).rows[0]!.n)

/** Waits until `count` results are in. */
export const awaitResults = (context: Context, fleet: Fleet, count: number) =>
  until(context, `${count} results`, async () => (await resultCount(fleet)) >= count)

/**
 * Waits until every expected result and dead letter is in and llm_requests is empty, then
 * `settleMs` more (past a visibility timeout: a request taken over from a slow worker would get its
 * second result then, if the product let it). When the queue stays empty for 3 s with something
 * still missing, nothing more can come: the wait ends and the count shows what was lost.
 */
export const awaitAll = async (context: Context, fleet: Fleet, settleMs: number) => {
  const expected = fleet.expectation
  let emptySince: number | undefined
  await until(context, "every result", async () => {
    const now = await progress(fleet.pool)
    if (now.pending > 0) emptySince = undefined
    else emptySince ??= performance.now()
    const done = now.results >= expected.results.size && now.letters >= expected.deadLetters.size
    return (done && now.pending === 0) || (emptySince !== undefined && performance.now() - emptySince > 3000)
  })
  await sleep(settleMs)
}

/** Writes the logs of a failed scenario's workers and emulator into `dir` (tokens redacted). */
const keepLogs = (dir: string, name: string, fleet: Fleet) => {
  mkdirSync(dir, { recursive: true })
  for (const [index, worker] of fleet.started.entries()) {
    writeFileSync(join(dir, `${name}-worker-${index + 1}-${worker.pid}.log`), redact(worker.log()))
  }
  writeFileSync(join(dir, `${name}-emulator.log`), redact(fleet.emulator.log()))
}

/** Results by status, the most frequent first. */
const statuses = (t: Tally) =>
  Object.entries(t.statuses)
    .sort(([, a], [, b]) => b - a)
    .map(([status, n]) => `${status} ${n}`)
    .join(", ")

/** Runs one scenario to its outcome; never throws (an error is a failed outcome). */
export const runScenario = async (
  scenario: Scenario,
  quick: boolean,
  database: BenchDatabase,
  logs: string | undefined
): Promise<Outcome> => {
  const began = performance.now()
  const limit = scenario.limitSeconds(quick)
  const problems: Array<string> = []
  const notes: Array<string> = []
  let fleet: Fleet | undefined
  const context: Context = {
    quick,
    database,
    deadline: began + limit * 1000,
    fleet: async (options) => {
      fleet = await makeFleet(scenario.name, options)
      return fleet
    },
    stuck: () =>
      fleet !== undefined && fleet.workers.length > 0 && fleet.workers.every((worker) => worker.crashed() !== undefined)
        ? "every worker exited"
        : undefined,
    fail: (problem) => problems.push(problem),
    note: (fact) => notes.push(fact)
  }
  let skipped: string | undefined
  let counted: Tally | undefined
  try {
    // The polls stop at the deadline; this stops a step that hangs elsewhere (15 s later).
    let timer: NodeJS.Timeout | undefined
    const backstop = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimedOut("in a step that hung")), (limit + 15) * 1000)
    })
    await Promise.race([scenario.run(context), backstop]).finally(() => clearTimeout(timer))
  } catch (error) {
    if (error instanceof Skipped) skipped = error.message
    else if (error instanceof TimedOut) problems.unshift(`timed out after ${limit} s ${error.message}`)
    else problems.unshift(`error: ${error instanceof Error ? error.message : String(error)}`)
  }
  // No worker may exit by itself, whatever the scenario does to it (the kills are not exits).
  const crashes = new Map<string, Array<number>>()
  for (const worker of fleet?.started ?? []) {
    const crash = worker.crashed()
    if (crash !== undefined) crashes.set(crash, [...(crashes.get(crash) ?? []), worker.pid])
  }
  for (const [crash, pids] of crashes) problems.push(`nexus-worker ${pids.join(", ")} ${crash}`)
  try {
    if (fleet !== undefined && skipped === undefined) counted = await tally(fleet.pool, fleet.expectation)
  } catch (error) {
    problems.push(`the queues could not be counted: ${error instanceof Error ? error.message : String(error)}`)
  }
  if (counted === undefined && skipped === undefined && problems.length === 0) problems.push("no fleet was set up")
  const all = [...(counted === undefined ? [] : failures(counted)), ...problems]
  try {
    if (logs !== undefined && fleet !== undefined && all.length > 0) keepLogs(logs, scenario.name, fleet)
  } finally {
    await fleet?.close()
  }
  const seconds = (performance.now() - began) / 1000
  if (skipped !== undefined) {
    return {
      scenario: scenario.name,
      sent: 0,
      results: 0,
      duplicates: 0,
      lost: 0,
      deadLettered: 0,
      expectedDeadLettered: 0,
      passed: true,
      skipped: true,
      seconds,
      detail: skipped
    }
  }
  const facts = counted === undefined ? notes : [statuses(counted), `redelivered ${counted.redelivered}`, ...notes]
  return {
    scenario: scenario.name,
    sent: counted?.sent ?? 0,
    results: counted?.results ?? 0,
    duplicates: counted?.duplicates ?? 0,
    lost: counted?.lost ?? 0,
    deadLettered: counted?.deadLettered ?? 0,
    expectedDeadLettered: counted?.expectedDeadLettered ?? 0,
    passed: all.length === 0,
    seconds,
    detail: [...all, ...facts].join("; ")
  }
}

/** The scenario's one line. */
export const line = (outcome: Outcome, width: number) => {
  const name = outcome.scenario.padEnd(width)
  if (outcome.skipped === true) return `${name}  SKIPPED: ${outcome.detail}`
  return `${name}  sent ${outcome.sent} / results ${outcome.results} / duplicates ${outcome.duplicates} / lost ${outcome.lost} / dead-lettered ${outcome.deadLettered}  ${outcome.passed ? "PASS" : "FAIL"} (${outcome.detail}; ${outcome.seconds.toFixed(1)} s)`
}

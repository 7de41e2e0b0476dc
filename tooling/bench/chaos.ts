// `./dev chaos`: fault scenarios against real PostgreSQL, the emulator and real `nexus-worker`
// processes, each proving that every request gets exactly one result (and every malformed message
// exactly one dead letter with its reason):
//   kill           SIGKILL of a worker mid-stream, 5 times in a run
//   db-restart     the database server restarted under load
//   terminate      every worker connection terminated at once (pg_terminate_backend), under load
//   faults         the emulator failing 10 % of the time in each way it knows
//   malformed      every kind of malformed message, mixed with valid requests
//   refresh-storm  every access token expiring while one of two accounts hits its usage limit
// Each scenario prints one line; the process exits 1 when any fails. The server is DATABASE_URL's,
// or an embedded one started for the run (see database.ts); each scenario gets its own scratch
// database, emulator and workers, all gone when it ends.
//   node tooling/bench/chaos.ts [--scenario kill,faults] [--quick] [--json FILE] [--logs DIR]
import { writeFileSync } from "node:fs"
import { benchArgs } from "./args.ts"
import { dbRestart, terminate } from "./chaos/connections.ts"
import { faults } from "./chaos/faults.ts"
import { openFleets } from "./chaos/fleet.ts"
import { kill } from "./chaos/kill.ts"
import { malformed } from "./chaos/malformed.ts"
import { killAll, prepareBinaries, removeBinaries } from "./chaos/processes.ts"
import { refreshStorm } from "./chaos/refresh-storm.ts"
import { line, type Outcome, runScenario } from "./chaos/scenario.ts"
import { openDatabase } from "./database.ts"

// --quick (a short version of each scenario: fewer requests) and --json FILE (the outcomes) are
// every bench's options (args.ts).
const values = benchArgs({
  /** Only these scenarios (comma-separated names); all by default. */
  scenario: { type: "string" },
  /** Keeps the logs of a failed scenario's workers and emulator in this directory. */
  logs: { type: "string" }
})

const scenarios = [kill, dbRestart, terminate, faults, malformed, refreshStorm]
const wanted = values.scenario?.split(",").map((name) => name.trim()) ?? scenarios.map((scenario) => scenario.name)
const unknown = wanted.filter((name) => !scenarios.some((scenario) => scenario.name === name))
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.join(", ")}; the scenarios: ${scenarios.map((s) => s.name).join(", ")}`)
  process.exit(2)
}
const chosen = scenarios.filter((scenario) => wanted.includes(scenario.name))

const database = await openDatabase()

/** Ends every child, drops every scratch database, stops an embedded server: on any exit. */
let closing: Promise<void> | undefined
const cleanUp = () =>
  (closing ??= (async () => {
    await killAll()
    for (const close of openFleets) await close()
    await database.close()
    removeBinaries()
  })())
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143]
] as const) {
  // `on`, not `once`: a second Ctrl+C must not kill this process before it has cleaned up.
  process.on(signal, () => {
    if (closing !== undefined) return
    console.error(`\n${signal}: stopping the workers and the emulator, dropping the scratch databases…`)
    void cleanUp()
      // A scenario may have started a child while the first kill ran.
      .then(() => killAll())
      .finally(() => process.exit(code))
  })
}

const outcomes: Array<Outcome> = []
const began = performance.now()
try {
  prepareBinaries()
  console.log(`chaos on ${database.description}${values.quick ? ", quick" : ""}`)
  const width = Math.max(...chosen.map((scenario) => scenario.name.length))
  for (const scenario of chosen) {
    // Stopped by a signal: no next scenario.
    if (closing !== undefined) break
    const outcome = await runScenario(scenario, values.quick, database, values.logs)
    outcomes.push(outcome)
    console.log(line(outcome, width))
  }
} finally {
  await cleanUp()
}

const failed = outcomes.filter((outcome) => !outcome.passed)
const skipped = outcomes.filter((outcome) => outcome.skipped === true)
const passed = outcomes.length - failed.length - skipped.length
console.log(
  `chaos: ${passed} passed, ${failed.length} failed${skipped.length > 0 ? `, ${skipped.length} skipped` : ""} in ${((performance.now() - began) / 1000).toFixed(1)} s${failed.length > 0 ? ` (failed: ${failed.map((outcome) => outcome.scenario).join(", ")})` : ""}`
)
if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(outcomes, null, 2)}\n`)
process.exitCode = failed.length > 0 ? 1 : 0

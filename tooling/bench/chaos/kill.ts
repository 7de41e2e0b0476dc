// `kill`: a worker SIGKILLed mid-stream, five times in one run (each time the other one of the two,
// restarted at once). The emulator holds every answer back for 300 ms, so each worker has its
// requests in flight when it dies; the short visibility timeout hands them to the survivors within
// the run, and the result-and-archive transaction must keep the dead worker's deliveries from
// ever publishing a second result.
import { metrics } from "./processes.ts"
import { awaitAll, awaitResults, type Scenario } from "./scenario.ts"

const ARGS = ["--visibility-timeout", "2", "--poll-interval", "1", "--concurrency", "32"]
const KILLS = 5

export const kill: Scenario = {
  name: "kill",
  limitSeconds: (quick) => (quick ? 35 : 75),
  run: async (context) => {
    const total = context.quick ? 400 : 2000
    const fleet = await context.fleet()
    await fleet.admin("/faults", { kind: "slow_first_byte", delayMs: 300, probability: 1 })
    await Promise.all([fleet.startWorker(ARGS), fleet.startWorker(ARGS)])
    await fleet.sendRequests(total)
    const inFlight: Array<number> = []
    for (let round = 1; round <= KILLS; round++) {
      await awaitResults(context, fleet, Math.floor((total * round) / (KILLS + 1)))
      // What the victim is streaming right now: the requests its death interrupts.
      const victim = round % 2
      inFlight.push((await metrics(fleet.workers[victim]!)).get("nexus_worker_in_flight") ?? 0)
      await fleet.restartWorker(victim, ARGS)
    }
    context.note(`${KILLS} kills with ${inFlight.join(", ")} requests in flight`)
    if (inFlight.every((n) => n === 0)) context.fail("no kill landed mid-stream")
    await awaitAll(context, fleet, 3000)
  }
}

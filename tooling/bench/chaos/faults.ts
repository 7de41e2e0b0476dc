// `faults`: the emulator failing 10 % of the time in each way it knows, over two signed-in
// accounts. The kinds come from the emulator's own list (Domain.faultKindGroups), so a kind added
// there without a setting here fails the scenario instead of being skipped silently. Every request
// must end in exactly one result: ok, or (after every attempt) an error that says trying again may
// help.
import { Domain } from "@nexus/codex-emulator"
import { awaitAll, type Scenario } from "./scenario.ts"
import type { Check } from "./tally.ts"

const MAX_ATTEMPTS = 5
const ARGS = ["--poll-interval", "1", "--backoff", "0.2", "--backoff-max", "1", "--max-attempts", String(MAX_ATTEMPTS)]

/**
 * Each kind's settings (beside probability 0.1), or why it is left out. `usage_limit` hits the
 * second account only (the first one serves meanwhile).
 */
const settings = (second: string): Record<Domain.FaultKind, Record<string, unknown> | string> => ({
  unauthorized: {},
  usage_limit: { account: second, resetsInSeconds: 2 },
  rate_limit: { retryAfterSeconds: 1 },
  server_error: {},
  bad_gateway: {},
  overloaded: {},
  slow_first_byte: { delayMs: 500 },
  stream_cut: { afterEvents: 3, abort: true },
  malformed_event: { afterEvents: 2 },
  idle: { afterEvents: 2 },
  response_failed: {},
  // A refresh happens after a 401 (the unauthorized kind above); a 5xx from the issuer is transient.
  refresh_server_error: {},
  // A refused refresh token is permanent by design: the account must sign in again, and every later
  // request is answered "run nexus login" (not retryable). apps/worker/test/worker.test.ts covers it.
  refresh_reused: "permanent",
  refresh_expired: "permanent",
  refresh_invalidated: "permanent"
})

/** ok, or a retryable error once every attempt was made. */
const rightStatus: Check = (result) => {
  if (result.status === "ok") return undefined
  if (result.error?.retryable !== true) return `not retryable: ${result.error?.tag}: ${result.error?.message}`
  if (result.attempts !== MAX_ATTEMPTS) return `${result.error.tag} answered after ${result.attempts} attempts`
  return undefined
}

export const faults: Scenario = {
  name: "faults",
  limitSeconds: (quick) => (quick ? 45 : 90),
  run: async (context) => {
    const total = context.quick ? 200 : 800
    const fleet = await context.fleet({
      accounts: 2,
      env: { NEXUS_CODEX_IDLE_TIMEOUT: "1 second" },
      policy: [
        "rules:",
        "  - candidates: [{ model: gpt-6-luna }, { model: gpt-5.5 }]",
        // Failures are the point here: a cooldown would only make the run wait.
        "cooldown: { failures: 1000, window: 1 minute, duration: 1 second }"
      ]
    })
    const table = settings(fleet.accounts[1]!)
    const kinds = Object.values(Domain.faultKindGroups).flat()
    const injected: Array<string> = []
    const left: Array<string> = []
    for (const kind of kinds) {
      const setting = table[kind]
      if (setting === undefined) context.fail(`the emulator's fault kind ${kind} has no setting in chaos/faults.ts`)
      else if (typeof setting === "string") left.push(kind)
      else {
        await fleet.admin("/faults", { kind, probability: 0.1, ...setting })
        injected.push(kind)
      }
    }
    await Promise.all([fleet.startWorker(ARGS), fleet.startWorker(ARGS)])
    await fleet.sendRequests(total, rightStatus)
    await awaitAll(context, fleet, 2000)
    const counters = (await fleet.admin("/counters", undefined, "GET")) as Domain.Counters
    const { succeeded, rejected, byReason } = counters.refreshes
    context.note(
      `${injected.length} kinds at 10 % (${injected.join(", ")}); ${counters.faultsInjected} faults injected; refreshes after a 401: ${succeeded} succeeded, ${rejected} rejected ${JSON.stringify(byReason)}; left out (permanent sign-outs): ${left.join(", ")}`
    )
    // Too few faults would prove nothing.
    if (counters.faultsInjected < total * 0.3) context.fail(`only ${counters.faultsInjected} faults injected`)
    // Only the injected 5xx may refuse a refresh: a token reused (or refused otherwise) signs an account out.
    const refused = Object.keys(byReason).filter((reason) => reason !== "server_error")
    if (refused.length > 0) context.fail(`refreshes refused as ${refused.join(", ")}`)
  }
}

// `refresh-storm`: three busy workers, two signed-in accounts. The first account hits its usage
// limit (the router must switch to the other one) while every access token expires, twice:
//   1. at the emulator (every token issued so far answers 401): each busy worker meets the 401
//      and asks for a recovery at once;
//   2. in nexus.oauth_tokens (every stored token due: 60 s left, less than the 5 minutes a caller
//      demands): each worker must refresh before its next use.
// Then the limit is lifted (the reset). Every request must still be answered once, ok; and the
// issuer must see no refresh token reused and at most one refresh per account per expiry — the
// fleet-wide refresh lease at work.
import type { Domain } from "@nexus/codex-emulator"
import type { Fleet } from "./fleet.ts"
import { awaitAll, awaitResults, type Scenario, until } from "./scenario.ts"

// Eight requests at a time per worker, each held back 300 ms: the run lasts long enough for
// every stage below to meet requests still to be served.
const ARGS = ["--concurrency", "8", "--poll-interval", "1", "--backoff", "0.2", "--backoff-max", "1"]
const SLOW = { kind: "slow_first_byte", delayMs: 300, probability: 1 }

const counters = async (fleet: Fleet) => (await fleet.admin("/counters", undefined, "GET")) as Domain.Counters

/** Refresh grants per account so far (the token route counts each under its refresh token's account). */
const refreshes = (snapshot: Domain.Counters, account: string) => snapshot.requests["token"]?.byAccount[account] ?? 0

/** Turns asked of `account` so far (authenticated /responses requests). */
const turns = (snapshot: Domain.Counters, account: string) => snapshot.requests["responses"]?.byAccount[account] ?? 0

export const refreshStorm: Scenario = {
  name: "refresh-storm",
  limitSeconds: (quick) => (quick ? 45 : 75),
  run: async (context) => {
    const total = context.quick ? 300 : 900
    const fleet = await context.fleet({ accounts: 2 })
    const [limited, other] = fleet.accounts as [string, string]
    await fleet.admin("/faults", SLOW)
    await Promise.all([0, 1, 2].map(() => fleet.startWorker(ARGS)))
    await fleet.sendRequests(total)
    await awaitResults(context, fleet, Math.floor(total * 0.15))

    // The usage limit first (the emulator applies the first rule that matches), then the slow answers.
    const start = await counters(fleet)
    await fleet.admin("/faults", undefined, "DELETE")
    await fleet.admin("/faults", { kind: "usage_limit", account: limited, probability: 1, resetsInSeconds: 1 })
    await fleet.admin("/faults", SLOW)
    // Expiry 1: at the emulator, both accounts at once; the busy one must have refreshed before expiry 2.
    for (const account of fleet.accounts) await fleet.admin(`/accounts/${account}/expire-tokens`)
    await until(
      context,
      "the refresh after expiry 1",
      async () => refreshes(await counters(fleet), other) > refreshes(start, other)
    )
    await awaitResults(context, fleet, Math.floor(total * 0.35))

    // Expiry 2: in the store; the version bump tells every worker (NOTIFY) to drop its cached copy.
    const second = await counters(fleet)
    await fleet.pool.query(
      `UPDATE nexus.oauth_tokens SET expires_at = now() + interval '60 seconds',
       version = nextval('nexus.oauth_token_version')`
    )
    await awaitResults(context, fleet, Math.floor(total * 0.6))

    // The reset: the limit lifted, the slow answers kept.
    const lifted = await counters(fleet)
    await fleet.admin("/faults", undefined, "DELETE")
    await fleet.admin("/faults", SLOW)
    await awaitAll(context, fleet, 2000)
    const end = await counters(fleet)

    // Refreshes per account in each expiry's window (a refresh of the limited account may come
    // late, once it is used again: it then counts in a later window, never twice).
    const windows = [
      [start, second],
      [second, end]
    ] as const
    const [limitedRefreshes, otherRefreshes] = [limited, other].map((account) =>
      windows.map(([from, to]) => refreshes(to, account) - refreshes(from, account))
    ) as [Array<number>, Array<number>]
    const reused = end.refreshes.byReason["reused"] ?? 0
    context.note(
      `refreshes ${end.refreshes.succeeded} succeeded, ${end.refreshes.rejected} rejected${end.refreshes.rejected > 0 ? ` ${JSON.stringify(end.refreshes.byReason)}` : ""}, reused ${reused}; per expiry: limited account ${limitedRefreshes.join(" + ")}, other ${otherRefreshes.join(" + ")} (${JSON.stringify(end.refreshes.byRefreshReason)})`
    )
    const whileLimited = turns(lifted, limited) - turns(start, limited)
    context.note(
      `the limited account was asked ${whileLimited} times while limited, ${turns(end, limited) - turns(lifted, limited)} after the reset`
    )
    if (reused > 0) context.fail(`${reused} refresh tokens refused as reused`)
    if (end.refreshes.rejected > 0) context.fail(`${end.refreshes.rejected} refreshes rejected`)
    if ([...limitedRefreshes, ...otherRefreshes].some((n) => n > 1)) {
      context.fail("more than one refresh of an account for one expiry")
    }
    // The busy account must have met both expiries: otherwise there was no storm to weather.
    if (otherRefreshes.some((n) => n === 0)) context.fail("an expiry caused no refresh of the busy account")
    if (whileLimited === 0) context.fail("the usage limit never hit")
  }
}

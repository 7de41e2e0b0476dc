// The fault rules the emulator has been asked to inject, and which one a request meets. The routes
// apply what they take (see routes/faults.ts); the refresh grant applies its own (see issuer.ts).
import { type FaultKind, type FaultRule, faultRoute, type Route } from "../Domain.ts"
import type { CoreOptions, State } from "./state.ts"

interface ActiveFault {
  readonly rule: FaultRule
  remaining: number
}

const mulberry32 = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** The injected faults and the operations on them. */
export type Faults = ReturnType<typeof makeFaults>

export const makeFaults = (shared: State, options: CoreOptions) => {
  // Set by reset, which runs before the core is handed out.
  let random: () => number
  let faults: Array<ActiveFault>

  const reset = () => {
    random = mulberry32(options.seed ?? 0x5eed)
    faults = []
  }

  /** Adds a rule; callers decode it with the FaultRule schema first, which refuses what no route applies. */
  const injectFault = (rule: FaultRule) => {
    faults.push({ rule, remaining: rule.probability !== undefined ? Infinity : (rule.times ?? 1) })
  }

  const clearFaults = () => {
    faults = []
  }

  /**
   * The first rule for this route and account among `kinds`, the kinds the route can apply at this
   * point of the request; consumes one use of a counted rule.
   */
  const takeFault = (
    route: Route,
    accountId: string | undefined,
    kinds: ReadonlyArray<FaultKind>
  ): FaultRule | undefined => {
    for (const fault of faults) {
      const { rule } = fault
      if (faultRoute(rule) !== route || !kinds.includes(rule.kind)) continue
      if (rule.account !== undefined && rule.account !== accountId) continue
      if (rule.probability !== undefined && random() >= rule.probability) continue
      fault.remaining--
      shared.counters.faultsInjected++
      if (fault.remaining <= 0) faults = faults.filter((f) => f !== fault)
      return rule
    }
    return undefined
  }

  return { reset, injectFault, clearFaults, takeFault }
}

// The emulator's state machine: accounts, grants, tokens, usage windows, faults and counters, one
// module per area, put together here. Plain synchronous code on purpose: every HTTP route is a thin
// adapter over it, and the hot path (/responses) must not be the bottleneck of any benchmark.
import type { Counters } from "../Domain.ts"
import { makeDevice } from "./device.ts"
import { makeFaults } from "./faults.ts"
import { makeIssuer } from "./issuer.ts"
import { type CoreOptions, makeState } from "./state.ts"
import { makeUsage } from "./usage.ts"

/** The emulator's state and every operation on it. */
export type Core = ReturnType<typeof makeCore>

export const makeCore = (options: CoreOptions = {}) => {
  const shared = makeState(options)
  const faults = makeFaults(shared, options)
  const issuer = makeIssuer(shared, faults)
  const device = makeDevice(shared, issuer)
  const usage = makeUsage(shared, options)

  const reset = () => {
    issuer.reset()
    faults.reset()
    shared.reset()
    device.reset()
  }

  reset()

  return {
    now: shared.now,
    reset,
    setIssuer: shared.setIssuer,
    jwks: issuer.jwks,
    get issuer() {
      return shared.issuer
    },
    get settings() {
      return shared.settings
    },
    accountList: shared.accountList,
    findAccount: shared.findAccount,
    addAccount: shared.addAccount,
    patchAccount: shared.patchAccount,
    expireTokens: issuer.expireTokens,
    revokeTokens: issuer.revokeTokens,
    updateSettings: shared.updateSettings,
    advanceClock: shared.advanceClock,
    count: shared.count,
    record: shared.record,
    lastRequest: shared.lastRequest,
    counters: (): Counters => structuredClone(shared.counters),
    /** A /responses SSE reply ended: sent to its end, or closed by the client first. */
    streamEnded: (outcome: "completed" | "aborted") => {
      shared.counters.streams[outcome]++
    },
    injectFault: faults.injectFault,
    clearFaults: faults.clearFaults,
    takeFault: faults.takeFault,
    setReplies: shared.setReplies,
    get replies() {
      return shared.replies
    },
    mintTokens: issuer.mintTokens,
    authenticate: issuer.authenticate,
    authorize: issuer.authorize,
    decidePending: issuer.decidePending,
    tokenAccount: issuer.tokenAccount,
    token: issuer.token,
    revoke: issuer.revoke,
    requestUserCode: device.requestUserCode,
    pollDevice: device.pollDevice,
    decideDevice: device.decideDevice,
    usageHeaders: usage.usageHeaders,
    usageLimitReply: usage.usageLimitReply,
    charge: usage.charge,
    usage: usage.usage,
    usageStatus: usage.usageStatus
  }
}

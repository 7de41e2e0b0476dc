// The in-memory TokenStore behind `TokenStore.layerTest`: the same contract as Postgres (lookup
// by id or label, LabelTaken, versions, compare-and-set, a lock per account), one process.
import type { TokenSet } from "@nexus/oauth"
import { DateTime, Effect, Semaphore } from "effect"
import { LabelTaken, TokenNotFound, VersionConflict } from "../Errors.ts"
import type { Inventory, LockedDecision, StoredTokens, TokenStore } from "../TokenStore.ts"

export function makeMemory(): TokenStore["Service"] {
  const rows = new Map<string, StoredTokens>()
  const locks = new Map<string, Semaphore.Semaphore>()
  let version = 0
  const lockOf = (accountId: string) => {
    let lock = locks.get(accountId)
    if (!lock) locks.set(accountId, (lock = Semaphore.makeUnsafe(1)))
    return lock
  }
  const find = (account: string) => rows.get(account) ?? [...rows.values()].find((stored) => stored.label === account)
  const save = (stored: Omit<StoredTokens, "version" | "updatedAt">) =>
    Effect.clockWith((clock) =>
      Effect.sync(() => {
        const saved: StoredTokens = {
          ...stored,
          version: ++version,
          updatedAt: DateTime.makeUnsafe(clock.currentTimeMillisUnsafe())
        }
        rows.set(stored.tokens.accountId, saved)
        return saved
      })
    )
  const get = (account: string) =>
    Effect.suspend(() => {
      const found = find(account)
      return found ? Effect.succeed(found) : Effect.fail(new TokenNotFound({ account }))
    })
  const list = Effect.sync(() =>
    [...rows.values()].sort(
      (a, b) =>
        (a.label === undefined ? 1 : 0) - (b.label === undefined ? 1 : 0) ||
        (a.label ?? "").localeCompare(b.label ?? "") ||
        a.tokens.accountId.localeCompare(b.tokens.accountId)
    )
  )
  const put = (
    tokens: TokenSet.TokenSet,
    options?: { readonly label?: string | undefined; readonly source?: string | undefined }
  ) =>
    Effect.suspend(() => {
      const label = options?.label
      const holder = label === undefined ? undefined : [...rows.values()].find((stored) => stored.label === label)
      if (holder && holder.tokens.accountId !== tokens.accountId) {
        return Effect.fail(new LabelTaken({ label: label!, account: holder.tokens.accountId }))
      }
      return save({
        tokens,
        label: label ?? rows.get(tokens.accountId)?.label,
        status: "active",
        statusReason: undefined,
        source: options?.source ?? "login"
      })
    })
  const delete_ = (account: string) =>
    Effect.flatMap(get(account), (stored) => Effect.sync(() => void rows.delete(stored.tokens.accountId)))
  const compareAndSet = (account: string, expected: number, tokens: TokenSet.TokenSet) =>
    Effect.flatMap(get(account), (current) =>
      current.version === expected
        ? save({ ...current, tokens })
        : Effect.fail(new VersionConflict({ account, expected }))
    )
  const withLock = <E>(account: string, decide: (current: StoredTokens) => Effect.Effect<LockedDecision, E>) =>
    lockOf(account).withPermits(1)(
      Effect.gen(function* () {
        const current = rows.get(account)
        if (!current) return yield* new TokenNotFound({ account })
        const decision = yield* decide(current)
        switch (decision._tag) {
          case "Keep":
            return current
          case "Replace":
            return yield* save({ ...current, tokens: decision.tokens })
          case "Delete":
            rows.delete(account)
            return current
          case "Reauth":
            return yield* save({ ...current, status: "reauth_required", statusReason: decision.reason })
        }
      })
    )
  const inventory = Effect.map(list, (readable): Inventory => ({ readable, unreadable: [] }))
  return { get, list, inventory, put, delete: delete_, compareAndSet, withLock }
}

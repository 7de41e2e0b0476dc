// Which stored sign-in a command acts on: the one named by --account, else the only one.
import { TokenStore } from "@nexus/token-store"
import { Effect, Option } from "effect"
import { AmbiguousAccount, NoAccount } from "../Errors.ts"

/** How a sign-in is named to the user: its label, else its email, else its account id. */
export const nameOf = (stored: TokenStore.StoredTokens): string =>
  stored.label ?? stored.tokens.email ?? stored.tokens.accountId

/** The sign-in `account` names (id or label), else the only one there is. */
export const resolveAccount = Effect.fnUntraced(function* (command: string, account: Option.Option<string>) {
  const store = yield* TokenStore.TokenStore
  if (Option.isSome(account)) return yield* store.get(account.value)
  const all = yield* store.list
  if (all.length === 0) return yield* new NoAccount()
  if (all.length > 1) return yield* new AmbiguousAccount({ command, accounts: all.map(nameOf) })
  return all[0]!
})

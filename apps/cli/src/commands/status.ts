/**
 * `nexus status`: every stored sign-in, its expiry and status. Never a token. The usage windows,
 * blocks and cooldowns the router reads are `nexus accounts`' (one listing each, not two tables
 * drifting apart).
 *
 * @since 0.1.0
 */
import { TokenStore } from "@nexus/token-store"
import { Clock, Console, DateTime, Effect } from "effect"
import { Command } from "effect/cli"
import * as Flags from "../internal/flags.ts"
import { AccountsNeedAttention, NoAccount } from "../Errors.ts"
import { ago, expiresIn } from "../internal/format.ts"
import { StoreLive } from "../Services.ts"

/**
 * One account as `status --json` prints it: only these fields, built one by one, so that nothing
 * secret can slip in with a spread.
 *
 * @since 0.1.0
 * @category models
 */
export interface AccountStatus {
  readonly label: string | null
  readonly email: string | null
  readonly plan: string | null
  readonly accountId: string
  /** Null when this instance cannot decrypt the sign-in (see `readable`). */
  readonly expiresAt: string | null
  readonly expiresIn: string | null
  readonly lastRefresh: string | null
  readonly lastRefreshAgo: string | null
  readonly status: TokenStore.Status
  readonly reason: string | null
  /** False when the tokens are encrypted under a key this instance does not have (`keyId`). */
  readonly readable: boolean
  readonly keyId: string | null
  readonly store: "postgres"
  /** How it got there: `login`, `codex` (imported), or copied from the token `file` or the `env`. */
  readonly source: string
}

const describe = (stored: TokenStore.StoredTokens, now: number): AccountStatus => {
  const expires = DateTime.toEpochMillis(stored.tokens.expiresAt)
  const refreshed = DateTime.toEpochMillis(stored.tokens.lastRefresh)
  return {
    label: stored.label ?? null,
    email: stored.tokens.email ?? null,
    plan: stored.tokens.planType ?? null,
    accountId: stored.tokens.accountId,
    expiresAt: DateTime.formatIso(stored.tokens.expiresAt),
    expiresIn: expiresIn(expires, now),
    lastRefresh: DateTime.formatIso(stored.tokens.lastRefresh),
    lastRefreshAgo: ago(refreshed, now),
    status: stored.status,
    reason: stored.statusReason ?? null,
    readable: true,
    keyId: null,
    store: "postgres",
    source: stored.source
  }
}

const describeUnreadable = (row: TokenStore.Unreadable): AccountStatus => ({
  label: row.label ?? null,
  email: row.email ?? null,
  plan: row.planType ?? null,
  accountId: row.accountId,
  expiresAt: null,
  expiresIn: null,
  lastRefresh: null,
  lastRefreshAgo: null,
  status: row.status,
  reason: row.problem.message,
  readable: false,
  keyId: row.keyId,
  store: "postgres",
  source: "unknown"
})

/** What an account needs before it can be used, if anything. */
const attention = (account: AccountStatus): string | undefined => {
  const name = account.label ?? account.email ?? account.accountId
  if (!account.readable) {
    return `${name} is encrypted under key ${account.keyId}, which this instance does not have: set NEXUS_TOKEN_KEY to the key the fleet uses`
  }
  if (account.status !== "active") {
    return `${name} must sign in again (${account.reason ?? account.status}): run \`nexus login${account.label ? ` --label ${account.label}` : ""}\``
  }
  return undefined
}

const render = (account: AccountStatus): string => {
  if (!account.readable) {
    const title = [account.label, account.email].filter((part) => part !== null).join(" — ") || account.accountId
    return [
      `${title}${account.plan ? ` (${account.plan})` : ""}`,
      `  account       ${account.accountId}`,
      `  status        unreadable here: encrypted under key ${account.keyId}, which this instance does not have`,
      `                set NEXUS_TOKEN_KEY to the fleet's key (or \`nexus logout --account ${account.label ?? account.accountId}\` to delete it)`
    ].join("\n")
  }
  const title = [account.label, account.email].filter((part) => part !== null).join(" — ") || account.accountId
  const statusLine =
    account.status === "active"
      ? "active"
      : `${account.status}${account.reason ? ` (${account.reason})` : ""}: run \`nexus login${
          account.label ? ` --label ${account.label}` : ""
        }\``
  return [
    `${title}${account.plan ? ` (${account.plan})` : ""}`,
    `  account       ${account.accountId}`,
    `  token         ${account.expiresIn!.startsWith("expired") ? account.expiresIn : `expires ${account.expiresIn}`} (${account.expiresAt})`,
    `  last refresh  ${account.lastRefreshAgo} (${account.lastRefresh})`,
    `  status        ${statusLine}`,
    `  store         ${account.store}${account.source === "login" ? "" : ` (${account.source === "file" ? "copied from the token file" : account.source === "env" ? "copied from the environment" : account.source === "codex" ? "imported from the Codex CLI" : `from ${account.source}`})`}`
  ].join("\n")
}

/**
 * `nexus status`.
 *
 * @since 0.1.0
 * @category commands
 */
export const status = Command.make(
  "status",
  {
    json: Flags.json("the accounts")
  },
  Effect.fn("nexus.status")(function* ({ json }) {
    const store = yield* TokenStore.TokenStore
    const { readable, unreadable } = yield* store.inventory
    const now = yield* Clock.currentTimeMillis
    const accounts = [...readable.map((stored) => describe(stored, now)), ...unreadable.map(describeUnreadable)]
    if (json) yield* Console.log(JSON.stringify(accounts, null, 2))
    if (accounts.length === 0) return yield* new NoAccount()
    if (!json) {
      yield* Console.log(accounts.map(render).join("\n\n"))
      yield* Console.log("\nUsage windows, blocks and cooldowns (what the router chooses by): `nexus accounts`.")
    }
    const problems = accounts.flatMap((account) => attention(account) ?? [])
    if (problems.length > 0) return yield* new AccountsNeedAttention({ problems })
  })
).pipe(
  Command.withDescription("Show the signed-in ChatGPT accounts and their tokens' state"),
  Command.withExamples([
    { command: "nexus status", description: "See every sign-in and when its token expires" },
    { command: "nexus status --json", description: "The same, as JSON" }
  ]),
  Command.provide(StoreLive)
)

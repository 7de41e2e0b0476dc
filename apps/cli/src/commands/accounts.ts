/**
 * `nexus accounts`: the pool the router chooses from — every signed-in account, its plan and
 * status, each usage window's use and reset, the usage-limit block and the (account, model)
 * cooldowns the fleet recorded, and the requests in flight the fleet's routers reported. `nexus status` is the sign-in view; this is the
 * routing view.
 *
 * @since 0.1.0
 */
import { UsageWindows } from "@nexus/provider-codex"
import { AccountPool } from "@nexus/router"
import { TokenStore } from "@nexus/token-store"
import { Clock, Console, DateTime, Effect } from "effect"
import { Command } from "effect/cli"
import { NoAccount } from "../Errors.ts"
import * as Flags from "../internal/flags.ts"
import { expiresIn } from "../internal/format.ts"
import { PoolLive } from "../Services.ts"

/**
 * One account as `accounts --json` prints it: built field by field, never a token.
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolEntry {
  readonly label: string | null
  readonly email: string | null
  readonly plan: string | null
  readonly accountId: string
  readonly status: TokenStore.Status | "unreadable"
  readonly reason: string | null
  readonly windows: ReadonlyArray<{
    readonly limitId: string
    readonly kind: string
    readonly windowMinutes: number
    readonly usedPercent: number
    readonly resetsAt: string | null
    readonly resetsIn: string | null
    readonly observedAt: string
  }>
  /** The usage-limit block recorded for the fleet, while it lasts. */
  readonly blockedUntil: string | null
  /** Models cooling down on the account, for the whole fleet. */
  readonly cooldowns: ReadonlyArray<{ readonly model: string; readonly until: string }>
  /** Requests in flight on the account across the fleet's router processes (as each last reported). */
  readonly inFlight: number
}

const kindName = (kind: string, minutes: number) =>
  kind === "five_hour" ? "5-hour" : kind === "weekly" ? "weekly" : `${minutes}-minute`

const render = (entry: PoolEntry, now: number): string => {
  const title = [entry.label, entry.email].filter((part) => part !== null).join(" — ") || entry.accountId
  const status =
    entry.status === "active"
      ? entry.blockedUntil === null
        ? "active"
        : "active, blocked by its usage limit"
      : entry.status === "unreadable"
        ? `unreadable here (${entry.reason}): set NEXUS_TOKEN_KEY to the fleet's key`
        : `${entry.status}${entry.reason ? ` (${entry.reason})` : ""}: run \`nexus login${entry.label ? ` --label ${entry.label}` : ""}\``
  const at = (iso: string) => `${expiresIn(Date.parse(iso), now).replace(/^expired (.*) ago$/, "$1 ago")} (${iso})`
  return [
    `${title}${entry.plan ? ` (${entry.plan})` : ""}`,
    `  account     ${entry.accountId}`,
    `  status      ${status}`,
    ...(entry.windows.length === 0
      ? ["  usage       not reported yet (it is, with the first request on the account)"]
      : entry.windows.map(
          (window) =>
            `  ${kindName(window.kind, window.windowMinutes).padEnd(11)} ${window.usedPercent}% used${window.resetsAt ? `, resets ${at(window.resetsAt)}` : ""}`
        )),
    ...(entry.blockedUntil === null ? [] : [`  blocked     until ${at(entry.blockedUntil)}`]),
    ...entry.cooldowns.map((cooldown) => `  cooldown    ${cooldown.model} until ${at(cooldown.until)}`),
    ...(entry.inFlight === 0 ? [] : [`  in flight   ${entry.inFlight}`])
  ].join("\n")
}

/**
 * `nexus accounts`.
 *
 * @since 0.1.0
 * @category commands
 */
export const accounts = Command.make(
  "accounts",
  { json: Flags.json("the pool") },
  Effect.fn("nexus.accounts")(function* ({ json }) {
    const store = yield* TokenStore.TokenStore
    const pool = yield* AccountPool.AccountPool
    const usage = yield* UsageWindows.UsageWindows
    const { readable, unreadable } = yield* store.inventory
    const observed = yield* usage.list
    const state = yield* pool.state
    const fleet = yield* pool.fleetInFlight
    const now = yield* Clock.currentTimeMillis
    const iso = (millis: number) => new Date(millis).toISOString()
    const poolOf = (accountId: string) => {
      const blocked = state.blocks.get(accountId)
      const cooldowns: Array<{ model: string; until: string }> = []
      for (const [key, until] of state.cooldowns) {
        if (until > now && key.startsWith(`${accountId} `)) {
          cooldowns.push({ model: key.slice(accountId.length + 1), until: iso(until) })
        }
      }
      return {
        windows: observed
          .filter((window) => window.accountId === accountId)
          .map((window) => ({
            limitId: window.limitId,
            kind: window.kind,
            windowMinutes: window.windowMinutes,
            usedPercent: window.usedPercent,
            resetsAt: window.resetsAt ? DateTime.formatIso(window.resetsAt) : null,
            resetsIn: window.resetsAt ? expiresIn(DateTime.toEpochMillis(window.resetsAt), now) : null,
            observedAt: DateTime.formatIso(window.observedAt)
          })),
        blockedUntil: blocked !== undefined && blocked > now ? iso(blocked) : null,
        cooldowns,
        inFlight: fleet.byAccount.get(accountId) ?? 0
      }
    }
    const entries: Array<PoolEntry> = [
      ...readable.map((stored) => ({
        label: stored.label ?? null,
        email: stored.tokens.email ?? null,
        plan: stored.tokens.planType ?? null,
        accountId: stored.tokens.accountId,
        status: stored.status,
        reason: stored.statusReason ?? null,
        ...poolOf(stored.tokens.accountId)
      })),
      ...unreadable.map((row) => ({
        label: row.label ?? null,
        email: row.email ?? null,
        plan: row.planType ?? null,
        accountId: row.accountId,
        status: "unreadable" as const,
        reason: `encrypted under key ${row.keyId}`,
        ...poolOf(row.accountId)
      }))
    ]
    if (json) return yield* Console.log(JSON.stringify(entries, null, 2))
    if (entries.length === 0) return yield* new NoAccount()
    yield* Console.log(entries.map((entry) => render(entry, now)).join("\n\n"))
  })
).pipe(
  Command.withDescription("Show the account pool the router chooses from: plans, usage windows, blocks, cooldowns"),
  Command.withExamples([
    { command: "nexus accounts", description: "See each account's usage windows and cooldowns" },
    { command: "nexus accounts --json", description: "The same, as JSON" }
  ]),
  Command.provide(PoolLive)
)

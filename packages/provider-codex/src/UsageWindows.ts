/**
 * The accounts' usage windows (protocol §8): read from the `x-codex-*` headers of every backend
 * answer (429s included) and from `codex.rate_limits` events, classified by their length (5 hours,
 * weekly) rather than their position, and kept per account in `nexus.usage_windows`, where every
 * worker — and the router — reads them.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Array as Arr, Context, DateTime, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import * as Migrations from "./Migrations.ts"

/**
 * One usage window.
 *
 * @since 0.1.0
 * @category models
 */
export interface UsageWindow {
  /** The limit family: `codex`, or another id named by `x-codex-active-limit`. */
  readonly limitId: string
  readonly kind: "five_hour" | "weekly" | "other"
  readonly windowMinutes: number
  readonly usedPercent: number
  readonly resetsAt: DateTime.Utc | undefined
}

/** Classifies a window by its length, not by whether the backend called it primary or secondary. */
const kindOf = (minutes: number): UsageWindow["kind"] =>
  minutes > 0 && minutes <= 360 ? "five_hour" : minutes >= 7 * 24 * 60 - 60 ? "weekly" : "other"

const number = (value: string | undefined) => {
  if (value === undefined || value.length === 0) return undefined
  const parsed = Number(value)
  return Number.isFinite(parsed) ? parsed : undefined
}

const windowFrom = (
  limitId: string,
  used: string | undefined,
  minutes: string | undefined,
  reset: string | undefined
) => {
  const usedPercent = number(used)
  const windowMinutes = number(minutes)
  if (usedPercent === undefined || windowMinutes === undefined) return undefined
  const resetAt = number(reset)
  return {
    limitId,
    kind: kindOf(windowMinutes),
    windowMinutes,
    usedPercent,
    resetsAt: resetAt === undefined ? undefined : DateTime.makeUnsafe(resetAt * 1000)
  } satisfies UsageWindow
}

/**
 * The windows an answer's headers describe: the `codex` family's primary and secondary, and the
 * family `x-codex-active-limit` names (`x-<limit>-primary-…`, the limit id with `-`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const fromHeaders = (headers: Readonly<Record<string, string | undefined>>): Array<UsageWindow> => {
  const windows: Array<UsageWindow> = []
  familyWindows(windows, CODEX, headers)
  const active = headers["x-codex-active-limit"]
  if (active) {
    const family = active.replaceAll("_", "-")
    if (family !== "codex") familyWindows(windows, headerNames(family), headers)
  }
  return windows
}

interface HeaderNames {
  readonly family: string
  readonly positions: ReadonlyArray<readonly [used: string, minutes: string, reset: string]>
}

const headerNames = (family: string): HeaderNames => ({
  family,
  positions: ["primary", "secondary"].map(
    (position) =>
      [
        `x-${family}-${position}-used-percent`,
        `x-${family}-${position}-window-minutes`,
        `x-${family}-${position}-reset-at`
      ] as const
  )
})

/** The names of the codex family, read on every answer: built once. */
const CODEX = headerNames("codex")

const familyWindows = (
  into: Array<UsageWindow>,
  names: HeaderNames,
  headers: Readonly<Record<string, string | undefined>>
) => {
  for (const [used, minutes, reset] of names.positions) {
    const window = windowFrom(names.family, headers[used], headers[minutes], headers[reset])
    if (window) into.push(window)
  }
}

/**
 * The windows of a `codex.rate_limits` event.
 *
 * @since 0.1.0
 * @category parsing
 */
export const fromEvent = (event: {
  readonly primary?:
    | {
        readonly usedPercent: number
        readonly windowMinutes?: number | undefined
        readonly resetAt?: number | undefined
      }
    | undefined
  readonly secondary?:
    | {
        readonly usedPercent: number
        readonly windowMinutes?: number | undefined
        readonly resetAt?: number | undefined
      }
    | undefined
}): Array<UsageWindow> =>
  [event.primary, event.secondary].flatMap((window) =>
    window && window.windowMinutes !== undefined
      ? [
          {
            limitId: "codex",
            kind: kindOf(window.windowMinutes),
            windowMinutes: window.windowMinutes,
            usedPercent: window.usedPercent,
            resetsAt: window.resetAt === undefined ? undefined : DateTime.makeUnsafe(window.resetAt * 1000)
          } satisfies UsageWindow
        ]
      : []
  )

/**
 * The usage windows of every account, shared by the fleet.
 *
 * @since 0.1.0
 * @category services
 */
export class UsageWindows extends Context.Service<
  UsageWindows,
  {
    /** Keeps what an answer said about an account's windows; never fails the answer it came with. */
    readonly record: (accountId: string, windows: ReadonlyArray<UsageWindow>) => Effect.Effect<void>
    readonly get: (accountId: string) => Effect.Effect<ReadonlyArray<UsageWindow>>
  }
>()("@nexus/provider-codex/UsageWindows") {
  /**
   * Windows in Postgres; runs the provider's migrations when it starts.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<UsageWindows, never, PgClient.PgClient> = Layer.effect(UsageWindows)(
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* Migrations.run.pipe(Effect.provideService(SqlClient.SqlClient, sql), Effect.orDie)

      /** What this instance last wrote per account: every answer reports the windows, most of them unchanged. */
      const written = new Map<string, { readonly key: string; readonly at: number }>()

      const write = Effect.fn("UsageWindows.record")(function* (
        accountId: string,
        windows: Arr.NonEmptyReadonlyArray<UsageWindow>,
        key: string
      ) {
        const rows = Arr.map(windows, (window) => ({
          account_id: accountId,
          limit_id: window.limitId,
          window_minutes: window.windowMinutes,
          used_percent: window.usedPercent,
          resets_at: window.resetsAt ? DateTime.toDateUtc(window.resetsAt) : null
        }))
        yield* sql`
          INSERT INTO nexus.usage_windows ${sql.insert(rows)}
          ON CONFLICT (account_id, limit_id, window_minutes) DO UPDATE SET
            used_percent = EXCLUDED.used_percent, resets_at = EXCLUDED.resets_at, observed_at = now()`.pipe(
          // Only a report that reached the table counts as written: a failed one is tried again next time.
          Effect.andThen(Effect.sync(() => void written.set(accountId, { key, at: Date.now() }))),
          Effect.catch((error) =>
            Effect.logWarning("could not keep the usage windows", { account: accountId, error: error.message })
          )
        )
      })

      /** Writes a report unless it is the one written for the account in the last minute (so `observed_at` stays fresh). */
      const record = (accountId: string, windows: ReadonlyArray<UsageWindow>): Effect.Effect<void> => {
        if (!Arr.isReadonlyArrayNonEmpty(windows)) return Effect.void
        const key = windows
          .map((w) => `${w.limitId}/${w.windowMinutes}/${w.usedPercent}/${w.resetsAt?.epochMilliseconds ?? ""}`)
          .join(",")
        const previous = written.get(accountId)
        if (previous !== undefined && previous.key === key && Date.now() - previous.at < 60_000) return Effect.void
        return write(accountId, windows, key)
      }

      const get = Effect.fn("UsageWindows.get")(function* (accountId: string) {
        const rows = yield* sql<{
          limit_id: string
          window_minutes: number
          used_percent: number
          resets_at: Date | null
        }>`
          SELECT limit_id, window_minutes, used_percent, resets_at FROM nexus.usage_windows
          WHERE account_id = ${accountId} ORDER BY limit_id, window_minutes`.pipe(Effect.orDie)
        return rows.map((row): UsageWindow => ({
          limitId: row.limit_id,
          kind: kindOf(row.window_minutes),
          windowMinutes: row.window_minutes,
          usedPercent: row.used_percent,
          resetsAt: row.resets_at ? DateTime.makeUnsafe(row.resets_at) : undefined
        }))
      })

      return UsageWindows.of({ record, get })
    })
  )
}

/**
 * The account's credits (`x-codex-credits-*`, protocol §8).
 *
 * @since 0.1.0
 * @category models
 */
export interface Credits {
  readonly hasCredits: boolean
  readonly unlimited: boolean
  readonly balance: number | undefined
}

/**
 * The credits an answer's headers report, when they do.
 *
 * @since 0.1.0
 * @category parsing
 */
export const creditsFromHeaders = (headers: Readonly<Record<string, string | undefined>>): Credits | undefined => {
  const has = headers["x-codex-credits-has-credits"]
  const unlimited = headers["x-codex-credits-unlimited"]
  if (has === undefined && unlimited === undefined) return undefined
  return {
    hasCredits: has === "true",
    unlimited: unlimited === "true",
    balance: number(headers["x-codex-credits-balance"])
  }
}

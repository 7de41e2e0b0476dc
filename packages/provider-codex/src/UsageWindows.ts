/**
 * The accounts' usage windows (protocol §8): read from the `x-codex-*` headers of every backend
 * answer (429s included) and from `codex.rate_limits` events, classified by their length (5 hours,
 * weekly) rather than their position, and kept per account in `nexus.usage_windows`, where every
 * worker — and the router — reads them.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Database, type Errors as DatabaseErrors, Migrations as DatabaseMigrations } from "@nexus/database"
import { Array as Arr, Context, DateTime, Effect, Layer, Schema } from "effect"
import { SqlClient, SqlError, SqlSchema } from "effect/sql"
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
 * A window as stored: whose it is and when it was last reported.
 *
 * @since 0.1.0
 * @category models
 */
export interface ObservedWindow extends UsageWindow {
  readonly accountId: string
  readonly observedAt: DateTime.Utc
}

/**
 * The stored windows cannot be read: the database failed (`reason` is the SQL failure's kind, e.g.
 * `ConnectionError`, and `cause` the failure), or a row is not what this version expects.
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageWindowsUnavailable extends Schema.TaggedError<UsageWindowsUnavailable>()("UsageWindowsUnavailable", {
  reason: Schema.String,
  detail: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `The usage windows in PostgreSQL cannot be read: ${this.detail}. Check DATABASE_URL and that \`nexus db migrate\` succeeds, then try again.`
  }
}

const unavailable = (error: SqlError.SqlError | Schema.SchemaError) =>
  new UsageWindowsUnavailable({
    reason: SqlError.isSqlError(error) ? error.reason._tag : "InvalidRow",
    detail: Database.describe(error),
    retryable: SqlError.isSqlError(error) && error.isRetryable,
    cause: error
  })

const Row = Schema.Struct({
  account_id: Schema.String,
  limit_id: Schema.String,
  window_minutes: Schema.Finite,
  used_percent: Schema.Finite,
  resets_at: Schema.NullOr(Schema.DateTimeUtcFromDate),
  observed_at: Schema.DateTimeUtcFromDate
})

const fromRow = (row: typeof Row.Type): ObservedWindow => ({
  accountId: row.account_id,
  limitId: row.limit_id,
  kind: kindOf(row.window_minutes),
  windowMinutes: row.window_minutes,
  usedPercent: row.used_percent,
  resetsAt: row.resets_at ?? undefined,
  observedAt: row.observed_at
})

/** The order every listing uses: by account, then limit family, then window length. */
const byAccountAndWindow = (a: ObservedWindow, b: ObservedWindow) =>
  a.accountId.localeCompare(b.accountId) || a.limitId.localeCompare(b.limitId) || a.windowMinutes - b.windowMinutes

/** A report's identity, so that an unchanged one is not written again within a minute. */
const reportKey = (windows: ReadonlyArray<UsageWindow>) =>
  windows
    .map((w) => `${w.limitId}/${w.windowMinutes}/${w.usedPercent}/${w.resetsAt?.epochMilliseconds ?? ""}`)
    .join(",")

const REWRITE_AFTER_MS = 60_000

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
    /** One account's windows. */
    readonly get: (accountId: string) => Effect.Effect<ReadonlyArray<ObservedWindow>, UsageWindowsUnavailable>
    /** Every account's windows, with when each was last reported. */
    readonly list: Effect.Effect<ReadonlyArray<ObservedWindow>, UsageWindowsUnavailable>
  }
>()("@nexus/provider-codex/UsageWindows") {
  /**
   * Windows in Postgres; checks when it starts that `nexus db migrate` has created the table.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<
    UsageWindows,
    UsageWindowsUnavailable | DatabaseErrors.SchemaNotReady,
    PgClient.PgClient
  > = Layer.effect(UsageWindows)(
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* DatabaseMigrations.check(Migrations.migrations).pipe(
        Effect.provideService(SqlClient.SqlClient, sql),
        Effect.catchTag("SqlError", (error) => Effect.fail(unavailable(error)))
      )

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
        const key = reportKey(windows)
        const previous = written.get(accountId)
        if (previous !== undefined && previous.key === key && Date.now() - previous.at < REWRITE_AFTER_MS) {
          return Effect.void
        }
        return write(accountId, windows, key)
      }

      const select = SqlSchema.findAll({
        Request: Schema.NullOr(Schema.String),
        Result: Row,
        execute: (accountId) => sql`
          SELECT account_id, limit_id, window_minutes, used_percent, resets_at, observed_at FROM nexus.usage_windows
          ${accountId === null ? sql`` : sql`WHERE account_id = ${accountId}`}
          ORDER BY account_id, limit_id, window_minutes`
      })
      const read = (accountId: string | null) =>
        select(accountId).pipe(Effect.map(Arr.map(fromRow)), Effect.mapError(unavailable))

      const get = Effect.fn("UsageWindows.get")((accountId: string) => read(accountId))
      const list = read(null).pipe(Effect.withSpan("UsageWindows.list"))

      return UsageWindows.of({ record, get, list })
    })
  )

  /**
   * Windows in memory, for the unit and property tests of other packages (no Postgres): the same
   * contract, one process.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerTest: Layer.Layer<UsageWindows> = Layer.sync(UsageWindows)(() => {
    const windows = new Map<string, ObservedWindow>()
    const record = (accountId: string, reported: ReadonlyArray<UsageWindow>) =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const observedAt = DateTime.makeUnsafe(clock.currentTimeMillisUnsafe())
          for (const window of reported) {
            windows.set(`${accountId}/${window.limitId}/${window.windowMinutes}`, { ...window, accountId, observedAt })
          }
        })
      )
    const list = Effect.sync(() => [...windows.values()].sort(byAccountAndWindow))
    const get = (accountId: string) =>
      Effect.map(
        list,
        Arr.filter((window) => window.accountId === accountId)
      )
    return UsageWindows.of({ record, get, list })
  })
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

/**
 * The pool of signed-in ChatGPT accounts as the router sees it: every account of the token store,
 * its usage windows, the usage-limit blocks and the (account, model) cooldowns the fleet recorded,
 * and this process's requests in flight. Kept in memory, so that planning costs no query: the
 * fleet's part is read at start, then re-read when Postgres announces a change on `nexus_pool`
 * (within a second of a block or cooldown recorded by any process), with a bounded poll while
 * notifications are unavailable.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { Database, type Errors as DatabaseErrors, Migrations as DatabaseMigrations } from "@nexus/database"
import { UsageWindows } from "@nexus/provider-codex"
import { TokenStore } from "@nexus/token-store"
import {
  Clock,
  Context,
  DateTime,
  Duration,
  Effect,
  Layer,
  Metric,
  Option,
  Queue,
  Schedule,
  Schema,
  Scope
} from "effect"
import { SqlClient, SqlError, SqlSchema } from "effect/sql"
import { type PoolAccount, type PoolState, type PoolWindow, pairKey } from "./internal/planner.ts"
import * as Migrations from "./Migrations.ts"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { type Cooldown, RoutingPolicy } from "./RoutingPolicy.ts"

export type { PoolAccount, PoolState, PoolWindow } from "./internal/planner.ts"

/**
 * The pool's state could not be read from Postgres (at start; later failures keep the last state).
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolUnavailable extends Schema.TaggedError<PoolUnavailable>()("PoolUnavailable", {
  detail: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `The account pool cannot be read from PostgreSQL: ${this.detail}. Check DATABASE_URL and that \`nexus db migrate\` succeeds, then try again.`
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class AccountPool extends Context.Service<
  AccountPool,
  {
    /** The pool now, from memory (no query). Live: read it, do not keep it. */
    readonly state: Effect.Effect<PoolState>
    /** Blocks an account until `until` (Unix ms): at once here, and in Postgres for the fleet. */
    readonly block: (accountId: string, until: number, reason: string) => Effect.Effect<void>
    /**
     * A rate limit or an unavailable backend on (account, model): may open its cooldown, for the
     * whole fleet.
     */
    readonly failure: (accountId: string, model: string) => Effect.Effect<void>
    /** A turn served by (account, model): its failures are forgotten. */
    readonly success: (accountId: string, model: string) => Effect.Effect<void>
    /** Counts a request in flight on the account for as long as the scope lasts. */
    readonly acquire: (accountId: string) => Effect.Effect<void, never, Scope.Scope>
    /** Reads the fleet's part again now. */
    readonly refresh: Effect.Effect<void, PoolUnavailable>
    /**
     * Requests in flight per account across the fleet's router processes, as each last reported
     * it (every few seconds while it has some, never per request); with how many processes with
     * requests in flight reported.
     */
    readonly fleetInFlight: Effect.Effect<
      { readonly processes: number; readonly byAccount: ReadonlyMap<string, number> },
      PoolUnavailable
    >
  }
>()("@nexus/router/AccountPool") {
  /**
   * The pool over the token store, the usage windows and Postgres (the blocks, and LISTEN on
   * `nexus_pool`); checks when it starts that `nexus db migrate` created its table.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<
    AccountPool,
    PoolUnavailable | DatabaseErrors.SchemaNotReady,
    TokenStore.TokenStore | UsageWindows.UsageWindows | RoutingPolicy | PgClient.PgClient
  > = Layer.effect(AccountPool)(
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* DatabaseMigrations.check(Migrations.migrations).pipe(
        Effect.provideService(SqlClient.SqlClient, sql),
        Effect.catchTag("SqlError", (error) => Effect.fail(unavailable(error)))
      )
      return yield* make(Option.some(sql))
    })
  )

  /**
   * The pool without Postgres, for unit and property tests: the store and windows are read on
   * every `state`, blocks are kept in memory.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerTest: Layer.Layer<
    AccountPool,
    PoolUnavailable,
    TokenStore.TokenStore | UsageWindows.UsageWindows | RoutingPolicy
  > = Layer.effect(AccountPool)(Effect.suspend(() => make(Option.none())))
}

const unavailable = (error: SqlError.SqlError | Schema.SchemaError) =>
  new PoolUnavailable({
    detail: Database.describe(error),
    retryable: SqlError.isSqlError(error) && error.isRetryable,
    cause: error
  })

/**
 * The (account, model) pairs cooling down in this process.
 *
 * @since 0.1.0
 * @category metrics
 */
export const cooldownsOpen = Metric.gauge("nexus_router_cooldowns_open", {
  description: "(account, model) pairs cooling down in this process"
})

const BlockRow = Schema.Struct({
  account_id: Schema.String,
  blocked_until: Schema.DateTimeUtcFromDate
})

const CooldownRow = Schema.Struct({
  account_id: Schema.String,
  model: Schema.String,
  cooled_until: Schema.DateTimeUtcFromDate
})

/** How long to wait after a notification for others of the same burst (one read serves them all). */
const COALESCE = Duration.millis(50)
/** While notifications are unavailable, the fleet's part is read this often. */
const POLL = Duration.seconds(1)
/** Even with notifications, read everything this often (a missed one cannot last). */
const FULL_REFRESH = Duration.seconds(30)
/** How often a process reports its requests in flight; a report older than three of these is gone. */
const HEARTBEAT = Duration.seconds(2)

const InstanceRow = Schema.Struct({
  in_flight: Schema.Record(Schema.String, Schema.Finite)
})

const make = (listenOn: Option.Option<PgClient.PgClient>) =>
  Effect.gen(function* () {
    const store = yield* TokenStore.TokenStore
    const usage = yield* UsageWindows.UsageWindows
    const policy = yield* RoutingPolicy
    const accounts: Array<PoolAccount> = []
    const windows = new Map<string, ReadonlyArray<PoolWindow>>()
    const blocks = new Map<string, number>()
    const cooldowns = new Map<string, number>()
    const inFlight = new Map<string, number>()
    const state: PoolState = {
      accounts,
      windows,
      blocks,
      cooldowns,
      inFlight,
      maxInFlight: policy.maxInFlightPerAccount
    }
    const failures = new Map<string, Array<number>>()

    const openCooldowns = (now: number) => {
      let open = 0
      for (const [key, until] of cooldowns) {
        if (until > now) open++
        else cooldowns.delete(key)
      }
      return open
    }

    const selectBlocks = Option.map(listenOn, (sql) =>
      SqlSchema.findAll({
        Request: Schema.Void,
        Result: BlockRow,
        execute: () => sql`SELECT account_id, blocked_until FROM nexus.account_blocks WHERE blocked_until > now()`
      })(undefined).pipe(Effect.mapError(unavailable))
    )

    const selectCooldowns = Option.map(listenOn, (sql) =>
      SqlSchema.findAll({
        Request: Schema.Void,
        Result: CooldownRow,
        execute: () => sql`SELECT account_id, model, cooled_until FROM nexus.model_cooldowns WHERE cooled_until > now()`
      })(undefined).pipe(Effect.mapError(unavailable))
    )

    /** The sign-ins (status, plan, label): decrypting every row, so read only when they changed. */
    const loadAccounts = Effect.gen(function* () {
      const stored = yield* store.list.pipe(
        Effect.mapError((error) => new PoolUnavailable({ detail: error.message, retryable: true, cause: error }))
      )
      accounts.length = 0
      for (const row of stored) {
        accounts.push({
          accountId: row.tokens.accountId,
          label: row.label,
          plan: row.tokens.planType,
          status: row.status,
          statusReason: row.statusReason
        })
      }
    })

    const loadWindows = Effect.gen(function* () {
      const observed = yield* usage.list.pipe(
        Effect.mapError(
          (error) => new PoolUnavailable({ detail: error.message, retryable: error.retryable, cause: error })
        )
      )
      windows.clear()
      for (const window of observed) {
        const resetsAt =
          window.resetsAt === undefined
            ? DateTime.toEpochMillis(window.observedAt) + window.windowMinutes * 60_000
            : DateTime.toEpochMillis(window.resetsAt)
        windows.set(window.accountId, [
          ...(windows.get(window.accountId) ?? []),
          { limitId: window.limitId, windowMinutes: window.windowMinutes, usedPercent: window.usedPercent, resetsAt }
        ])
      }
    })

    const loadBlocks = Effect.gen(function* () {
      if (Option.isNone(selectBlocks)) return
      const blocked = yield* selectBlocks.value
      // Blocks this process recorded stay until they pass: Postgres may not have them yet.
      const now = yield* Clock.currentTimeMillis
      for (const [accountId, until] of blocks) if (until <= now) blocks.delete(accountId)
      for (const row of blocked) {
        const until = DateTime.toEpochMillis(row.blocked_until)
        if (until > (blocks.get(row.account_id) ?? 0)) blocks.set(row.account_id, until)
      }
    })

    const loadCooldowns = Effect.gen(function* () {
      if (Option.isNone(selectCooldowns)) return
      for (const row of yield* selectCooldowns.value) {
        const key = pairKey(row.account_id, row.model)
        const until = DateTime.toEpochMillis(row.cooled_until)
        if (until > (cooldowns.get(key) ?? 0)) cooldowns.set(key, until)
      }
    })

    /** What each table of a `nexus_pool` notification (`<table>:<account id>`) makes the pool read. */
    const loaders: Readonly<Record<string, Effect.Effect<void, PoolUnavailable>>> = {
      oauth_tokens: loadAccounts,
      usage_windows: loadWindows,
      account_blocks: loadBlocks,
      model_cooldowns: loadCooldowns
    }
    const load = Effect.all([loadAccounts, loadWindows, loadBlocks, loadCooldowns], { discard: true })

    /**
     * The parts a burst of notifications changed; everything when one names no known table (or
     * when `payloads` is undefined: the periodic full read).
     */
    const loadFor = (payloads: ReadonlyArray<string> | undefined): Effect.Effect<void, PoolUnavailable> => {
      if (payloads === undefined) return load
      const parts = new Set<Effect.Effect<void, PoolUnavailable>>()
      for (const payload of payloads) {
        const loader = loaders[payload.slice(0, payload.indexOf(":"))]
        if (loader === undefined) return load
        parts.add(loader)
      }
      return Effect.all([...parts], { discard: true })
    }

    yield* load

    if (Option.isSome(listenOn)) {
      const sql = listenOn.value
      const reload = (payloads?: ReadonlyArray<string>) =>
        loadFor(payloads).pipe(
          Effect.andThen(Clock.currentTimeMillis),
          Effect.flatMap((now) => Metric.update(cooldownsOpen, openCooldowns(now))),
          Effect.catch((error) =>
            Effect.logWarning("could not read the account pool; keeping the last one", { error: error.message })
          )
        )
      // One reader of notifications: each burst (and at least every FULL_REFRESH) reloads once.
      // Without notifications (the connection lost, or a pooler that does not pass LISTEN): read the
      // pool, wait POLL, try LISTEN again — a read every second until it works. Said once when lost
      // and once when back, not at every try.
      let lost = false
      const pollOnce = (error: { readonly message: string }) =>
        Effect.andThen(
          lost
            ? Effect.void
            : Effect.andThen(
                Effect.sync(() => {
                  lost = true
                }),
                Effect.logWarning("lost the pool notifications; reading the pool every second until they are back", {
                  error: error.message
                })
              ),
          Effect.andThen(reload(), Effect.sleep(POLL))
        )
      const listening = Effect.suspend(() =>
        lost
          ? Effect.andThen(
              Effect.sync(() => {
                lost = false
              }),
              Effect.logInfo("the pool notifications are back")
            )
          : Effect.void
      )
      yield* Effect.scoped(
        Effect.gen(function* () {
          const notifications = yield* sql.listen("nexus_pool")
          yield* listening
          yield* reload()
          return yield* Effect.forever(
            Effect.gen(function* () {
              const first = yield* Effect.timeoutOption(Queue.take(notifications), FULL_REFRESH)
              if (Option.isNone(first)) return yield* reload()
              yield* Effect.sleep(COALESCE)
              const rest = yield* Queue.clear(notifications)
              yield* reload([first.value, ...rest].map((notification) => notification.payload))
            })
          )
        })
      ).pipe(Effect.catch(pollOnce), Effect.repeat(Schedule.forever), Effect.forkScoped)

      // This process's requests in flight, for `nexus accounts`: written every HEARTBEAT while it
      // has some (and once when it has none left), removed when the pool closes (a crashed
      // process's row ages out). An idle process writes nothing: its row ages out, as it should.
      const instance = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
      let reportedIdle = false
      const report = Effect.suspend(() => {
        if (inFlight.size === 0 && reportedIdle) return Effect.void
        reportedIdle = inFlight.size === 0
        return Effect.asVoid(sql`
          INSERT INTO nexus.router_instances (instance, in_flight, seen_at)
          VALUES (${instance}, ${sql.json(Object.fromEntries(inFlight))}, now())
          ON CONFLICT (instance) DO UPDATE SET in_flight = EXCLUDED.in_flight, seen_at = now()`)
      }).pipe(
        Effect.catch((error) =>
          Effect.logDebug("could not report the requests in flight", { error: Database.describe(error) })
        )
      )
      yield* Effect.addFinalizer(() =>
        sql`DELETE FROM nexus.router_instances WHERE instance = ${instance}`.pipe(Effect.ignore)
      )
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(report, Effect.sleep(HEARTBEAT))))
    }

    const selectInstances = Option.map(listenOn, (sql) =>
      SqlSchema.findAll({
        Request: Schema.Void,
        Result: InstanceRow,
        execute: () => sql`
          SELECT in_flight FROM nexus.router_instances
          WHERE seen_at > now() - ${`${Duration.toMillis(HEARTBEAT) * 3} milliseconds`}::interval`
      })(undefined).pipe(Effect.mapError(unavailable))
    )
    const fleetInFlight = Option.isSome(selectInstances)
      ? Effect.map(selectInstances.value, (rows) => {
          const byAccount = new Map<string, number>()
          for (const row of rows) {
            for (const [accountId, count] of Object.entries(row.in_flight)) {
              byAccount.set(accountId, (byAccount.get(accountId) ?? 0) + count)
            }
          }
          return { processes: rows.length, byAccount: byAccount as ReadonlyMap<string, number> }
        })
      : Effect.sync(() => ({ processes: 1, byAccount: new Map(inFlight) as ReadonlyMap<string, number> }))

    const persistBlock = Option.map(
      listenOn,
      (sql) => (accountId: string, until: number, reason: string) =>
        sql`
          INSERT INTO nexus.account_blocks (account_id, blocked_until, reason)
          VALUES (${accountId}, ${new Date(until)}, ${reason})
          ON CONFLICT (account_id) DO UPDATE SET blocked_until = GREATEST(nexus.account_blocks.blocked_until, EXCLUDED.blocked_until),
            reason = EXCLUDED.reason, observed_at = now()`.pipe(
          Effect.asVoid,
          Effect.catch((error) =>
            Effect.logWarning("could not record the usage-limit block for the fleet", {
              account: accountId,
              error: Database.describe(error)
            })
          )
        )
    )

    const persistCooldown = Option.map(
      listenOn,
      (sql) => (accountId: string, model: string, until: number) =>
        sql`
          INSERT INTO nexus.model_cooldowns (account_id, model, cooled_until)
          VALUES (${accountId}, ${model}, ${new Date(until)})
          ON CONFLICT (account_id, model) DO UPDATE
            SET cooled_until = GREATEST(nexus.model_cooldowns.cooled_until, EXCLUDED.cooled_until), observed_at = now()`.pipe(
          Effect.asVoid,
          Effect.catch((error) =>
            Effect.logWarning("could not record the cooldown for the fleet", {
              account: accountId,
              model,
              error: Database.describe(error)
            })
          )
        )
    )

    const block = (accountId: string, until: number, reason: string) =>
      Effect.andThen(
        Effect.sync(() => {
          if (until > (blocks.get(accountId) ?? 0)) blocks.set(accountId, until)
        }),
        Option.isSome(persistBlock) ? persistBlock.value(accountId, until, reason) : Effect.void
      )

    const failure = (accountId: string, model: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const key = pairKey(accountId, model)
        const cooldown: Cooldown = policy.cooldown
        const since = now - Duration.toMillis(cooldown.window)
        const recent = (failures.get(key) ?? []).filter((at) => at > since)
        recent.push(now)
        if (recent.length >= cooldown.failures) {
          failures.delete(key)
          const until = now + Duration.toMillis(cooldown.duration)
          cooldowns.set(key, until)
          return Effect.all(
            [
              Metric.update(cooldownsOpen, openCooldowns(now)),
              Effect.logWarning("cooling down a model on an account after repeated failures", {
                account: accountId,
                model,
                for: Duration.format(cooldown.duration)
              }),
              Option.isSome(persistCooldown) ? persistCooldown.value(accountId, model, until) : Effect.void
            ],
            { discard: true }
          )
        }
        failures.set(key, recent)
        return Effect.void
      })

    const success = (accountId: string, model: string) =>
      Effect.sync(() => {
        failures.delete(pairKey(accountId, model))
      })

    // Once per turn: the release goes straight onto the scope (acquireRelease would also capture
    // and re-provide the caller's whole context for it, which a counter does not need).
    const acquire = (accountId: string) =>
      Effect.flatMap(Effect.scope, (scope) =>
        Effect.uninterruptible(
          Effect.andThen(
            Effect.sync(() => void inFlight.set(accountId, (inFlight.get(accountId) ?? 0) + 1)),
            Scope.addFinalizer(
              scope,
              Effect.sync(() => {
                const left = (inFlight.get(accountId) ?? 1) - 1
                if (left > 0) inFlight.set(accountId, left)
                else inFlight.delete(accountId)
              })
            )
          )
        )
      )

    const current = Option.isSome(listenOn)
      ? Effect.succeed(state)
      : // Without Postgres nothing announces changes: the store and windows are read every time.
        // A failed read keeps the last state, as the Postgres pool does.
        Effect.as(Effect.ignore(load), state)

    return AccountPool.of({ state: current, block, failure, success, acquire, refresh: load, fleetInFlight })
  })

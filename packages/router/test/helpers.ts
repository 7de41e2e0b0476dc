// The real parts every router test runs on: the emulator, a scratch database with every package's
// tables, Credentials, the Codex client (fast backoff, two attempts), and the router over them.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { OAuthClient, TokenSet } from "@nexus/oauth"
import { CodexClient, Migrations as ProviderMigrations, ModelCatalog, UsageWindows } from "@nexus/provider-codex"
import { TestDatabase } from "@nexus/testing"
import { Credentials, Crypto, Migrations as TokenStoreMigrations, TokenStore } from "@nexus/token-store"
import { type Clock, Duration, Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import { AccountPool } from "../src/AccountPool.ts"
import * as Migrations from "../src/Migrations.ts"
import { Router } from "../src/Router.ts"
import { type Policy, RoutingPolicy, defaults } from "../src/RoutingPolicy.ts"

/** Every package's migrations the router's tables depend on, in order. */
export const migrations = [TokenStoreMigrations.migrations, ProviderMigrations.migrations, Migrations.migrations]

/** The database and the emulator, shared by the layers of a test file. */
export const Infrastructure = Layer.mergeAll(
  TestDatabase.layer({ migrations }),
  Emulator.Emulator.layer({ settings: { requireInstructions: false } })
)

/** The token key of this test run: a second process (a child) decrypts the same rows with it. */
export const TEST_KEY = randomBytes(32).toString("base64")

/**
 * The router stack over a backend (`urls`) and the database: policy, pool, catalog, client (fast
 * backoff, two attempts), credentials under `key`. Each stack is a process as far as the pool is
 * concerned (its own memory, its own LISTEN); a child process builds one too.
 */
export const routerStackAt = (
  urls: { readonly issuer: string; readonly codexBaseUrl: string },
  key: string,
  policy: Policy = defaults
) => {
  const credentials = Credentials.Credentials.layerStack({
    crypto: Crypto.Crypto.layerFromKey(key),
    oauth: OAuthClient.OAuthClient.layerWith({ issuer: urls.issuer }),
    sources: "postgres"
  }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  const catalog = ModelCatalog.ModelCatalog.layer({ baseUrl: urls.codexBaseUrl }).pipe(
    Layer.provide(NodeHttpClient.layerUndici)
  )
  const client = CodexClient.CodexClient.layerNoDeps({
    baseUrl: urls.codexBaseUrl,
    baseDelay: Duration.millis(5),
    attempts: 2
  }).pipe(Layer.provide(NodeHttpClient.layerDispatcher))
  const pool = AccountPool.layer.pipe(Layer.provideMerge(RoutingPolicy.layerWith(policy)))
  return Router.layer.pipe(
    Layer.provideMerge(client),
    Layer.provideMerge(pool),
    Layer.provideMerge(catalog),
    Layer.provideMerge(UsageWindows.UsageWindows.layer),
    Layer.provideMerge(credentials)
  )
}

/** The router stack over the test's emulator and database. */
export const routerStack = (policy: Policy = defaults) =>
  Layer.unwrap(Effect.map(Emulator.Emulator, (emulator) => routerStackAt(emulator.urls, TEST_KEY, policy)))

/** Signs in a fresh emulator account of `plan` with `budget` turns per window; its id and label. */
export const signIn = (label: string, plan: "plus" | "pro" | "team", budget = { primary: 1e6, secondary: 1e6 }) =>
  Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    // The id follows the label: ties in headroom go to the first id, so tests can tell who comes first.
    const account = yield* emulator.addAccount({
      id: `acct-${label}`,
      email: `${label}@example.com`,
      plan,
      budget
    })
    const tokens = yield* TokenSet.fromTokenResponse(yield* emulator.issueTokens(account.id))
    yield* (yield* TokenStore.TokenStore).put(tokens, { label })
    return { id: account.id, label }
  })

/** The /responses requests the emulator received, per account id. */
export const requestsByAccount = Effect.flatMap(Emulator.Emulator, (emulator) =>
  Effect.map(emulator.counters, (counters) => counters.requests.responses?.byAccount ?? {})
)

/** A clock `offset` ahead of the real one (the emulator's, after it advanced), sleeping in real time. */
export const shiftedClock = (offset: Duration.Duration) =>
  Effect.clockWith((real) => {
    const millis = Duration.toMillis(offset)
    const nanos = BigInt(millis) * 1_000_000n
    const shifted: Clock.Clock = {
      currentTimeMillisUnsafe: () => real.currentTimeMillisUnsafe() + millis,
      currentTimeMillis: Effect.sync(() => real.currentTimeMillisUnsafe() + millis),
      currentTimeNanosUnsafe: () => real.currentTimeNanosUnsafe() + nanos,
      currentTimeNanos: Effect.sync(() => real.currentTimeNanosUnsafe() + nanos),
      monotonicTimeNanosUnsafe: () => real.monotonicTimeNanosUnsafe(),
      monotonicTimeNanos: real.monotonicTimeNanos,
      sleep: (duration) => real.sleep(duration)
    }
    return Effect.succeed(shifted)
  })

/** Empties the pool's tables and the emulator's faults; the pool re-reads them. */
export const freshPool = Effect.gen(function* () {
  const sql = yield* PgClient.PgClient
  yield* sql`DELETE FROM nexus.oauth_tokens`
  yield* sql`DELETE FROM nexus.usage_windows`
  yield* sql`DELETE FROM nexus.account_blocks`
  yield* sql`DELETE FROM nexus.model_cooldowns`
  yield* (yield* Emulator.Emulator).clearFaults
})

/** Signs in accounts `a`, `b`, `c` (ids in that order: ties in headroom go to the first). */
export const threeAccounts = (budgetOfA = { primary: 1e6, secondary: 1e6 }) =>
  Effect.gen(function* () {
    yield* freshPool
    const run = Math.random().toString(36).slice(2, 8)
    const a = yield* signIn(`a-${run}`, "plus", budgetOfA)
    const b = yield* signIn(`b-${run}`, "pro")
    const c = yield* signIn(`c-${run}`, "team")
    yield* (yield* AccountPool).refresh
    return { a, b, c }
  })

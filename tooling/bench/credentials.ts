// Credentials.accessToken with a valid token: calls per second and database round trips per call,
// side by side in one run with reading the row from Postgres on every call (what a cache-less
// implementation does) and with a bare Effect.succeed of the token (the floor).
//   node tooling/bench/credentials.ts [--seconds 3]
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { OAuthClient, TokenSet } from "@nexus/oauth"
import { TestDatabase } from "@nexus/testing"
import { Credentials, Crypto, Migrations, TokenStore } from "@nexus/token-store"
import { Console, Effect, Layer, Redacted } from "effect"
import { benchArgs } from "./args.ts"

const values = benchArgs({ seconds: { type: "string", default: "3" } })
const seconds = Number(values.seconds)

const Live = Layer.unwrap(
  Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    return Credentials.Credentials.layerStack({
      crypto: Crypto.Crypto.layerRandom,
      oauth: OAuthClient.OAuthClient.layerWith({ issuer: emulator.urls.issuer }),
      sources: "postgres"
    })
  })
).pipe(
  Layer.provideMerge(TestDatabase.layer({ migrations: [Migrations.migrations] })),
  Layer.provideMerge(Emulator.Emulator.layer())
)

/** Transactions Postgres has counted for the scratch database (each statement outside a transaction is one). */
const transactions = Effect.gen(function* () {
  const sql = yield* PgClient.PgClient
  // Backends report their statistics when idle, at most once a second.
  yield* Effect.sleep("1500 millis")
  const [row] = yield* sql<{ xact_commit: string; xact_rollback: string }>`
    SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()`
  return Number(row!.xact_commit) + Number(row!.xact_rollback)
})

/** Runs `call` back to back for `seconds`; answers calls per second and round trips per call. */
const measure = (name: string, call: Effect.Effect<unknown, unknown>) =>
  Effect.gen(function* () {
    const before = yield* transactions
    const deadline = performance.now() + seconds * 1000
    const began = performance.now()
    let calls = 0
    while (performance.now() < deadline) {
      for (let i = 0; i < 256; i++) yield* call
      calls += 256
    }
    const elapsed = (performance.now() - began) / 1000
    // The measuring query itself is one transaction on each side.
    const roundTrips = Math.max(0, (yield* transactions) - before - 1)
    const rate = calls / elapsed
    yield* Console.log(
      `${name.padEnd(34)} ${rate.toFixed(0).padStart(9)} calls/s   ${(roundTrips / calls).toFixed(4)} database round trips per call`
    )
    return { rate, roundTrips, calls }
  })

const program = Effect.gen(function* () {
  const emulator = yield* Emulator.Emulator
  const store = yield* TokenStore.TokenStore
  const credentials = yield* Credentials.Credentials
  const stored = yield* store.put(yield* TokenSet.fromTokenResponse(yield* emulator.issueTokens()), { label: "bench" })
  const token = stored.tokens.accessToken
  yield* credentials.accessToken("bench")
  yield* Console.log(`sequential calls, ${seconds} s each, one process (2 cores)`)
  const floor = yield* measure("Effect.succeed(token) (floor)", Effect.succeed(token))
  const cached = yield* measure("Credentials.accessToken", credentials.accessToken("bench"))
  const perCall = yield* measure(
    "TokenStore.get per call (no cache)",
    Effect.map(store.get("bench"), (s) => s.tokens.accessToken)
  )
  yield* Console.log(
    `accessToken: ${(cached.rate / perCall.rate).toFixed(0)}x the per-call read, ${(cached.rate / floor.rate).toFixed(2)}x the floor; ` +
      `round trips per call: ${(cached.roundTrips / cached.calls).toFixed(4)} (target 0; the per-call read measured ${(perCall.roundTrips / perCall.calls).toFixed(2)}, which shows the count works)`
  )
  if (Redacted.value(yield* credentials.accessToken("bench")) !== Redacted.value(token)) {
    return yield* Effect.die(new Error("the benchmark's token changed under it"))
  }
})

program.pipe(Effect.provide(Live), NodeRuntime.runMain)

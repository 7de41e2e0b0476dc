// Credentials.accessToken with a valid token: calls per second and database round trips per call,
// side by side in one run with reading the row from Postgres on every call (what a cache-less
// implementation does) and with a bare Effect.succeed of the token (the floor).
//   node tooling/bench/credentials.ts [--seconds 3]
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Emulator } from "@nexus/codex-emulator"
import { OAuthClient, TokenSet } from "@nexus/oauth"
import { TestDatabase } from "@nexus/testing"
import { Credentials, Crypto, Migrations, TokenStore } from "@nexus/token-store"
import { Console, Effect, Layer, Redacted } from "effect"
import { benchArgs } from "./args.ts"
import { measure as measureFor } from "./measure.ts"

const values = benchArgs({ seconds: { type: "string", default: "3" } })
const seconds = Number(values.seconds)
const measure = (name: string, call: Effect.Effect<unknown, unknown>) => measureFor(name, call, seconds)

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

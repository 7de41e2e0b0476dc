// The token hot path and the refresh storm, on one scratch database and the emulator:
//   1. Credentials.accessToken with a valid token: calls per second and database round trips per
//      call, side by side in one run with reading the row from Postgres on every call (what a
//      cache-less implementation does) and with a bare Effect.succeed of the token (the floor);
//   2. the refresh storm: 8 processes (each its own Credentials, cache and connections, as workers
//      on several machines) × 50 concurrent callers on an expiring token → how many refreshes reach
//      the emulator (goal exactly 1) and how many different tokens the 400 callers got (goal 1).
//   node tooling/bench/credentials.ts [--seconds 3] [--processes 8] [--callers 50] [--quick] [--json FILE]
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Emulator } from "@nexus/codex-emulator"
import { OAuthClient, TokenSet } from "@nexus/oauth"
import { TestDatabase } from "@nexus/testing"
import { Credentials, Crypto, Migrations, TokenStore } from "@nexus/token-store"
import { Console, DateTime, Effect, Layer, Redacted } from "effect"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createInterface } from "node:readline"
import { benchArgs } from "./args.ts"
import { measure as measureFor } from "./measure.ts"
import { makeReport } from "./report.ts"

const values = benchArgs(
  {
    seconds: { type: "string", default: "3" },
    processes: { type: "string", default: "8" },
    callers: { type: "string", default: "50" }
  },
  { seconds: "1", processes: "4" }
)
const report = makeReport("credentials", values)
const seconds = Number(values.seconds)
const processes = Math.max(1, Number(values.processes))
const callers = Math.max(1, Number(values.callers))
// The floor (no database, so no round trips to count) needs less time to settle.
const measure = (name: string, call: Effect.Effect<unknown, unknown>, roundTrips = true, since?: number) =>
  measureFor(name, call, roundTrips ? seconds : Math.min(seconds, 0.5), { roundTrips, since })

/** The key tokens are sealed with, here and in the storm's processes. */
const key = randomBytes(32).toString("base64")

const Live = Layer.unwrap(
  Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    return Credentials.Credentials.layerStack({
      crypto: Crypto.Crypto.layerFromKey(key),
      oauth: OAuthClient.OAuthClient.layerWith({ issuer: emulator.urls.issuer }),
      sources: "postgres"
    })
  })
).pipe(
  Layer.provideMerge(TestDatabase.layer({ migrations: [Migrations.migrations] })),
  Layer.provideMerge(Emulator.Emulator.layer())
)

/** One instance of the fleet: the token store's own fleet fixture, as a separate OS process. */
const fleetWorker = new URL("../../packages/token-store/test/fixtures/fleet-worker.ts", import.meta.url).pathname

/** `processes` processes, each with `callers` concurrent callers of accessToken at once; answers what they got. */
const storm = (databaseUrl: string, issuer: string) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      Array.from({ length: processes }, () => {
        const child = spawn(process.execPath, [fleetWorker], {
          env: {
            ...process.env,
            DATABASE_URL: databaseUrl,
            ISSUER: issuer,
            NEXUS_TOKEN_KEY: key,
            ACCOUNT: "storm",
            CALLS: String(callers)
          },
          stdio: ["pipe", "pipe", "inherit"]
        })
        const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
        const next = async () => {
          const line = await lines.next()
          if (line.done === true) throw new Error(`a storm process exited with ${child.exitCode}`)
          return line.value
        }
        return { child, next }
      })
    ),
    (children) =>
      Effect.sync(() => {
        for (const { child } of children) child.kill("SIGKILL")
      })
  ).pipe(
    Effect.flatMap((children) =>
      Effect.promise(async () => {
        // Every process is up and has its connections before any caller runs.
        for (const { next } of children)
          if ((await next()) !== "ready") throw new Error("a storm process failed to start")
        const answers = await Promise.all(
          children.map(({ child, next }) => {
            const answer = next()
            child.stdin!.write("go\n")
            return answer.then((line) => JSON.parse(line) as { tokens: Array<string>; errors: Array<string> })
          })
        )
        return {
          tokens: answers.flatMap((answer) => answer.tokens),
          errors: answers.flatMap((answer) => answer.errors)
        }
      })
    )
  )

const program = Effect.gen(function* () {
  const emulator = yield* Emulator.Emulator
  const store = yield* TokenStore.TokenStore
  const credentials = yield* Credentials.Credentials
  const stored = yield* store.put(yield* TokenSet.fromTokenResponse(yield* emulator.issueTokens()), { label: "bench" })
  const token = stored.tokens.accessToken
  yield* credentials.accessToken("bench")

  // --- 1. The hot path ------------------------------------------------------------------------
  yield* Console.log(`sequential calls, ${seconds} s each, one process (2 cores)`)
  const floor = yield* measure("Effect.succeed(token) (floor)", Effect.succeed(token), false)
  const cached = yield* measure("Credentials.accessToken", credentials.accessToken("bench"))
  const perCall = yield* measure(
    "TokenStore.get per call (no cache)",
    Effect.map(store.get("bench"), (s) => s.tokens.accessToken),
    true,
    cached.counted
  )
  const cachedTrips = cached.roundTrips / cached.calls
  yield* Console.log(
    `accessToken: ${(cached.rate / perCall.rate).toFixed(0)}x the per-call read, ${(cached.rate / floor.rate).toFixed(2)}x the floor; ` +
      `round trips per call: ${cachedTrips.toFixed(4)} (target 0; the per-call read measured ${(perCall.roundTrips / perCall.calls).toFixed(2)}, which shows the count works)`
  )
  if (Redacted.value(yield* credentials.accessToken("bench")) !== Redacted.value(token)) {
    return yield* Effect.die(new Error("the benchmark's token changed under it"))
  }
  report.ratio("Credentials.accessToken (a valid token)", "calls/s", cached.rate, {
    name: "TokenStore.get per call (no cache)",
    value: perCall.rate
  })
  report.ratio("Credentials.accessToken vs the floor", "calls/s", cached.rate, {
    name: "Effect.succeed(token)",
    value: floor.rate
  })
  report.add({
    figure: "Credentials.accessToken: database round trips per call",
    value: cachedTrips,
    unit: "round trips",
    goal: "0 (< 0.001: background only)",
    met: cachedTrips < 0.001
  })

  // --- 2. The refresh storm -------------------------------------------------------------------
  // 60 s left is less than the 5 minutes every caller demands: each of them wants a refresh.
  const fresh = yield* TokenSet.fromTokenResponse(yield* emulator.issueTokens())
  yield* store.put(new TokenSet.TokenSet({ ...fresh, expiresAt: DateTime.makeUnsafe(Date.now() + 60_000) }), {
    label: "storm"
  })
  const before = (yield* emulator.counters).refreshes
  const database = yield* TestDatabase.TestDatabase
  const got = yield* Effect.scoped(storm(database.url, emulator.urls.issuer))
  const after = (yield* emulator.counters).refreshes
  const refreshes = after.succeeded - before.succeeded
  const rejected = after.rejected - before.rejected
  const distinct = new Set(got.tokens).size
  yield* Console.log(
    `refresh storm, ${processes} processes × ${callers} callers on an expiring token: ${refreshes} refresh(es) upstream, ${rejected} rejected; ` +
      `${got.tokens.length} tokens handed out, ${distinct} distinct; ${got.errors.length} errors${got.errors.length > 0 ? ` (${[...new Set(got.errors)].join(", ")})` : ""} (goal: exactly 1 refresh, 1 token, 0 errors)`
  )
  report.add({
    figure: `refresh storm: upstream refreshes (${processes} processes × ${callers} callers)`,
    value: refreshes,
    unit: "refreshes",
    goal: "exactly 1, 0 rejected, 0 errors",
    met: refreshes === 1 && rejected === 0 && got.errors.length === 0
  })
  report.add({
    figure: "refresh storm: distinct tokens handed out",
    value: distinct,
    unit: "tokens",
    goal: `1 (to all ${processes * callers})`,
    met: distinct === 1 && got.tokens.length === processes * callers
  })
  report.write()
})

program.pipe(Effect.provide(Live), NodeRuntime.runMain)

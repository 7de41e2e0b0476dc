// Shared setup: a scratch database, the emulator, and Credentials over both.
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { OAuthClient, TokenSet } from "@nexus/oauth"
import { TestDatabase } from "@nexus/testing"
import { DateTime, Duration, Effect, Layer, Redacted, Schedule } from "effect"
import { spawn } from "node:child_process"
import { Credentials } from "../src/Credentials.ts"
import { Crypto } from "../src/Crypto.ts"
import * as Migrations from "../src/Migrations.ts"

/** A fixed key, so that child processes of the fleet tests share it. */
export const TEST_KEY = Buffer.alloc(32, 7).toString("base64")

/** An OAuthClient pointed at the emulator of the surrounding layer. */
export const OAuthLive = Layer.unwrap(
  Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    return OAuthClient.OAuthClient.layerWith({ issuer: emulator.urls.issuer, requestTimeout: Duration.seconds(10) })
  })
)

/** The store and Credentials of one instance, over a given database. */
export const instance = Layer.fresh(
  Credentials.layerStack({ crypto: Crypto.layerFromKey(TEST_KEY), oauth: OAuthLive, sources: "postgres" })
)

/** Everything a test needs: emulator, scratch database (migrated), store and Credentials. */
export const TestLive = instance.pipe(
  Layer.provideMerge(TestDatabase.layer({ migrations: [Migrations.migrations] })),
  Layer.provideMerge(Emulator.Emulator.layer())
)

/** A sign-in minted by the emulator; `expiresIn` overrides when Nexus thinks it expires. */
export const mint = Effect.fnUntraced(function* (account?: string, expiresInSeconds?: number) {
  const emulator = yield* Emulator.Emulator
  const tokens = yield* TokenSet.fromTokenResponse(yield* emulator.issueTokens(account))
  if (expiresInSeconds === undefined) return tokens
  return new TokenSet.TokenSet({ ...tokens, expiresAt: DateTime.makeUnsafe(Date.now() + expiresInSeconds * 1000) })
})

export const value = Redacted.value

/** The raw rows, as a dump would show them. */
export const dump = Effect.gen(function* () {
  const sql = yield* PgClient.PgClient
  return yield* sql<Record<string, unknown>>`SELECT * FROM nexus.oauth_tokens`
})

/** One fleet worker process (test/fixtures/fleet-worker.ts) on this test's database and emulator. */
export const spawnWorker = (settings: {
  readonly databaseUrl: string
  readonly issuer: string
  readonly account: string
  readonly calls: number
  readonly env?: Record<string, string>
}) =>
  spawn(process.execPath, [new URL("./fixtures/fleet-worker.ts", import.meta.url).pathname], {
    env: {
      ...process.env,
      DATABASE_URL: settings.databaseUrl,
      ISSUER: settings.issuer,
      NEXUS_TOKEN_KEY: TEST_KEY,
      ACCOUNT: settings.account,
      CALLS: String(settings.calls),
      ...settings.env
    },
    stdio: ["pipe", "pipe", "inherit"]
  })

/** Retries `check` every 20 ms until it holds (5 s at most): for what arrives by NOTIFY. */
export const eventually = <E>(check: Effect.Effect<boolean, E>) =>
  check.pipe(
    Effect.flatMap((ok) => (ok ? Effect.void : Effect.fail("not yet" as const))),
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }),
    Effect.orDie
  )

/** Another instance in this process: its own Credentials (cache, LISTEN), store and key. */
export const peerInstance = instance

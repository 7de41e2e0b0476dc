// The states the CLI tests start from, and the checks several of them make: shared by the test
// files, each of which runs its own scratch database and emulator.
import { assert } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { Database, Migrations } from "@nexus/database"
import { TestDatabase } from "@nexus/testing"
import { Crypto, TokenStore } from "@nexus/token-store"
import { Effect, Layer } from "effect"
import { migrations } from "../src/Services.ts"
import { childEnv, type Env, nexus, type Outcome, TEST_KEY } from "./helpers.ts"

/** The status JSON of every account; `code` is 1 when some account needs attention. */
export const statusJson = (env: Env, code = 0) =>
  Effect.gen(function* () {
    const outcome = yield* nexus(["status", "--json"], env)
    assert.strictEqual(outcome.code, code, outcome.stderr)
    return JSON.parse(outcome.stdout) as ReadonlyArray<Record<string, unknown>>
  })

/** Asserts that no output looks like a token: no JWT, no emulator refresh token. */
export const assertNoTokenShapes = (outcome: Outcome) => {
  for (const text of [outcome.stdout, outcome.stderr]) {
    assert.notInclude(text, "eyJ")
    assert.notInclude(text, "rt_")
  }
}

/** Drops every stored sign-in and fault, so that a test starts clean (and runs alone, too). */
export const reset = Effect.gen(function* () {
  const sql = yield* PgClient.PgClient
  yield* Migrations.run(migrations).pipe(
    Effect.provide(Database.Database.layerUrl((yield* TestDatabase.TestDatabase).url))
  )
  yield* sql`DELETE FROM nexus.oauth_tokens`
  yield* sql`DELETE FROM nexus.usage_windows`
  yield* sql`DELETE FROM nexus.account_blocks`
  yield* sql`DELETE FROM nexus.model_cooldowns`
  const emulator = yield* Emulator.Emulator
  yield* emulator.clearFaults
})

/** A clean start with one account signed in from the environment; answers that environment. */
export const signedIn = Effect.gen(function* () {
  yield* reset
  const { env: tokens } = yield* envFromIssued()
  const env = { ...(yield* childEnv), ...tokens }
  assert.strictEqual((yield* nexus(["login", "--from-env"], env)).code, 0)
  return env
})

/** Tokens the emulator issued, as `nexus login --from-env` reads them. */
export const envFromIssued = Effect.fnUntraced(function* (account?: string) {
  const emulator = yield* Emulator.Emulator
  const issued = yield* emulator.issueTokens(account)
  const claims = JSON.parse(Buffer.from(issued.access_token.split(".")[1]!, "base64url").toString("utf8")) as {
    readonly exp: number
  }
  return {
    issued,
    env: {
      CODEX_ACCESS_TOKEN: issued.access_token,
      CODEX_REFRESH_TOKEN: issued.refresh_token,
      CODEX_EXPIRES_AT: String(claims.exp)
    } satisfies Env
  }
})

/** The store as the children see it (same database, same key), to read what they wrote. */
export const ReaderLive = Layer.fresh(TokenStore.TokenStore.layerPg).pipe(
  Layer.provide(Crypto.Crypto.layerFromKey(TEST_KEY))
)

/** Signs in a fresh emulator account of `plan` as `label`, through `nexus login --from-env`; answers its id. */
export const signIn = (env: Env, label: string, plan: "plus" | "pro", id = `acct-${label}`) =>
  Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    const account = yield* emulator.addAccount({ id, email: `${id}@example.com`, plan })
    const { env: tokens } = yield* envFromIssued(account.id)
    const login = yield* nexus(["login", "--from-env", "--label", label], {
      ...env,
      ...tokens,
      CODEX_ACCOUNT_ID: account.id
    })
    assert.strictEqual(login.code, 0, login.stderr)
    return account.id
  })

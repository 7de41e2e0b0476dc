import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { Context, Effect, Exit, Layer } from "effect"
import { Credentials } from "../src/Credentials.ts"
import { Crypto } from "../src/Crypto.ts"
import { TokenStore } from "../src/TokenStore.ts"
import { dump, instance, mint, OAuthLive, TestLive, value } from "./helpers.ts"

layer(TestLive, { excludeTestServices: true })("Credentials in one process", (it) => {
  const setup = Effect.fnUntraced(function* (expiresInSeconds?: number) {
    const emulator = yield* Emulator.Emulator
    const sql = yield* PgClient.PgClient
    yield* emulator.reset
    yield* sql`DELETE FROM nexus.oauth_tokens`
    const store = yield* TokenStore
    const stored = yield* store.put(yield* mint(undefined, expiresInSeconds), { label: "acme" })
    // Invalidation across instances is asynchronous (a NOTIFY away): let this instance hear of the reset.
    yield* Effect.sleep("100 millis")
    return { emulator, store, stored, credentials: yield* Credentials, sql }
  })

  it.effect("a valid token is served from memory: after the first call no database round trip at all", () =>
    Effect.gen(function* () {
      const { credentials, stored, sql, emulator } = yield* setup()
      const first = yield* credentials.accessToken(stored.tokens.accountId)
      assert.strictEqual(value(first), value(stored.tokens.accessToken))
      // With the table gone, only memory can answer.
      yield* sql`ALTER TABLE nexus.oauth_tokens RENAME TO oauth_tokens_away`
      const again = yield* Effect.exit(credentials.accessToken(stored.tokens.accountId))
      yield* sql`ALTER TABLE nexus.oauth_tokens_away RENAME TO oauth_tokens`
      assert.isTrue(Exit.isSuccess(again))
      assert.strictEqual((yield* emulator.counters).refreshes.succeeded, 0)
    })
  )

  it.effect("by label as well as by account id", () =>
    Effect.gen(function* () {
      const { credentials, stored } = yield* setup()
      assert.strictEqual(value(yield* credentials.accessToken("acme")), value(stored.tokens.accessToken))
    })
  )

  it.effect("50 concurrent callers on an expiring token share one refresh", () =>
    Effect.gen(function* () {
      const { credentials, stored, emulator } = yield* setup(60)
      const tokens = yield* Effect.forEach(Array.from({ length: 50 }), () => credentials.accessToken("acme"), {
        concurrency: "unbounded"
      })
      assert.strictEqual(new Set(tokens.map(value)).size, 1)
      assert.notStrictEqual(value(tokens[0]!), value(stored.tokens.accessToken))
      const counters = yield* emulator.counters
      assert.strictEqual(counters.refreshes.succeeded, 1)
      assert.strictEqual(counters.refreshes.byRefreshReason.proactive_expiry, 1)
    })
  )

  it.effect("tokens are encrypted at rest: no token appears anywhere in the table", () =>
    Effect.gen(function* () {
      const { stored } = yield* setup()
      const rows = JSON.stringify(yield* dump, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))
      for (const token of [stored.tokens.accessToken, stored.tokens.refreshToken, stored.tokens.idToken!]) {
        assert.notInclude(rows, value(token))
        assert.notInclude(rows, value(token).slice(20, 60))
      }
      assert.match(rows, /"access_token":"v1\.[0-9a-f]{8}\./)
    })
  )

  it.effect("a refresh token refused as reused marks the row reauth_required: one attempt, no storm", () =>
    Effect.gen(function* () {
      const { credentials, emulator, store } = yield* setup(60)
      yield* emulator.injectFault({ kind: "refresh_reused" })
      const failures = yield* Effect.forEach(
        Array.from({ length: 20 }),
        () => Effect.flip(credentials.accessToken("acme")),
        {
          concurrency: "unbounded"
        }
      )
      for (const failure of failures) assert.strictEqual(failure._tag, "ReauthenticationRequired")
      assert.include(failures[0]!.message, "nexus login --label acme")
      const later = yield* Effect.flip(credentials.accessToken("acme"))
      assert.strictEqual(later._tag, "ReauthenticationRequired")
      const row = yield* store.get("acme")
      assert.strictEqual(row.status, "reauth_required")
      assert.strictEqual(row.statusReason, "reused")
      const counters = yield* emulator.counters
      assert.strictEqual(counters.requests.token!.total, 1)
    })
  )

  it.effect("a new sign-in makes a reauth_required row active again", () =>
    Effect.gen(function* () {
      const { credentials, emulator, store } = yield* setup(60)
      yield* emulator.injectFault({ kind: "refresh_invalidated" })
      yield* Effect.flip(credentials.accessToken("acme"))
      const fresh = yield* store.put(yield* mint())
      assert.strictEqual(fresh.status, "active")
      assert.strictEqual(value(yield* credentials.accessToken("acme")), value(fresh.tokens.accessToken))
    })
  )

  it.effect("a transient failure keeps the row active and says the caller may retry", () =>
    Effect.gen(function* () {
      const { credentials, emulator, store } = yield* setup(60)
      yield* emulator.injectFault({ kind: "refresh_server_error", status: 503 })
      const failure = yield* Effect.flip(credentials.accessToken("acme"))
      assert.strictEqual(failure._tag, "OAuthHttpError")
      assert.strictEqual((yield* store.get("acme")).status, "active")
      assert.isString(value(yield* credentials.accessToken("acme")))
    })
  )

  it.effect("an unknown account says to run nexus login", () =>
    Effect.gen(function* () {
      const { credentials } = yield* setup()
      const failure = yield* Effect.flip(credentials.accessToken("nobody"))
      assert.strictEqual(failure._tag, "TokenNotFound")
      assert.include(failure.message, "nexus login")
    })
  )

  it.effect(
    "another instance's refresh reaches this one's cache (LISTEN/NOTIFY), and a 401 after a peer rotated uses the peer's token",
    () =>
      Effect.gen(function* () {
        const { credentials, stored, emulator } = yield* setup()
        const before = yield* credentials.accessToken("acme")
        // A second instance in the same process, with its own cache and connections.
        const peer = yield* Layer.build(Layer.fresh(instance).pipe(Layer.provide(OAuthLive))).pipe(
          Effect.map(Context.get(Credentials))
        )
        const rotated = yield* peer.recoverUnauthorized("acme")
        assert.notStrictEqual(value(rotated), value(before))
        // This instance gets a 401 with its old token: it reloads and takes the peer's, without refreshing.
        const recovered = yield* credentials.recoverUnauthorized(stored.tokens.accountId)
        assert.strictEqual(value(recovered), value(rotated))
        yield* Effect.sleep("200 millis")
        assert.strictEqual(value(yield* credentials.accessToken("acme")), value(rotated))
        assert.strictEqual((yield* emulator.counters).refreshes.succeeded, 1)
      })
  )

  it.effect("a lost LISTEN connection is re-established, and invalidation keeps working", () =>
    Effect.gen(function* () {
      const { credentials, sql } = yield* setup()
      const before = yield* credentials.accessToken("acme")
      const listeners = yield* sql<{ pid: number }>`
        SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`
      assert.isAtLeast(listeners.length, 1)
      yield* Effect.forEach(listeners, ({ pid }) => sql`SELECT pg_terminate_backend(${pid})`)
      yield* Effect.sleep("1500 millis")
      const peer = yield* Layer.build(Layer.fresh(instance).pipe(Layer.provide(OAuthLive))).pipe(
        Effect.map(Context.get(Credentials))
      )
      const rotated = yield* peer.recoverUnauthorized("acme")
      assert.notStrictEqual(value(rotated), value(before))
      yield* Effect.sleep("200 millis")
      assert.strictEqual(value(yield* credentials.accessToken("acme")), value(rotated))
    })
  )

  it.effect("a wrong key fails clearly instead of returning garbage", () =>
    Effect.gen(function* () {
      yield* setup()
      const other = yield* Layer.build(
        Layer.fresh(TokenStore.layerPg).pipe(Layer.provide(Layer.fresh(Crypto.layerRandom)))
      ).pipe(Effect.map(Context.get(TokenStore)))
      const failure = yield* Effect.flip(other.get("acme"))
      assert.strictEqual(failure._tag, "TokenStoreUnavailable")
      assert.include(failure.message, "NEXUS_TOKEN_KEY")
    })
  )
})

import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { Context, Effect, Exit, Layer, Logger } from "effect"
import { Credentials } from "../src/Credentials.ts"
import { Crypto } from "../src/Crypto.ts"
import { type LockedDecision, TokenStore } from "../src/TokenStore.ts"
import { dump, eventually, mint, peerInstance, TestLive, value } from "./helpers.ts"

let accounts = 0

layer(TestLive, { excludeTestServices: true })("Credentials in one process", (it) => {
  const setup = Effect.fnUntraced(function* (expiresInSeconds?: number) {
    const emulator = yield* Emulator.Emulator
    const sql = yield* PgClient.PgClient
    yield* emulator.clearFaults
    // A new ChatGPT account per test: no test sees another's sign-in, cached or stored.
    const account = yield* emulator.addAccount({ email: `test-${++accounts}@example.com` })
    const label = `acme-${accounts}`
    const before = yield* emulator.counters
    const store = yield* TokenStore
    const stored = yield* store.put(yield* mint(account.id, expiresInSeconds), { label })
    /** Refreshes of this test's account since setup. */
    const refreshes = Effect.map(emulator.counters, (now) => now.refreshes.succeeded - before.refreshes.succeeded)
    const tokenRequests = Effect.map(
      emulator.counters,
      (now) => (now.requests.token?.total ?? 0) - (before.requests.token?.total ?? 0)
    )
    return { emulator, store, stored, credentials: yield* Credentials, sql, label, refreshes, tokenRequests }
  })

  it.effect("a valid token is served from memory: after the first call no database round trip at all", () =>
    Effect.gen(function* () {
      const { credentials, stored, sql, refreshes } = yield* setup()
      const first = yield* credentials.accessToken(stored.tokens.accountId)
      assert.strictEqual(value(first), value(stored.tokens.accessToken))
      // With the table gone, only memory can answer.
      yield* sql`ALTER TABLE nexus.oauth_tokens RENAME TO oauth_tokens_away`
      const again = yield* Effect.exit(credentials.accessToken(stored.tokens.accountId))
      yield* sql`ALTER TABLE nexus.oauth_tokens_away RENAME TO oauth_tokens`
      assert.isTrue(Exit.isSuccess(again))
      assert.strictEqual(yield* refreshes, 0)
    })
  )

  it.effect("a locked Delete removes the sign-in in the lock's transaction, and the cache lets go of it", () =>
    Effect.gen(function* () {
      const { credentials, store, stored } = yield* setup()
      const accountId = stored.tokens.accountId
      yield* credentials.accessToken(accountId)
      let seen: string | undefined
      const deleted = yield* store.withLock(accountId, (current) =>
        Effect.sync((): LockedDecision => {
          seen = value(current.tokens.refreshToken)
          return { _tag: "Delete" }
        })
      )
      assert.strictEqual(seen, value(stored.tokens.refreshToken))
      assert.strictEqual(deleted.tokens.accountId, accountId)
      assert.strictEqual((yield* Effect.flip(store.get(accountId)))._tag, "TokenNotFound")
      // The delete's notification reaches the cache: no stale token is served.
      yield* eventually(
        Effect.match(credentials.accessToken(accountId), {
          onFailure: (error) => error._tag === "TokenNotFound",
          onSuccess: () => false
        })
      )
    })
  )

  it.effect("by label as well as by account id", () =>
    Effect.gen(function* () {
      const { credentials, stored, label } = yield* setup()
      assert.strictEqual(value(yield* credentials.accessToken(label)), value(stored.tokens.accessToken))
    })
  )

  it.effect("50 concurrent callers on an expiring token share one refresh", () =>
    Effect.gen(function* () {
      const { credentials, stored, refreshes, label } = yield* setup(60)
      const tokens = yield* Effect.forEach(Array.from({ length: 50 }), () => credentials.accessToken(label), {
        concurrency: "unbounded"
      })
      assert.strictEqual(new Set(tokens.map(value)).size, 1)
      assert.notStrictEqual(value(tokens[0]!), value(stored.tokens.accessToken))
      assert.strictEqual(yield* refreshes, 1)
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
      const { credentials, emulator, store, tokenRequests, label } = yield* setup(60)
      yield* emulator.injectFault({ kind: "refresh_reused" })
      const failures = yield* Effect.forEach(
        Array.from({ length: 20 }),
        () => Effect.flip(credentials.accessToken(label)),
        {
          concurrency: "unbounded"
        }
      )
      for (const failure of failures) assert.strictEqual(failure._tag, "ReauthenticationRequired")
      assert.include(failures[0]!.message, `nexus login --label ${label}`)
      const later = yield* Effect.flip(credentials.accessToken(label))
      assert.strictEqual(later._tag, "ReauthenticationRequired")
      const row = yield* store.get(label)
      assert.strictEqual(row.status, "reauth_required")
      assert.strictEqual(row.statusReason, "reused")
      assert.strictEqual(yield* tokenRequests, 1)
    })
  )

  it.effect("a new sign-in makes a reauth_required row active again", () =>
    Effect.gen(function* () {
      const { stored, credentials, emulator, store, label } = yield* setup(60)
      yield* emulator.injectFault({ kind: "refresh_invalidated" })
      yield* Effect.flip(credentials.accessToken(label))
      const fresh = yield* store.put(yield* mint(stored.tokens.accountId))
      assert.strictEqual(fresh.status, "active")
      assert.strictEqual(value(yield* credentials.accessToken(label)), value(fresh.tokens.accessToken))
    })
  )

  it.effect(
    "a transient refresh failure serves the current token while it has not expired, and keeps the row active",
    () =>
      Effect.gen(function* () {
        const { credentials, emulator, store, stored, label } = yield* setup(60)
        yield* emulator.injectFault({ kind: "refresh_server_error", status: 503 })
        assert.strictEqual(value(yield* credentials.accessToken(label)), value(stored.tokens.accessToken))
        assert.strictEqual((yield* store.get(label)).status, "active")
        // Next time the issuer answers and the token is refreshed.
        assert.notStrictEqual(value(yield* credentials.accessToken(label)), value(stored.tokens.accessToken))
      })
  )

  it.effect("a transient refresh failure on an expired token fails with a retryable OAuthHttpError", () =>
    Effect.gen(function* () {
      const { credentials, emulator, store, label } = yield* setup(-10)
      yield* emulator.injectFault({ kind: "refresh_server_error", status: 503 })
      const failure = yield* Effect.flip(credentials.accessToken(label))
      assert.strictEqual(failure._tag, "OAuthHttpError")
      assert.isTrue(failure._tag === "OAuthHttpError" && failure.retryable)
      assert.strictEqual((yield* store.get(label)).status, "active")
    })
  )

  it.effect("a late second 401 for a token already replaced takes the replacement: no second refresh", () =>
    Effect.gen(function* () {
      const { credentials, refreshes, label } = yield* setup()
      const first = yield* credentials.accessToken(label)
      const [a, b] = yield* Effect.all(
        [
          credentials.recoverUnauthorized(label, first),
          Effect.delay(credentials.recoverUnauthorized(label, first), "50 millis")
        ],
        { concurrency: "unbounded" }
      )
      assert.strictEqual(value(a), value(b))
      assert.notStrictEqual(value(a), value(first))
      assert.strictEqual(yield* refreshes, 1)
    })
  )

  it.effect("a caller that gives up mid-refresh leaves the refresh to finish for everyone", () =>
    Effect.gen(function* () {
      const { credentials, emulator, stored, refreshes, label } = yield* setup(60)
      yield* emulator.injectFault({ kind: "slow_first_byte", route: "token", delayMs: 400 })
      const impatient = yield* Effect.exit(Effect.timeout(credentials.accessToken(label), "100 millis"))
      assert.isTrue(impatient._tag === "Failure")
      const later = yield* credentials.accessToken(label)
      assert.notStrictEqual(value(later), value(stored.tokens.accessToken))
      assert.strictEqual(yield* refreshes, 1)
    })
  )

  it.effect("the same account asked for by label and by id at once is refreshed once", () =>
    Effect.gen(function* () {
      const { credentials, stored, refreshes, label } = yield* setup(60)
      const [byLabel, byId] = yield* Effect.all(
        [credentials.accessToken(label), credentials.accessToken(stored.tokens.accountId)],
        { concurrency: "unbounded" }
      )
      assert.strictEqual(value(byLabel), value(byId))
      assert.strictEqual(yield* refreshes, 1)
    })
  )

  it.effect("after a sign-in is deleted and made again, no instance serves the old one", () =>
    Effect.gen(function* () {
      const { credentials, store, stored, label } = yield* setup()
      assert.strictEqual(value(yield* credentials.accessToken(label)), value(stored.tokens.accessToken))
      yield* store.delete(label)
      const again = yield* store.put(yield* mint(), { label })
      yield* eventually(
        Effect.map(credentials.accessToken(label), (token) => value(token) === value(again.tokens.accessToken))
      )
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
        const { credentials, stored, refreshes, label } = yield* setup()
        const before = yield* credentials.accessToken(label)
        // A second instance in the same process, with its own cache and connections.
        const peer = yield* Layer.build(peerInstance).pipe(Effect.map(Context.get(Credentials)))
        const rotated = yield* peer.recoverUnauthorized(label)
        assert.notStrictEqual(value(rotated), value(before))
        // This instance gets a 401 with its old token: it reloads and takes the peer's, without refreshing.
        const recovered = yield* credentials.recoverUnauthorized(stored.tokens.accountId)
        assert.strictEqual(value(recovered), value(rotated))
        yield* eventually(Effect.map(credentials.accessToken(label), (token) => value(token) === value(rotated)))
        assert.strictEqual(yield* refreshes, 1)
      })
  )

  it.effect("a lost LISTEN connection is re-established, and invalidation keeps working", () =>
    Effect.gen(function* () {
      const { credentials, sql, label } = yield* setup()
      const before = yield* credentials.accessToken(label)
      const listeners = yield* sql<{ pid: number }>`
        SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`
      assert.isAtLeast(listeners.length, 1)
      yield* Effect.forEach(listeners, ({ pid }) => sql`SELECT pg_terminate_backend(${pid})`)
      // Listening again once the retry (1 s) has run: a change made now reaches this instance.
      yield* Effect.sleep("1500 millis")
      const peer = yield* Layer.build(peerInstance).pipe(Effect.map(Context.get(Credentials)))
      const rotated = yield* peer.recoverUnauthorized(label)
      assert.notStrictEqual(value(rotated), value(before))
      yield* eventually(Effect.map(credentials.accessToken(label), (token) => value(token) === value(rotated)))
    })
  )

  it.effect(
    "a malformed change notification is logged and empties the cache, and later changes still reach it (LISTEN goes on)",
    () =>
      Effect.gen(function* () {
        const { credentials, stored, sql, label } = yield* setup()
        const warnings: Array<string> = []
        const capture = Logger.layer([
          Logger.make((options) => {
            if (options.logLevel === "Warn") warnings.push(String(options.message))
          })
        ])
        // An instance whose warnings this test sees.
        const listener = yield* Layer.build(peerInstance.pipe(Layer.provide(capture))).pipe(
          Effect.map(Context.get(Credentials))
        )
        assert.strictEqual(value(yield* listener.accessToken(label)), value(stored.tokens.accessToken))
        yield* sql`SELECT pg_notify('nexus_oauth_tokens', 'garbage')`
        yield* eventually(Effect.sync(() => warnings.some((warning) => warning.includes("notification"))))
        // The cache was emptied: with the table gone, the next call cannot be answered from memory.
        yield* sql`ALTER TABLE nexus.oauth_tokens RENAME TO oauth_tokens_away`
        const uncached = yield* Effect.exit(listener.accessToken(label))
        yield* sql`ALTER TABLE nexus.oauth_tokens_away RENAME TO oauth_tokens`
        assert.isTrue(Exit.isFailure(uncached))
        // Cached again; a real change made afterwards (another instance's refresh) still arrives.
        assert.strictEqual(value(yield* listener.accessToken(label)), value(stored.tokens.accessToken))
        const rotated = yield* credentials.recoverUnauthorized(label)
        assert.notStrictEqual(value(rotated), value(stored.tokens.accessToken))
        yield* eventually(Effect.map(listener.accessToken(label), (token) => value(token) === value(rotated)))
      })
  )

  it.effect("a wrong key fails clearly instead of returning garbage", () =>
    Effect.gen(function* () {
      const { label } = yield* setup()
      const other = yield* Layer.build(
        Layer.fresh(TokenStore.layerPg).pipe(Layer.provide(Layer.fresh(Crypto.layerRandom)))
      ).pipe(Effect.map(Context.get(TokenStore)))
      const failure = yield* Effect.flip(other.get(label))
      assert.strictEqual(failure._tag, "TokenStoreUnavailable")
      assert.include(failure.message, "NEXUS_TOKEN_KEY")
    })
  )
})

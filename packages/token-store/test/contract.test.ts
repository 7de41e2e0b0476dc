// One contract, two stores: every scenario runs against the Postgres store and the in-memory
// `layerTest` that other packages' tests use, so that the stand-in cannot drift from the real one.
// Then Credentials over the in-memory store, against the emulator: the same refresh rules.
import { assert, describe, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Emulator } from "@nexus/codex-emulator"
import { TestDatabase } from "@nexus/testing"
import { Effect, Layer, Schema } from "effect"
import { SqlError } from "effect/sql"
import { Credentials } from "../src/Credentials.ts"
import { Crypto } from "../src/Crypto.ts"
import { type LockedDecision, TokenStore, TokenStoreUnavailable } from "../src/TokenStore.ts"
import { mint, OAuthLive, TestLive, value } from "./helpers.ts"

/** A sign-in of a ChatGPT account of its own. */
const fresh = Effect.fnUntraced(function* (expiresInSeconds?: number) {
  const emulator = yield* Emulator.Emulator
  const account = yield* emulator.addAccount({ email: `c-${Math.random().toString(36).slice(2)}@example.com` })
  return yield* mint(account.id, expiresInSeconds)
})

const variants = {
  postgres: Layer.effectDiscard(
    Effect.flatMap(PgClient.PgClient, (sql) => sql`DELETE FROM nexus.oauth_tokens`.pipe(Effect.orDie))
  ).pipe(Layer.provideMerge(TestLive)),
  memory: Layer.merge(TokenStore.layerTest, Emulator.Emulator.layer())
} as const

for (const [name, live] of Object.entries(variants)) {
  layer(live, { excludeTestServices: true })(`the TokenStore contract (${name})`, (it) => {
    it.effect("put, get by id or label, a label that names another account is LabelTaken", () =>
      Effect.gen(function* () {
        const store = yield* TokenStore
        const a = yield* fresh()
        const b = yield* fresh()
        const first = yield* store.put(a, { label: `work-${name}` })
        assert.strictEqual(first.status, "active")
        assert.strictEqual((yield* store.get(`work-${name}`)).tokens.accountId, a.accountId)
        assert.strictEqual(value((yield* store.get(a.accountId)).tokens.refreshToken), value(a.refreshToken))

        const taken = yield* Effect.flip(store.put(b, { label: `work-${name}` }))
        assert.strictEqual(taken._tag, "LabelTaken")
        assert.include(taken.message, `already names account ${a.accountId}`)
        assert.strictEqual((yield* Effect.flip(store.get(b.accountId)))._tag, "TokenNotFound")

        // The same account may keep or change its own label; no label keeps the old one.
        const renamed = yield* store.put(a, { label: `home-${name}` })
        assert.strictEqual(renamed.label, `home-${name}`)
        assert.isAbove(renamed.version, first.version)
        assert.strictEqual((yield* store.put(a)).label, `home-${name}`)
      })
    )

    it.effect("compare-and-set wins once; a stale version is VersionConflict", () =>
      Effect.gen(function* () {
        const store = yield* TokenStore
        const tokens = yield* fresh()
        const stored = yield* store.put(tokens)
        const next = yield* mint(tokens.accountId)
        const updated = yield* store.compareAndSet(tokens.accountId, stored.version, next)
        assert.strictEqual(value(updated.tokens.accessToken), value(next.accessToken))
        const stale = yield* Effect.flip(store.compareAndSet(tokens.accountId, stored.version, tokens))
        assert.strictEqual(stale._tag, "VersionConflict")
      })
    )

    it.effect("withLock serialises deciders per account and applies Reauth and Delete", () =>
      Effect.gen(function* () {
        const store = yield* TokenStore
        const tokens = yield* fresh()
        yield* store.put(tokens)
        let inside = 0
        let most = 0
        const keep = store.withLock(tokens.accountId, () =>
          Effect.gen(function* () {
            most = Math.max(most, ++inside)
            yield* Effect.sleep("5 millis")
            inside--
            return { _tag: "Keep" } satisfies LockedDecision
          })
        )
        yield* Effect.all([keep, keep, keep, keep], { concurrency: "unbounded" })
        assert.strictEqual(most, 1)

        const reauth = yield* store.withLock(tokens.accountId, () =>
          Effect.succeed<LockedDecision>({ _tag: "Reauth", reason: "reused" })
        )
        assert.deepInclude(reauth, { status: "reauth_required", statusReason: "reused" })
        yield* store.withLock(tokens.accountId, () => Effect.succeed<LockedDecision>({ _tag: "Delete" }))
        assert.strictEqual((yield* Effect.flip(store.get(tokens.accountId)))._tag, "TokenNotFound")
        assert.strictEqual(
          (yield* Effect.flip(store.withLock(tokens.accountId, () => Effect.succeed<LockedDecision>({ _tag: "Keep" }))))
            ._tag,
          "TokenNotFound"
        )
      })
    )
  })
}

const MemoryCredentials = Credentials.layerTest.pipe(
  Layer.provideMerge(TokenStore.layerTest),
  Layer.provideMerge(OAuthLive),
  Layer.provideMerge(Emulator.Emulator.layer())
)

describe("Credentials.layerTest", () => {
  layer(MemoryCredentials, { excludeTestServices: true })("over the in-memory store and the emulator", (it) => {
    it.effect("30 concurrent callers on an expiring token share one refresh; refreshNow says scheduled", () =>
      Effect.gen(function* () {
        const emulator = yield* Emulator.Emulator
        const store = yield* TokenStore
        const credentials = yield* Credentials
        const tokens = yield* fresh(60)
        yield* store.put(tokens)
        const before = (yield* emulator.counters).refreshes
        const served = yield* Effect.all(
          Array.from({ length: 30 }, () => credentials.accessToken(tokens.accountId)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(new Set(served.map(value)).size, 1)
        assert.notStrictEqual(value(served[0]!), value(tokens.accessToken))
        const after = (yield* emulator.counters).refreshes
        assert.strictEqual(after.succeeded - before.succeeded, 1)

        const now = yield* credentials.refreshNow(tokens.accountId)
        assert.notStrictEqual(value(now.tokens.accessToken), value(served[0]!))
        const last = (yield* emulator.counters).refreshes
        assert.strictEqual((last.byRefreshReason["scheduled"] ?? 0) - (after.byRefreshReason["scheduled"] ?? 0), 1)
      })
    )

    it.effect("signOut revokes at the issuer and deletes the sign-in; a refused refresh asks for a new login", () =>
      Effect.gen(function* () {
        const emulator = yield* Emulator.Emulator
        const store = yield* TokenStore
        const credentials = yield* Credentials
        const tokens = yield* fresh()
        yield* store.put(tokens, { label: "leaving" })
        const revokes = (yield* emulator.counters).revokes
        const outcome = yield* credentials.signOut("leaving")
        assert.isTrue(outcome.revoked)
        assert.strictEqual(outcome.accountId, tokens.accountId)
        assert.strictEqual(outcome.label, "leaving")
        assert.strictEqual((yield* emulator.counters).revokes, revokes + 1)
        assert.strictEqual((yield* Effect.flip(store.get(tokens.accountId)))._tag, "TokenNotFound")

        const expiring = yield* fresh(60)
        yield* store.put(expiring)
        yield* emulator.injectFault({ kind: "refresh_reused" })
        const refused = yield* Effect.flip(credentials.accessToken(expiring.accountId))
        assert.strictEqual(refused._tag, "ReauthenticationRequired")
        assert.strictEqual((yield* store.get(expiring.accountId)).status, "reauth_required")
        yield* emulator.clearFaults
      })
    )
  })
})

/**
 * A failure of the Postgres store that trying again will not fix: TokenStoreUnavailable, not
 * retryable, with its cause kept and a message that names every one of `mentions`.
 */
const permanent = (error: unknown, isCause: (cause: unknown) => boolean, mentions: ReadonlyArray<string>) => {
  assert.instanceOf(error, TokenStoreUnavailable)
  assert.isFalse(error.retryable)
  assert.isTrue(isCause(error.cause))
  for (const text of mentions) assert.include(error.message, text)
  return error
}

describe("infrastructure failures", () => {
  layer(Layer.merge(TestDatabase.layer(), Emulator.Emulator.layer()), { excludeTestServices: true })(
    "on a database that was never migrated",
    (it) => {
      it.effect(
        "the store's layer fails with SchemaNotReady, saying to run nexus db migrate, and creates nothing",
        () =>
          Effect.gen(function* () {
            const error = yield* Effect.flip(
              Layer.build(Layer.fresh(TokenStore.layerPg).pipe(Layer.provide(Crypto.layerRandom))).pipe(Effect.scoped)
            )
            assert.strictEqual(error._tag, "SchemaNotReady")
            assert.include(error.message, "@nexus/token-store's migration 0001_oauth_tokens: run `nexus db migrate`")
            const sql = yield* PgClient.PgClient
            const [row] = yield* sql<{
              readonly found: boolean
            }>`SELECT to_regclass('nexus.oauth_tokens') IS NOT NULL AS found`
            assert.isFalse(row!.found)
          })
      )
    }
  )

  layer(TestLive, { excludeTestServices: true })("on a database that fails a statement", (it) => {
    const storeAndSql = Effect.all({ store: TokenStore, sql: PgClient.PgClient })

    it.effect(
      "a failed statement is TokenStoreUnavailable with its kind, not retryable, and the SqlError as cause",
      () =>
        Effect.gen(function* () {
          const { store, sql } = yield* storeAndSql
          yield* sql`ALTER TABLE nexus.oauth_tokens RENAME TO oauth_tokens_away`
          const error = yield* Effect.flip(store.list)
          yield* sql`ALTER TABLE nexus.oauth_tokens_away RENAME TO oauth_tokens`
          const failure = permanent(error, SqlError.isSqlError, ["oauth_tokens", "nexus db migrate"])
          assert.notStrictEqual(failure.reason, "ConnectionError")
        })
    )

    it.effect(
      "a stored row this version cannot read is TokenStoreUnavailable (InvalidRow, not retryable), never a defect",
      () =>
        Effect.gen(function* () {
          const { store, sql } = yield* storeAndSql
          yield* sql`DELETE FROM nexus.oauth_tokens`
          const tokens = yield* fresh()
          yield* store.put(tokens, { label: "from-the-future" })
          // A status some later version might write, which this one does not know.
          yield* sql`ALTER TABLE nexus.oauth_tokens DROP CONSTRAINT oauth_tokens_status_check`
          yield* sql`UPDATE nexus.oauth_tokens SET status = 'suspended' WHERE account_id = ${tokens.accountId}`
          const failures = yield* Effect.all([
            Effect.flip(store.get("from-the-future")),
            Effect.flip(store.list),
            Effect.flip(store.inventory),
            Effect.flip(store.withLock(tokens.accountId, () => Effect.succeed<LockedDecision>({ _tag: "Keep" })))
          ])
          yield* sql`DELETE FROM nexus.oauth_tokens`
          yield* sql`ALTER TABLE nexus.oauth_tokens ADD CONSTRAINT oauth_tokens_status_check
            CHECK (status IN ('active', 'reauth_required', 'disabled'))`
          for (const error of failures) {
            const failure = permanent(error, Schema.isSchemaError, ["nexus.oauth_tokens", "status"])
            assert.strictEqual(failure.reason, "InvalidRow")
          }
        })
    )
  })
})

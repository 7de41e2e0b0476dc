// The gateway's API keys on a real scratch database: made, verified, listed, revoked, and the usage
// recorded in batches against them.
import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { TestDatabase } from "@nexus/testing"
import { Effect, Layer, Redacted } from "effect"
import { ApiKeys, type InvalidApiKey, type KeysUnavailable } from "../src/ApiKeys.ts"
import * as Migrations from "../src/Migrations.ts"

const Database = TestDatabase.layer({ migrations: [Migrations.migrations] })
/** Why a key was refused (or the failure's tag when the database failed). */
const reasonOf = (error: InvalidApiKey | KeysUnavailable) =>
  error._tag === "InvalidApiKey" ? error.reason : error._tag

const KeysLive = Layer.provideMerge(Layer.fresh(ApiKeys.layer), Database)

layer(KeysLive, { excludeTestServices: true, timeout: "60 seconds" })("ApiKeys", (it) => {
  it.effect("a key is shown once, stored only as its hash, verified, listed without it and refused once revoked", () =>
    Effect.gen(function* () {
      const keys = yield* ApiKeys
      const sql = yield* PgClient.PgClient
      const { info, key } = yield* keys.create("laptop")
      const text = Redacted.value(key)
      assert.match(text, /^nxs_[A-Za-z0-9_-]{32}$/)
      assert.strictEqual(info.prefix, text.slice(0, 8))
      // Nothing in the table holds the key's text.
      const stored = yield* sql<{ readonly row: string }>`SELECT row_to_json(k)::text AS row FROM nexus.gateway_keys k`
      assert.notInclude(stored.map((row) => row.row).join(), text.slice(8))
      assert.strictEqual(String(key), "<redacted>")

      assert.strictEqual((yield* keys.verify(key)).id, info.id)
      const wrong = yield* Effect.flip(keys.verify(Redacted.make(`${text.slice(0, -1)}x`)))
      assert.strictEqual(reasonOf(wrong), "unknown")
      assert.notInclude(wrong.message, text.slice(8))
      assert.strictEqual(reasonOf(yield* Effect.flip(keys.verify(undefined))), "missing")

      const taken = yield* Effect.flip(keys.create("laptop"))
      assert.strictEqual(taken._tag, "KeyNameTaken")

      const listed = yield* keys.list
      assert.deepStrictEqual(
        listed.map((entry) => entry.name),
        ["laptop"]
      )
      assert.notInclude(JSON.stringify(listed), text)

      const revoked = yield* keys.revoke("laptop")
      assert.isNotNull(revoked.revokedAt)
      assert.strictEqual(reasonOf(yield* Effect.flip(keys.verify(key))), "revoked")
      assert.strictEqual((yield* Effect.flip(keys.revoke("laptop")))._tag, "KeyNotFound")
      // The name is free again once its key is revoked.
      const again = yield* keys.create("laptop")
      assert.notStrictEqual(again.info.id, info.id)
      assert.strictEqual((yield* keys.revoke(again.info.id)).id, again.info.id)
    })
  )

  it.effect("usage is written in batches, summed per key, model and account, errors counted apart", () =>
    Effect.gen(function* () {
      const keys = yield* ApiKeys
      const { info } = yield* keys.create("ci")
      for (let i = 0; i < 1200; i++) {
        yield* keys.record({
          keyId: info.id,
          endpoint: "chat.completions",
          status: i % 100 === 0 ? 429 : 200,
          model: i % 2 === 0 ? "gpt-5.5" : "gpt-5.4",
          accountId: "acct-a",
          inputTokens: 10,
          cachedTokens: 2,
          outputTokens: 5,
          reasoningTokens: 1
        })
      }
      yield* keys.flush
      // The writer may still hold a batch it took: wait until all 1,200 rows are in.
      let rows = yield* keys.usage()
      for (let i = 0; i < 50 && rows.reduce((sum, row) => sum + row.requests, 0) < 1200; i++) {
        yield* Effect.sleep("20 millis")
        rows = yield* keys.usage()
      }
      const mine = rows.filter((row) => row.key === "ci")
      assert.deepStrictEqual(
        mine.map((row) => [row.model, row.account, row.requests, row.errors, row.inputTokens, row.outputTokens]),
        [
          ["gpt-5.4", "acct-a", 600, 0, 6000, 3000],
          ["gpt-5.5", "acct-a", 600, 12, 6000, 3000]
        ]
      )
      assert.isNotNull((yield* keys.list).find((entry) => entry.name === "ci")?.lastUsedAt ?? null)
      assert.deepStrictEqual(yield* keys.usage(new Date(Date.now() + 60_000)), [])
    })
  )
})

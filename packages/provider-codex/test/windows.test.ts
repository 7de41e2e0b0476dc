// UsageWindows: one contract for the Postgres service and the in-memory `layerTest` that other
// packages' tests use, and the typed failures of the Postgres one.
import { assert, describe, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { TestDatabase } from "@nexus/testing"
import { DateTime, Effect, Layer } from "effect"
import { SqlError } from "effect/sql"
import * as Migrations from "../src/Migrations.ts"
import { type UsageWindow, UsageWindows } from "../src/UsageWindows.ts"

const window = (limitId: string, windowMinutes: number, usedPercent: number): UsageWindow => ({
  limitId,
  kind: windowMinutes === 300 ? "five_hour" : windowMinutes === 10080 ? "weekly" : "other",
  windowMinutes,
  usedPercent,
  resetsAt: DateTime.makeUnsafe(Date.UTC(2026, 11, 2, 12))
})

const variants = {
  postgres: UsageWindows.layer.pipe(Layer.provideMerge(TestDatabase.layer({ migrations: [Migrations.migrations] }))),
  memory: UsageWindows.layerTest
} as const

for (const [name, live] of Object.entries(variants)) {
  layer(live, { excludeTestServices: true })(`the UsageWindows contract (${name})`, (it) => {
    it.effect("record keeps each account's windows; get answers one account, list every account with observedAt", () =>
      Effect.gen(function* () {
        const windows = yield* UsageWindows
        const started = Date.now() - 1000
        yield* windows.record("acct-b", [window("codex", 300, 10), window("codex", 10080, 3)])
        yield* windows.record("acct-a", [window("codex", 300, 55)])
        yield* windows.record("acct-a", [window("codex", 300, 60)])
        yield* windows.record("acct-c", [])

        const a = yield* windows.get("acct-a")
        assert.deepStrictEqual(
          a.map((w) => [w.accountId, w.kind, w.usedPercent]),
          [["acct-a", "five_hour", 60]]
        )
        assert.strictEqual(a[0]!.resetsAt?.epochMilliseconds, Date.UTC(2026, 11, 2, 12))

        const all = yield* windows.list
        assert.deepStrictEqual(
          all.map((w) => `${w.accountId}/${w.limitId}/${w.windowMinutes}=${w.usedPercent}`),
          ["acct-a/codex/300=60", "acct-b/codex/300=10", "acct-b/codex/10080=3"]
        )
        for (const w of all) assert.isAtLeast(w.observedAt.epochMilliseconds, started)
        assert.deepStrictEqual(yield* windows.get("nobody"), [])
      })
    )
  })
}

describe("UsageWindows in Postgres", () => {
  layer(TestDatabase.layer())("on a database that was never migrated", (it) => {
    it.effect("the layer fails with SchemaNotReady naming the provider's migration", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Layer.build(Layer.fresh(UsageWindows.layer)).pipe(Effect.scoped))
        assert.strictEqual(error._tag, "SchemaNotReady")
        assert.include(error.message, "@nexus/provider-codex's migration 0001_usage_and_models")
      })
    )
  })

  layer(variants.postgres)("when the database fails", (it) => {
    it.effect("a read is a typed UsageWindowsUnavailable keeping the SQL failure, never a defect", () =>
      Effect.gen(function* () {
        const windows = yield* UsageWindows
        const sql = yield* PgClient.PgClient
        yield* sql`ALTER TABLE nexus.usage_windows RENAME TO usage_windows_away`
        const failed = yield* Effect.flip(windows.list)
        // Recording never fails the answer it came with.
        yield* windows.record("acct", [window("codex", 300, 1)])
        yield* sql`ALTER TABLE nexus.usage_windows_away RENAME TO usage_windows`
        assert.strictEqual(failed._tag, "UsageWindowsUnavailable")
        assert.isFalse(failed.retryable)
        assert.isTrue(SqlError.isSqlError(failed.cause))
        assert.include(failed.message, "usage_windows")
      })
    )
  })
})

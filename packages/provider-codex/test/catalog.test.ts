import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { TokenSet } from "@nexus/oauth"
import { TokenStore } from "@nexus/token-store"
import { Effect, Layer, Option } from "effect"
import { ModelCatalog } from "../src/ModelCatalog.ts"
import { withBackend } from "./helpers.ts"

const Live = withBackend((urls) =>
  ModelCatalog.layer({ baseUrl: urls.codexBaseUrl, aliases: { "my-model": "gpt-6-luna" } })
)

interface StoredRow {
  readonly slug: string
  readonly source: string
  readonly etag: string | null
  readonly context_window: number | null
  readonly reasoning_levels: ReadonlyArray<string>
  readonly plans: ReadonlyArray<string>
  readonly updated_at: Date
}

layer(Live, { excludeTestServices: true, timeout: 60_000 })("ModelCatalog against the emulator", (it) => {
  /** A fresh signed-in account, an empty nexus.models, and no faults. */
  const setup = Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    const sql = yield* PgClient.PgClient
    yield* emulator.clearFaults
    yield* sql`DELETE FROM nexus.models`
    const account = yield* emulator.addAccount({
      email: `m-${Math.random().toString(36).slice(2)}@example.com`,
      budget: { primary: 1e6, secondary: 1e6 }
    })
    yield* (yield* TokenStore.TokenStore).put(
      yield* TokenSet.fromTokenResponse(yield* emulator.issueTokens(account.id))
    )
    const rows = sql<StoredRow>`SELECT slug, source, etag, context_window, reasoning_levels, plans, updated_at
      FROM nexus.models ORDER BY slug`
    const requests = Effect.map(emulator.counters, (c) => c.requests.models?.byAccount[account.id] ?? 0)
    return { emulator, sql, rows, requests, account: account.id, catalog: yield* ModelCatalog }
  })

  it.effect(
    "the first call fetches /models with the auth headers and client_version, and stores the rows as upstream with the ETag",
    () =>
      Effect.gen(function* () {
        const { catalog, account, emulator, rows } = yield* setup
        const models = yield* catalog.models(account)
        assert.include(
          models.map((m) => m.slug),
          "gpt-6.1-sol"
        )
        assert.include(
          models.map((m) => m.slug),
          "codex-auto-review"
        )
        const sent = Option.getOrThrow(yield* emulator.lastRequest("models"))
        assert.strictEqual(sent.method, "GET")
        assert.strictEqual(sent.query.client_version, "0.169.0")
        assert.isTrue(sent.headers.authorization!.startsWith("Bearer "))
        assert.strictEqual(sent.headers["chatgpt-account-id"], account)
        assert.isUndefined(sent.headers["if-none-match"])
        const stored = yield* rows
        assert.strictEqual(stored.length, models.length)
        for (const row of stored) {
          assert.strictEqual(row.source, "upstream")
          assert.match(row.etag!, /^".+"$/)
        }
        const terra = stored.find((row) => row.slug === "gpt-6.1-terra")!
        assert.strictEqual(terra.context_window, 500_000)
        assert.include(terra.reasoning_levels, "ultra")
        assert.include(terra.plans, "pro")
      })
  )

  it.effect("a second call sends If-None-Match, gets 304 and leaves the rows as they were", () =>
    Effect.gen(function* () {
      const { catalog, account, emulator, rows, requests } = yield* setup
      const first = yield* catalog.models(account)
      const before = yield* rows
      const second = yield* catalog.models(account)
      assert.deepStrictEqual(second, first)
      assert.strictEqual(yield* requests, 2)
      const sent = Option.getOrThrow(yield* emulator.lastRequest("models"))
      assert.strictEqual(sent.headers["if-none-match"], before[0]!.etag)
      assert.deepStrictEqual(yield* rows, before)
    })
  )

  it.effect("a server_error on /models falls back to the stored rows", () =>
    Effect.gen(function* () {
      const { catalog, account, emulator, rows, requests } = yield* setup
      const fetched = yield* catalog.models(account)
      const before = yield* rows
      yield* emulator.injectFault({ kind: "server_error", route: "models", times: 1 })
      const models = yield* catalog.models(account)
      assert.strictEqual(yield* requests, 2)
      assert.deepStrictEqual(models, fetched)
      assert.deepStrictEqual(yield* rows, before)
    })
  )

  it.effect("with an empty table and a failing upstream the bundled list is served and stored as bundled", () =>
    Effect.gen(function* () {
      const { catalog, account, emulator, rows } = yield* setup
      yield* emulator.injectFault({ kind: "server_error", route: "models", times: 1 })
      const models = yield* catalog.models(account)
      assert.deepStrictEqual(
        models.map((m) => m.slug),
        // In the priority order of the catalog bundled with the 0.169.0 CLI.
        [
          "gpt-6.1-sol",
          "gpt-6-astra",
          "gpt-6-sol",
          "gpt-6-luna",
          "gpt-5.6-sol",
          "gpt-6.1-terra",
          "gpt-5.6-terra",
          "gpt-5.6-luna",
          "gpt-5.5"
        ]
      )
      assert.strictEqual(models[0]!.default_reasoning_level, "low")
      const stored = yield* rows
      assert.strictEqual(stored.length, 9)
      assert.isTrue(stored.every((row) => row.source === "bundled" && row.etag === null))
      // The next successful fetch replaces the bundled rows.
      yield* catalog.models(account)
      assert.isTrue((yield* rows).every((row) => row.source === "upstream"))
    })
  )

  it.effect(
    "a worker's first requests at once load the catalog once: the bundle is written once, not once per request",
    () =>
      Effect.gen(function* () {
        const { emulator, sql } = yield* setup
        // Counts the catalog writes (each clears the table first), for this test only.
        yield* Effect.acquireRelease(
          Effect.gen(function* () {
            yield* sql`CREATE TABLE catalog_writes (n integer)`
            yield* sql.unsafe(`CREATE FUNCTION count_catalog_write() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN INSERT INTO catalog_writes VALUES (1); RETURN NULL; END $$`)
            yield* sql`CREATE TRIGGER count_catalog_write AFTER DELETE ON nexus.models
              FOR EACH STATEMENT EXECUTE FUNCTION count_catalog_write()`
          }),
          () =>
            Effect.orDie(
              Effect.gen(function* () {
                yield* sql`DROP TRIGGER count_catalog_write ON nexus.models`
                yield* sql`DROP FUNCTION count_catalog_write()`
                yield* sql`DROP TABLE catalog_writes`
              })
            )
        )
        const fresh = yield* ModelCatalog.pipe(
          Effect.provide(
            ModelCatalog.layer({ baseUrl: emulator.urls.codexBaseUrl }).pipe(Layer.provide(NodeHttpClient.layerUndici))
          )
        )
        const served = yield* Effect.all(
          Array.from({ length: 16 }, () => fresh.resolve("gpt-5.5")),
          { concurrency: "unbounded" }
        )
        const writes = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM catalog_writes`
        assert.isTrue(served.every((model) => model.slug === "gpt-5.5"))
        assert.strictEqual(writes[0]!.n, 1)
      }).pipe(Effect.scoped)
  )

  it.effect("a 404 from /models leaves the bundled catalog in use", () =>
    Effect.gen(function* () {
      const { catalog, account, emulator } = yield* setup
      yield* emulator.injectFault({ kind: "server_error", route: "models", status: 404, times: 1 })
      const model = yield* catalog.resolve("gpt-5.5", account)
      assert.strictEqual(model.max_context_window, 272_000)
      assert.strictEqual(model.description, "Legacy coding model.")
    })
  )

  it.effect("aliases resolve the seed's names (and configured ones) to current models", () =>
    Effect.gen(function* () {
      const { catalog, account } = yield* setup
      assert.strictEqual((yield* catalog.resolve("gpt-5-codex", account)).slug, "gpt-5.5")
      assert.strictEqual((yield* catalog.resolve("gpt-4o")).slug, "gpt-5.5")
      assert.strictEqual((yield* catalog.resolve("o1")).slug, "gpt-5.5")
      assert.strictEqual((yield* catalog.resolve("o3-mini")).slug, "gpt-5.5")
      assert.strictEqual((yield* catalog.resolve("my-model")).slug, "gpt-6-luna")
      assert.strictEqual((yield* catalog.resolve("gpt-6.1-terra")).context_window, 500_000)
    })
  )

  it.effect("an unknown model fails with UnknownModel listing the available slugs, without a chat request", () =>
    Effect.gen(function* () {
      const { catalog, account, emulator } = yield* setup
      const responses = (yield* emulator.counters).requests.responses?.byAccount[account] ?? 0
      const error = yield* Effect.flip(catalog.resolve("gpt-9-imaginary", account))
      assert.strictEqual(error._tag, "UnknownModel")
      assert.strictEqual(error.model, "gpt-9-imaginary")
      assert.include(error.available, "gpt-6.1-sol")
      assert.notInclude(error.available, "codex-auto-review")
      assert.include(error.message, "gpt-9-imaginary")
      assert.include(error.message, "gpt-5.5")
      assert.strictEqual((yield* emulator.counters).requests.responses?.byAccount[account] ?? 0, responses)
      const constructorError = yield* Effect.flip(catalog.resolve("constructor"))
      assert.strictEqual(constructorError._tag, "UnknownModel")
    })
  )
})

import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"

import { TestDatabase } from "@nexus/testing"
import { ConfigProvider, Context, Effect, Layer, Option } from "effect"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { chmod, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Crypto } from "../src/Crypto.ts"
import * as EnvStore from "../src/EnvStore.ts"
import * as KeyRotation from "../src/KeyRotation.ts"
import * as FileStore from "../src/FileStore.ts"
import { TokenStore } from "../src/TokenStore.ts"
import { mint, spawnWorker, TEST_KEY, TestLive, value } from "./helpers.ts"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "nexus-tokens-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** The chained store (Postgres > file > env) over this test's database, with the given environment. */
const chained = (config: Record<string, string>) =>
  Layer.build(
    Layer.fresh(TokenStore.layer).pipe(
      Layer.provide(Layer.fresh(Crypto.layerFromKey(TEST_KEY))),
      Layer.provide(NodeFileSystem.layer),
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(config)))
    )
  ).pipe(Effect.map(Context.get(TokenStore)))

layer(TestLive, { excludeTestServices: true, timeout: 60_000 })("file and env stores, and the chain", (it) => {
  const reset = Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    const sql = yield* PgClient.PgClient
    yield* emulator.reset
    yield* sql`DELETE FROM nexus.oauth_tokens`
  })

  it.effect("the token file is written with mode 0600 and read back whole", () =>
    Effect.gen(function* () {
      yield* reset
      const dir = yield* tempDir
      const file = join(dir, "nested", "tokens.json")
      const tokens = yield* mint()
      yield* FileStore.write(tokens, { file, label: "acme" })
      assert.strictEqual((yield* Effect.promise(() => stat(file))).mode & 0o777, 0o600)
      const read = yield* FileStore.read(file).pipe(Effect.provide(NodeFileSystem.layer))
      assert.strictEqual(value(read.accessToken), value(tokens.accessToken))
      assert.strictEqual(value(read.refreshToken), value(tokens.refreshToken))
      assert.strictEqual(read.accountId, tokens.accountId)
      const json = JSON.parse(yield* Effect.promise(() => readFile(file, "utf8"))) as Record<string, unknown>
      assert.strictEqual(json.token_type, "Bearer")
      assert.isNumber(json.expires_at)
    }).pipe(Effect.scoped)
  )

  it.effect("a token file readable by others is refused with the chmod to run", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = join(dir, "tokens.json")
      yield* FileStore.write(yield* mint(), { file })
      yield* Effect.promise(() => chmod(file, 0o644))
      const error = yield* Effect.flip(FileStore.read(file).pipe(Effect.provide(NodeFileSystem.layer)))
      assert.strictEqual(error._tag, "TokenStoreUnavailable")
      assert.include(error.message, `chmod 600 ${file}`)
      assert.include(error.message, "0644")
    }).pipe(Effect.scoped)
  )

  it.effect(
    "a token file that is a symbolic link, or not a file at all, is refused: the file checked is the file read",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = join(dir, "tokens.json")
        yield* FileStore.write(yield* mint(), { file })
        const link = join(dir, "link.json")
        yield* Effect.promise(() => symlink(file, link))
        const linked = yield* Effect.flip(FileStore.read(link))
        assert.strictEqual(linked._tag, "TokenStoreUnavailable")
        assert.include(linked.message, "symbolic link")
        const directory = yield* Effect.flip(FileStore.read(dir))
        assert.strictEqual(directory._tag, "TokenStoreUnavailable")
        assert.include(directory.message, "not a regular file")
        // The file itself still reads.
        assert.isString((yield* FileStore.read(file)).accountId)
      }).pipe(Effect.scoped)
  )

  it.effect("a writer killed mid-write leaves the old file or the new one, never a torn one", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = join(dir, "tokens.json")
      const first = yield* mint()
      yield* FileStore.write(first, { file })
      const writer = spawn(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          `
          import * as FileStore from ${JSON.stringify(new URL("../src/FileStore.ts", import.meta.url).pathname)}
          import { TokenSet } from "@nexus/oauth"
          import { Effect, Redacted } from "effect"
          const raw = JSON.parse(process.argv[1])
          let n = 0
          const loop = async () => {
            for (;;) {
              const tokens = await Effect.runPromise(TokenSet.fromTokenResponse({ ...raw, refresh_token: "rt_" + n++ }))
              await Effect.runPromise(FileStore.write(tokens, { file: process.argv[2] }))
              if (n === 5) console.log("writing")
            }
          }
          loop()
          `,
          JSON.stringify(yield* (yield* Emulator.Emulator).issueTokens()),
          file
        ],
        { cwd: new URL("..", import.meta.url).pathname, stdio: ["ignore", "pipe", "inherit"] }
      )
      yield* Effect.promise(
        () => new Promise<void>((resolve) => createInterface({ input: writer.stdout! }).once("line", () => resolve()))
      )
      yield* Effect.sleep("150 millis")
      writer.kill("SIGKILL")
      yield* Effect.promise(() => new Promise<void>((resolve) => writer.once("exit", () => resolve())))
      const read = yield* FileStore.read(file).pipe(Effect.provide(NodeFileSystem.layer))
      assert.match(value(read.refreshToken), /^rt_\d+$/)
      const leftovers = (yield* Effect.promise(() => readdir(dir))).filter((name) => name !== "tokens.json")
      assert.isAtMost(leftovers.length, 1, "at most the one temp file the kill interrupted")
    }).pipe(Effect.scoped)
  )

  it.effect("the environment is a source: CODEX_* read, and a missing piece is named", () =>
    Effect.gen(function* () {
      const raw = yield* (yield* Emulator.Emulator).issueTokens()
      const env = { CODEX_ACCESS_TOKEN: raw.access_token, CODEX_REFRESH_TOKEN: raw.refresh_token }
      const read = yield* EnvStore.read().pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))
      assert.isTrue(Option.isSome(read))
      assert.strictEqual(Option.getOrThrow(read).accountId, "00000000-0000-4000-8000-00000000c0de")
      const none = yield* EnvStore.read().pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({}))))
      assert.isTrue(Option.isNone(none))
      const missing = yield* Effect.flip(
        EnvStore.read().pipe(
          Effect.provide(
            ConfigProvider.layer(
              ConfigProvider.fromUnknown({ CODEX_ACCESS_TOKEN: "opaque", CODEX_REFRESH_TOKEN: "rt" })
            )
          )
        )
      )
      assert.include(missing.message, "CODEX_ACCOUNT_ID")
      const noRefresh = yield* Effect.flip(
        EnvStore.read().pipe(
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ CODEX_ACCESS_TOKEN: raw.access_token })))
        )
      )
      assert.include(noRefresh.message, "CODEX_REFRESH_TOKEN")
    })
  )

  it.effect(
    "Postgres > file > env: a sign-in only in the file is copied into Postgres on first use and served from there",
    () =>
      Effect.gen(function* () {
        yield* reset
        const dir = yield* tempDir
        const file = join(dir, "tokens.json")
        const inFile = yield* mint()
        yield* FileStore.write(inFile, { file })
        const fromEnv = yield* (yield* Emulator.Emulator).issueTokens()
        const store = yield* chained({
          NEXUS_TOKEN_FILE: file,
          CODEX_ACCESS_TOKEN: fromEnv.access_token,
          CODEX_REFRESH_TOKEN: fromEnv.refresh_token
        })
        const got = yield* store.get(inFile.accountId)
        assert.strictEqual(got.source, "file")
        assert.strictEqual(value(got.tokens.refreshToken), value(inFile.refreshToken))
        // Now in Postgres: the plain Postgres store sees it too, and the file was left as it was.
        const pg = yield* TokenStore
        assert.strictEqual((yield* pg.get(inFile.accountId)).source, "file")
        assert.strictEqual(
          value((yield* FileStore.read(file).pipe(Effect.provide(NodeFileSystem.layer))).refreshToken),
          value(inFile.refreshToken)
        )
        // A newer sign-in in Postgres wins over the file from then on.
        const newer = yield* pg.put(yield* mint())
        assert.strictEqual(
          value((yield* store.get(inFile.accountId)).tokens.refreshToken),
          value(newer.tokens.refreshToken)
        )
      }).pipe(Effect.scoped)
  )

  it.effect("a loose or broken token file blocks nothing stored in Postgres: it is skipped with a warning", () =>
    Effect.gen(function* () {
      yield* reset
      const dir = yield* tempDir
      const stored = yield* (yield* TokenStore).put(yield* mint(), { label: "kept" })
      for (const [name, contents, mode] of [
        ["loose.json", null, 0o644],
        ["broken.json", "{ not json", 0o600]
      ] as const) {
        const file = join(dir, name)
        const other = yield* (yield* Emulator.Emulator).addAccount({ email: `${name}@example.com` })
        if (contents === null) yield* FileStore.write(yield* mint(other.id), { file })
        else yield* Effect.promise(() => writeFile(file, contents, { mode }))
        yield* Effect.promise(() => chmod(file, mode))
        const store = yield* chained({ NEXUS_TOKEN_FILE: file })
        assert.deepStrictEqual(
          (yield* store.list).map((s) => s.label),
          ["kept"]
        )
        assert.strictEqual((yield* store.get("kept")).tokens.accountId, stored.tokens.accountId)
      }
    }).pipe(Effect.scoped)
  )

  it.effect("the token file's label is honoured: the copied sign-in is found by it", () =>
    Effect.gen(function* () {
      yield* reset
      const dir = yield* tempDir
      const file = join(dir, "tokens.json")
      const other = yield* (yield* Emulator.Emulator).addAccount({ email: "labelled@example.com" })
      const inFile = yield* mint(other.id)
      yield* FileStore.write(inFile, { file, label: "from-file" })
      const store = yield* chained({ NEXUS_TOKEN_FILE: file })
      const got = yield* store.get("from-file")
      assert.strictEqual(got.tokens.accountId, inFile.accountId)
      assert.strictEqual(got.label, "from-file")
      assert.strictEqual(got.source, "file")
    }).pipe(Effect.scoped)
  )

  it.effect("an account only in the environment is copied from there; list shows every source", () =>
    Effect.gen(function* () {
      yield* reset
      const raw = yield* (yield* Emulator.Emulator).issueTokens()
      const store = yield* chained({
        NEXUS_TOKEN_FILE: "/nonexistent/tokens.json",
        CODEX_ACCESS_TOKEN: raw.access_token,
        CODEX_REFRESH_TOKEN: raw.refresh_token
      })
      const all = yield* store.list
      assert.deepStrictEqual(
        all.map((s) => s.source),
        ["env"]
      )
      assert.strictEqual(value(all[0]!.tokens.accessToken), raw.access_token)
    })
  )

  it.effect(
    "4 processes starting together on a sign-in only in the file copy it into Postgres once",
    () =>
      Effect.gen(function* () {
        yield* reset
        const dir = yield* tempDir
        const file = join(dir, "tokens.json")
        const tokens = yield* mint()
        yield* FileStore.write(tokens, { file })
        const database = yield* TestDatabase.TestDatabase
        const emulator = yield* Emulator.Emulator
        const sql = yield* PgClient.PgClient
        const answers = yield* Effect.tryPromise(() =>
          Promise.all(
            Array.from({ length: 4 }, () => {
              const child = spawnWorker({
                databaseUrl: database.url,
                issuer: emulator.urls.issuer,
                account: tokens.accountId,
                calls: 20,
                env: { NEXUS_TOKEN_FILE: file, STORE: "chain" }
              })
              const lines = createInterface({ input: child.stdout! })
              return new Promise<string>((resolve, reject) => {
                lines.on("line", (line) => {
                  if (line === "ready") child.stdin!.write("go\n")
                  else {
                    child.kill("SIGKILL")
                    resolve(line)
                  }
                })
                // A child that dies before answering fails the test at once, not by the timeout.
                child.on("exit", (code, signal) => {
                  if (signal !== "SIGKILL")
                    reject(new Error(`a fleet worker exited (${code ?? signal}) without answering`))
                })
              })
            })
          )
        )
        const tokensSeen = new Set(answers.flatMap((line) => (JSON.parse(line) as { tokens: Array<string> }).tokens))
        assert.strictEqual(tokensSeen.size, 1)
        // One row, inserted once and never updated: a second copy would have been an update.
        const rows = yield* sql<{ source: string; versions: string }>`
        SELECT source, count(*) AS versions FROM nexus.oauth_tokens WHERE updated_at = created_at GROUP BY source`
        assert.deepStrictEqual(
          rows.map((r) => [r.source, Number(r.versions)]),
          [["file", 1]]
        )
        assert.strictEqual((yield* emulator.counters).refreshes.succeeded, 0)
      }).pipe(Effect.scoped),
    // Four Node processes starting at once, on 2 cores shared with the other test files in CI.
    120_000
  )
})

layer(TestLive, { excludeTestServices: true })("key rotation", (it) => {
  it.effect("keys rotate re-encrypts every row in one transaction; afterwards only the new key is needed", () =>
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      yield* sql`DELETE FROM nexus.oauth_tokens`
      const tokens = yield* mint()
      yield* (yield* TokenStore).put(tokens, { label: "rotating" })
      const newKey = Buffer.alloc(32, 9).toString("base64")
      const rotated = yield* KeyRotation.rotate.pipe(Effect.provide(Crypto.layerFromKey(newKey, [TEST_KEY])))
      assert.deepInclude(rotated, { rows: 1, stale: 1 })
      const [row] = yield* sql<{ access_token: string }>`SELECT access_token FROM nexus.oauth_tokens`
      assert.isTrue(row!.access_token.startsWith(`v1.${rotated.keyId}.`))
      const withNewKeyOnly = yield* Layer.build(
        Layer.fresh(TokenStore.layerPg).pipe(Layer.provide(Layer.fresh(Crypto.layerFromKey(newKey))))
      ).pipe(Effect.map(Context.get(TokenStore)))
      assert.strictEqual(value((yield* withNewKeyOnly.get("rotating")).tokens.refreshToken), value(tokens.refreshToken))
      const withOldKeyOnly = yield* Layer.build(
        Layer.fresh(TokenStore.layerPg).pipe(Layer.provide(Layer.fresh(Crypto.layerFromKey(TEST_KEY))))
      ).pipe(Effect.map(Context.get(TokenStore)))
      const failure = yield* Effect.flip(withOldKeyOnly.get("rotating"))
      assert.include(failure.message, rotated.keyId)
    }).pipe(Effect.scoped)
  )
})

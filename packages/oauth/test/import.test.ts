// Import of credentials that already exist on the machine (protocol §4): the Codex CLI's auth.json
// and the seed tokens.json, read from real files in a temporary directory. A bad file fails with a
// one-line CredentialsFileError that names the file and the problem, never a stack or a token.
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { importCodexAuth, importTokensFile } from "../src/CredentialImport.ts"
import { CredentialsFileError } from "../src/Errors.ts"
import { claims, layer as oauthLayer } from "./helpers.ts"

const DEFAULT_ACCOUNT = "00000000-0000-4000-8000-00000000c0de"
/** Not the JWT's chatgpt_account_id: proves the account id is read from the file. */
const FILE_ACCOUNT = "11111111-2222-4333-8444-555555555555"
const LAST_REFRESH = "2026-11-24T09:45:23.467028290Z"

/** A temporary directory, removed when the test's scope closes. */
const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "nexus-oauth-import-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const write = (dir: string, name: string, content: unknown) =>
  Effect.promise(async () => {
    const path = join(dir, name)
    await writeFile(path, typeof content === "string" ? content : JSON.stringify(content, null, 2), { mode: 0o600 })
    return path
  })

/** Emulator-minted tokens (a real ChatGPT sign-in's shape). */
const mint = Effect.gen(function* () {
  const emulator = yield* Emulator.Emulator
  return yield* emulator.issueTokens()
})

type Minted = Effect.Success<typeof mint>

/** auth.json exactly as the Codex CLI writes it, with changes. */
const authJson = (
  raw: Minted,
  changes: { readonly tokens?: Record<string, unknown> } & Record<string, unknown> = {}
) => {
  const { tokens, ...rest } = changes
  return {
    auth_mode: "chatgpt",
    OPENAI_API_KEY: null,
    tokens: {
      id_token: raw.id_token,
      access_token: raw.access_token,
      refresh_token: raw.refresh_token,
      account_id: FILE_ACCOUNT,
      ...tokens
    },
    last_refresh: LAST_REFRESH,
    ...rest
  }
}

/**
 * The failure of an import: a CredentialsFileError whose message is one line, names the path, and
 * carries neither a stack trace nor any of `secrets`.
 */
const importFailure = <A, E, R>(effect: Effect.Effect<A, E, R>, path: string, secrets: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(effect)
    assert.instanceOf(error, CredentialsFileError, `expected CredentialsFileError, got ${String(error)}`)
    assert.strictEqual(error.path, path)
    for (const text of [error.message, String(error), JSON.stringify(error)]) {
      assert.notInclude(text, "\n", `not one line: ${text}`)
      assert.notInclude(text, "    at ")
      for (const secret of secrets) assert.notInclude(text, secret)
    }
    assert.isTrue(error.message.startsWith(`Cannot import ${path}: `), error.message)
    return error
  })

const secretsOf = (raw: Minted) => [raw.access_token, raw.refresh_token, raw.id_token]

layer(Layer.mergeAll(oauthLayer({ redirectUri: "http://localhost:1455/auth/callback" }), NodeServices.layer), {
  excludeTestServices: true
})("credential import", (it) => {
  describe("importCodexAuth (auth.json)", () => {
    it.effect(
      "imports a Codex CLI auth.json: account id from tokens.account_id, nanosecond last_refresh, expiry from the access token",
      () =>
        Effect.gen(function* () {
          const dir = yield* tempDir
          const raw = yield* mint
          const path = yield* write(dir, "auth.json", authJson(raw))
          const tokens = yield* importCodexAuth(path)

          assert.strictEqual(Redacted.value(tokens.accessToken), raw.access_token)
          assert.strictEqual(Redacted.value(tokens.refreshToken), raw.refresh_token)
          assert.strictEqual(Redacted.value(tokens.idToken!), raw.id_token)
          assert.strictEqual(tokens.accountId, FILE_ACCOUNT)
          const auth = claims(raw.id_token)["https://api.openai.com/auth"] as { readonly chatgpt_account_id: string }
          assert.strictEqual(auth.chatgpt_account_id, DEFAULT_ACCOUNT)
          assert.strictEqual(tokens.lastRefresh.epochMilliseconds, Date.UTC(2026, 10, 24, 9, 45, 23, 467))
          assert.strictEqual(tokens.expiresAt.epochMilliseconds, (claims(raw.access_token)["exp"] as number) * 1000)
          assert.strictEqual(tokens.planType, "plus")
          assert.strictEqual(tokens.email, "dev@example.com")
        })
    )

    it.effect("with tokens.account_id null the account id comes from the id token's claim", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const raw = yield* mint
        const path = yield* write(dir, "auth.json", authJson(raw, { tokens: { account_id: null } }))
        const tokens = yield* importCodexAuth(path)
        assert.strictEqual(tokens.accountId, DEFAULT_ACCOUNT)
      })
    )

    it.effect("a file without last_refresh is refused, naming the file and last_refresh", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const raw = yield* mint
        const { last_refresh: _, ...withoutLastRefresh } = authJson(raw)
        const path = yield* write(dir, "auth.json", withoutLastRefresh)
        const error = yield* importFailure(importCodexAuth(path), path, secretsOf(raw))
        assert.include(error.problem, "last_refresh")
        assert.include(error.message, "it has no last_refresh")
      })
    )

    it.effect("an unparseable last_refresh is refused, naming last_refresh", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const raw = yield* mint
        const path = yield* write(dir, "auth.json", authJson(raw, { last_refresh: "yesterday" }))
        const error = yield* importFailure(importCodexAuth(path), path, secretsOf(raw))
        assert.include(error.message, 'last_refresh "yesterday" is not an RFC 3339 time')
      })
    )

    it.effect("auth_mode apikey is refused: it is an API key, not a ChatGPT sign-in", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = yield* write(dir, "auth.json", {
          auth_mode: "apikey",
          OPENAI_API_KEY: "sk-test-not-a-sign-in",
          last_refresh: LAST_REFRESH
        })
        const error = yield* importFailure(importCodexAuth(path), path, ["sk-test-not-a-sign-in"])
        assert.include(error.message, "API key")
        assert.include(error.message, "auth_mode apikey")
      })
    )

    it.effect("a file without tokens is refused", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        for (const [name, content] of [
          ["null.json", { auth_mode: "chatgpt", OPENAI_API_KEY: null, tokens: null, last_refresh: LAST_REFRESH }],
          ["absent.json", { auth_mode: "chatgpt", last_refresh: LAST_REFRESH }]
        ] as const) {
          const path = yield* write(dir, name, content)
          const error = yield* importFailure(importCodexAuth(path), path, [])
          assert.include(error.message, "it has no tokens")
        }
      })
    )

    it.effect("tokens without refresh_token are refused, naming refresh_token", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const raw = yield* mint
        const content = authJson(raw)
        const { refresh_token: _, ...tokens } = content.tokens
        const path = yield* write(dir, "auth.json", { ...content, tokens })
        const error = yield* importFailure(importCodexAuth(path), path, secretsOf(raw))
        assert.include(error.problem, "refresh_token")
      })
    )

    it.effect("an id_token that is not a JWT is refused, naming id_token", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const raw = yield* mint
        const bogus = "not-a-jwt-but-a-secret-string-0123456789"
        const path = yield* write(dir, "auth.json", authJson(raw, { tokens: { id_token: bogus } }))
        const error = yield* importFailure(importCodexAuth(path), path, [...secretsOf(raw), bogus])
        assert.include(error.message, "id_token is not a JWT")
      })
    )

    it.effect("broken JSON is refused as not valid JSON, without quoting the file's text", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const raw = yield* mint
        // An unquoted token: V8's SyntaxError quotes the text around the error position.
        const text = `{"auth_mode": "chatgpt", "tokens": {"refresh_token": ${raw.refresh_token}}}`
        const path = yield* write(dir, "auth.json", text)
        const error = yield* importFailure(importCodexAuth(path), path, [
          ...secretsOf(raw),
          raw.refresh_token.slice(0, 8)
        ])
        assert.include(error.message, "it is not valid JSON")

        const shortPath = yield* write(dir, "short.json", "rt_short")
        const short = yield* importFailure(importCodexAuth(shortPath), shortPath, ["rt_short"])
        assert.strictEqual(
          short.message,
          `Cannot import ${shortPath}: it is not valid JSON (Unexpected token 'r'). Check the file, or sign in with \`nexus login\` instead.`
        )

        const truncatedPath = yield* write(dir, "truncated.json", JSON.stringify(authJson(raw)).slice(0, 120))
        const truncated = yield* importFailure(importCodexAuth(truncatedPath), truncatedPath, secretsOf(raw))
        assert.include(truncated.message, "it is not valid JSON")
      })
    )

    it.effect("a missing file is refused: the file does not exist", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = join(dir, "nowhere", "auth.json")
        const error = yield* importFailure(importCodexAuth(path), path, [])
        assert.strictEqual(
          error.message,
          `Cannot import ${path}: the file does not exist. Check the file, or sign in with \`nexus login\` instead.`
        )
      })
    )

    it.effect("without a path it reads $CODEX_HOME/auth.json", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const raw = yield* mint
        yield* write(dir, "auth.json", authJson(raw))
        const codexHome = ConfigProvider.layer(ConfigProvider.fromUnknown({ CODEX_HOME: dir }))
        const tokens = yield* importCodexAuth().pipe(Effect.provide(codexHome))
        assert.strictEqual(tokens.accountId, FILE_ACCOUNT)
        assert.strictEqual(Redacted.value(tokens.refreshToken), raw.refresh_token)

        const empty = yield* tempDir
        const missing = join(empty, "auth.json")
        const error = yield* importFailure(
          importCodexAuth().pipe(
            Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ CODEX_HOME: empty })))
          ),
          missing,
          []
        )
        assert.include(error.message, "does not exist")
      })
    )
  })

  describe("importTokensFile (seed tokens.json)", () => {
    it.effect("imports a seed file: expiresAt from expires_at, account id from the access token's claim", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const raw = yield* mint
        // Not the JWT's exp: proves expiresAt comes from the file.
        const expiresAt = (claims(raw.access_token)["exp"] as number) + 1234
        const path = yield* write(dir, "tokens.json", {
          access_token: raw.access_token,
          refresh_token: raw.refresh_token,
          expires_at: expiresAt,
          token_type: "Bearer"
        })
        const tokens = yield* importTokensFile(path)

        assert.strictEqual(tokens.expiresAt.epochMilliseconds, expiresAt * 1000)
        assert.strictEqual(tokens.accountId, DEFAULT_ACCOUNT)
        assert.strictEqual(Redacted.value(tokens.accessToken), raw.access_token)
        assert.strictEqual(Redacted.value(tokens.refreshToken), raw.refresh_token)
        assert.isUndefined(tokens.idToken)
        assert.strictEqual(tokens.planType, "plus")
      })
    )

    it.effect("an account_id field wins over the access token's claim", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const raw = yield* mint
        const path = yield* write(dir, "tokens.json", {
          access_token: raw.access_token,
          refresh_token: raw.refresh_token,
          expires_at: 1_900_000_000,
          token_type: "Bearer",
          account_id: FILE_ACCOUNT
        })
        const tokens = yield* importTokensFile(path)
        assert.strictEqual(tokens.accountId, FILE_ACCOUNT)
        assert.strictEqual(tokens.expiresAt.epochMilliseconds, 1_900_000_000_000)
      })
    )

    it.effect("an opaque access token with account_id is accepted", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = yield* write(dir, "tokens.json", {
          access_token: "opaque-access-token-0123456789",
          refresh_token: "opaque-refresh-token-0123456789",
          expires_at: 1_900_000_000,
          account_id: FILE_ACCOUNT
        })
        const tokens = yield* importTokensFile(path)
        assert.strictEqual(tokens.accountId, FILE_ACCOUNT)
      })
    )

    it.effect("a seed without expires_at is refused, naming expires_at", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const raw = yield* mint
        const path = yield* write(dir, "tokens.json", {
          access_token: raw.access_token,
          refresh_token: raw.refresh_token,
          token_type: "Bearer"
        })
        const error = yield* importFailure(importTokensFile(path), path, secretsOf(raw))
        assert.include(error.problem, "expires_at")
      })
    )

    it.effect("an access token that is not a JWT, without account_id, is refused", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const access = "opaque-access-token-0123456789"
        const refresh = "opaque-refresh-token-0123456789"
        const path = yield* write(dir, "tokens.json", {
          access_token: access,
          refresh_token: refresh,
          expires_at: 1_900_000_000,
          token_type: "Bearer"
        })
        const error = yield* importFailure(importTokensFile(path), path, [access, refresh])
        assert.include(error.message, "account_id")
        assert.include(error.message, "access_token")
      })
    )

    it.effect("broken JSON and a missing file are refused with the file named", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const raw = yield* mint
        const path = yield* write(
          dir,
          "tokens.json",
          `{"access_token": "${raw.access_token}", "refresh_token": ${raw.refresh_token}}`
        )
        const broken = yield* importFailure(importTokensFile(path), path, [
          ...secretsOf(raw),
          raw.refresh_token.slice(0, 8)
        ])
        assert.include(broken.message, "it is not valid JSON")
        const missing = join(dir, "missing.json")
        const error = yield* importFailure(importTokensFile(missing), missing, [])
        assert.include(error.message, "the file does not exist")
      })
    )

    it.effect("without a path it reads NEXUS_TOKEN_FILE", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const raw = yield* mint
        yield* write(dir, "tokens.json", {
          access_token: raw.access_token,
          refresh_token: raw.refresh_token,
          expires_at: 1_900_000_000,
          token_type: "Bearer"
        })
        const tokens = yield* importTokensFile().pipe(
          Effect.provide(
            ConfigProvider.layer(ConfigProvider.fromUnknown({ NEXUS_TOKEN_FILE: join(dir, "tokens.json") }))
          )
        )
        assert.strictEqual(Redacted.value(tokens.refreshToken), raw.refresh_token)
      })
    )
  })
})

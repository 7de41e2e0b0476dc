// Endpoint settings: tokens only ever go to https, or to this machine over http.
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { InsecureEndpoint } from "../src/Errors.ts"
import { OAuthConfig, requireHttps } from "../src/OAuthConfig.ts"

const configFrom = (env: Record<string, string>) =>
  Effect.flip(
    Layer.build(
      OAuthConfig.layerConfig.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))
    ).pipe(Effect.scoped)
  )

describe("endpoint settings", () => {
  it.effect("https anywhere, and http to loopback, are accepted", () =>
    Effect.gen(function* () {
      for (const url of [
        "https://auth.openai.com",
        "https://sso.example.com:8443/issuer",
        "http://127.0.0.1:1455",
        "http://localhost:8080",
        "http://emulator.localhost",
        "http://[::1]:9000"
      ]) {
        assert.strictEqual(yield* requireHttps("CODEX_ISSUER", url), url)
      }
    })
  )

  it.effect("http to another host, another scheme, or no URL at all is InsecureEndpoint naming the variable", () =>
    Effect.gen(function* () {
      for (const [url, problem] of [
        ["http://auth.example.com", "is http://auth.example.com, which is neither https nor this machine"],
        ["http://10.0.0.5:8080", "is http://10.0.0.5:8080, which is neither https nor this machine"],
        ["ftp://127.0.0.1", "is ftp://127.0.0.1, which is neither https nor this machine"],
        ["auth.openai.com", "is not a URL"]
      ] as const) {
        const error = yield* Effect.flip(requireHttps("CODEX_BASE_URL", url))
        assert.instanceOf(error, InsecureEndpoint)
        assert.include(error.message, `CODEX_BASE_URL ${problem}`)
        assert.include(error.message, "must be an https:// URL")
      }
    })
  )

  it.effect("the configured layer refuses an insecure CODEX_ISSUER or token URL override", () =>
    Effect.gen(function* () {
      const issuer = yield* configFrom({ CODEX_ISSUER: "http://auth.example.com" })
      assert.strictEqual(issuer._tag, "InsecureEndpoint")
      assert.include(issuer.message, "CODEX_ISSUER")
      const refresh = yield* configFrom({ CODEX_REFRESH_TOKEN_URL_OVERRIDE: "http://tokens.example.com/oauth/token" })
      assert.include(refresh.message, "CODEX_REFRESH_TOKEN_URL_OVERRIDE")
    })
  )
})

// Refresh with rotation and revoke (protocol §1, §3) against the emulator over real loopback HTTP:
// the JSON request the Codex CLI sends, what survives a refresh, the permanent rejections and the
// transient failures, and best-effort revoke.
import { assert, describe, it as vitest, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { Effect, Option, Redacted } from "effect"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { InvalidTokenResponse, OAuthHttpError, RefreshRejected } from "../src/Errors.ts"
import { OAuthClient } from "../src/OAuthClient.ts"
import { CODEX_CLIENT_ID } from "../src/OAuthConfig.ts"
import { fromTokenResponse, type TokenSet } from "../src/TokenSet.ts"
import { freePort, layer as oauthLayer } from "./helpers.ts"

const DEFAULT_ACCOUNT = "00000000-0000-4000-8000-00000000c0de"

/** A sign-in minted by the emulator without a browser, as a TokenSet. */
const signIn = (account?: string) =>
  Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    return yield* fromTokenResponse(yield* emulator.issueTokens(account))
  })

const requestOf = (route: "token" | "revoke") =>
  Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    const request = yield* emulator.lastRequest(route)
    assert.isTrue(Option.isSome(request), `the emulator saw no ${route} request`)
    return Option.getOrThrow(request)
  })

/** The failure of a refresh, which must be a RefreshRejected. */
const rejection = <A, E>(effect: Effect.Effect<A, E, OAuthClient>) =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(effect)
    assert.instanceOf(error, RefreshRejected, `expected RefreshRejected, got ${String(error)}`)
    return error
  })

/** Runs `f` with an OAuthClient whose issuer is a loopback port nothing listens on. */
const withUnreachableIssuer = <A, E>(f: (oauth: OAuthClient["Service"]) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const port = yield* Effect.promise(freePort)
    return yield* OAuthClient.use(f).pipe(Effect.provide(OAuthClient.layerWith({ issuer: `http://127.0.0.1:${port}` })))
  })

const value = Redacted.value

layer(oauthLayer({ redirectUri: "http://localhost:1455/auth/callback" }), { excludeTestServices: true })(
  "refresh",
  (it) => {
    it.effect(
      "rotates: a new access and refresh token, sent as the Codex CLI's JSON body with the originator header",
      () =>
        Effect.gen(function* () {
          const oauth = yield* OAuthClient
          const tokens = yield* signIn()
          const fresh = yield* oauth.refresh(tokens, "proactive_expiry")

          assert.notStrictEqual(value(fresh.refreshToken), value(tokens.refreshToken))
          assert.notStrictEqual(value(fresh.accessToken), value(tokens.accessToken))
          const request = yield* requestOf("token")
          assert.strictEqual(request.method, "POST")
          assert.strictEqual(request.path, "/oauth/token")
          assert.deepStrictEqual(request.body, {
            client_id: CODEX_CLIENT_ID,
            grant_type: "refresh_token",
            refresh_token: value(tokens.refreshToken),
            refresh_reason: "proactive_expiry"
          })
          assert.match(request.headers["content-type"] ?? "", /^application\/json\b/)
          assert.strictEqual(request.headers["originator"], "codex_cli_rs")
          assert.isUndefined(request.headers["authorization"])
        })
    )

    it.effect("sends the refresh_reason it is given", () =>
      Effect.gen(function* () {
        const oauth = yield* OAuthClient
        const emulator = yield* Emulator.Emulator
        const before = (yield* emulator.counters).refreshes.byRefreshReason
        let tokens = yield* signIn()
        for (const reason of ["scheduled", "unauthorized_recovery"] as const) {
          tokens = yield* oauth.refresh(tokens, reason)
          const request = yield* requestOf("token")
          assert.strictEqual((request.body as Record<string, unknown>)["refresh_reason"], reason)
        }
        const after = (yield* emulator.counters).refreshes.byRefreshReason
        assert.strictEqual((after["scheduled"] ?? 0) - (before["scheduled"] ?? 0), 1)
        assert.strictEqual((after["unauthorized_recovery"] ?? 0) - (before["unauthorized_recovery"] ?? 0), 1)
      })
    )

    it.effect("the refreshed TokenSet keeps the account, plan, user and email, with a later expiry", () =>
      Effect.gen(function* () {
        const oauth = yield* OAuthClient
        const tokens = yield* signIn()
        const fresh = yield* oauth.refresh(tokens, "scheduled")

        assert.strictEqual(tokens.accountId, DEFAULT_ACCOUNT)
        assert.strictEqual(fresh.accountId, DEFAULT_ACCOUNT)
        assert.strictEqual(fresh.planType, "plus")
        assert.strictEqual(fresh.email, "dev@example.com")
        assert.strictEqual(fresh.userId, tokens.userId)
        assert.isDefined(fresh.idToken)
        assert.isTrue(fresh.expiresAt.epochMilliseconds >= tokens.expiresAt.epochMilliseconds)
        assert.isTrue(fresh.lastRefresh.epochMilliseconds >= tokens.lastRefresh.epochMilliseconds)
      })
    )

    it.effect(
      "a reused (already rotated) refresh token is RefreshRejected reused, 401, telling to run `nexus login`",
      () =>
        Effect.gen(function* () {
          const oauth = yield* OAuthClient
          const tokens = yield* signIn()
          const fresh = yield* oauth.refresh(tokens, "scheduled")
          const error = yield* rejection(oauth.refresh(tokens, "scheduled"))

          assert.strictEqual(error._tag, "RefreshRejected")
          assert.strictEqual(error.reason, "reused")
          assert.strictEqual(error.status, 401)
          assert.include(error.message, "already used")
          assert.include(error.message, "`nexus login`")
          // The peer's rotated token still works (the emulator does not revoke the family on reuse).
          const again = yield* oauth.refresh(fresh, "scheduled")
          assert.notStrictEqual(value(again.refreshToken), value(fresh.refreshToken))
        })
    )

    for (const [kind, reason] of [
      ["refresh_expired", "expired"],
      ["refresh_invalidated", "invalidated"],
      ["refresh_reused", "reused"]
    ] as const) {
      it.effect(`the emulator's ${kind} fault is RefreshRejected ${reason} with status 401`, () =>
        Effect.gen(function* () {
          const oauth = yield* OAuthClient
          const emulator = yield* Emulator.Emulator
          const tokens = yield* signIn()
          yield* emulator.injectFault({ kind })
          const error = yield* rejection(oauth.refresh(tokens, "scheduled"))
          assert.strictEqual(error.reason, reason)
          assert.strictEqual(error.status, 401)
          assert.include(error.message, "nexus login")
          // A fault is spent once: the same (unspent) token refreshes afterwards.
          yield* oauth.refresh(tokens, "scheduled")
        })
      )
    }

    for (const shape of ["object", "string", "top_level"] as const) {
      it.effect(`every refresh error body shape (${shape}: error.code, error, code) maps to the same reason`, () =>
        Effect.gen(function* () {
          const oauth = yield* OAuthClient
          const emulator = yield* Emulator.Emulator
          const tokens = yield* signIn()
          for (const [kind, reason] of [
            ["refresh_expired", "expired"],
            ["refresh_invalidated", "invalidated"],
            ["refresh_reused", "reused"]
          ] as const) {
            yield* emulator.injectFault({ kind, shape })
            const error = yield* rejection(oauth.refresh(tokens, "scheduled"))
            assert.strictEqual(error.reason, reason, `${kind} in the ${shape} shape`)
            assert.strictEqual(error.status, 401)
          }
        })
      )
    }

    it.effect("after revokeTokens(account) every refresh token of the account is RefreshRejected invalidated", () =>
      Effect.gen(function* () {
        const oauth = yield* OAuthClient
        const emulator = yield* Emulator.Emulator
        const tokens = yield* signIn()
        yield* emulator.revokeTokens(DEFAULT_ACCOUNT)
        const error = yield* rejection(oauth.refresh(tokens, "unauthorized_recovery"))
        assert.strictEqual(error.reason, "invalidated")
        assert.strictEqual(error.status, 401)
        assert.include(error.message, "revoked")
      })
    )

    it.effect("a 503 from the token endpoint is a transient OAuthHttpError 503, not RefreshRejected", () =>
      Effect.gen(function* () {
        const oauth = yield* OAuthClient
        const emulator = yield* Emulator.Emulator
        const tokens = yield* signIn()
        yield* emulator.injectFault({ kind: "refresh_server_error", status: 503 })
        const error = yield* Effect.flip(oauth.refresh(tokens, "scheduled"))
        assert.instanceOf(error, OAuthHttpError)
        assert.strictEqual(error._tag, "OAuthHttpError")
        assert.strictEqual(error.status, 503)
        assert.strictEqual(error.operation, "the token refresh")
        assert.strictEqual(error.detail, "Internal server error")
        assert.include(error.message, "with HTTP 503")
        // Transient: the token was not spent, the next attempt succeeds.
        const fresh = yield* oauth.refresh(tokens, "scheduled")
        assert.strictEqual(fresh.accountId, DEFAULT_ACCOUNT)
      })
    )

    it.effect("an issuer that is not listening is an OAuthHttpError without a status", () =>
      Effect.gen(function* () {
        const tokens = yield* signIn()
        const error = yield* withUnreachableIssuer((oauth) => Effect.flip(oauth.refresh(tokens, "scheduled")))
        assert.instanceOf(error, OAuthHttpError)
        assert.strictEqual(error.operation, "the token refresh")
        assert.isUndefined(error.status)
        assert.include(error.detail, "/oauth/token")
        assert.include(error.message, "the token refresh failed: ")
        assert.notInclude(error.message, "HTTP ")
        assert.include(error.message, "CODEX_ISSUER")
      })
    )

    it.effect("a second OAuthClient.layerWith in the same program uses its own settings, not the first client's", () =>
      Effect.gen(function* () {
        const emulator = yield* Emulator.Emulator
        const first = yield* OAuthClient
        assert.isTrue((yield* first.authorize()).url.startsWith(`${emulator.urls.issuer}/oauth/authorize?`))
        const other = yield* OAuthClient.use((oauth) => oauth.authorize()).pipe(
          Effect.provide(OAuthClient.layerWith({ issuer: "http://127.0.0.1:9/other", originator: "nexus_test" }))
        )
        assert.isTrue(other.url.startsWith("http://127.0.0.1:9/other/oauth/authorize?"), other.url)
        assert.strictEqual(new URL(other.url).searchParams.get("originator"), "nexus_test")
      })
    )

    describe("a refresh answer that omits tokens", () => {
      it.effect("keeps the previous refresh and id tokens when the answer has only an access token", () =>
        Effect.gen(function* () {
          const emulator = yield* Emulator.Emulator
          const previous = yield* signIn()
          const next = yield* emulator.issueTokens()
          const tokens = yield* fromTokenResponse({ access_token: next.access_token, expires_in: 3600 }, previous)
          assert.strictEqual(value(tokens.accessToken), next.access_token)
          assert.strictEqual(value(tokens.refreshToken), value(previous.refreshToken))
          assert.isDefined(tokens.idToken)
          assert.strictEqual(value(tokens.idToken!), value(previous.idToken!))
          assert.strictEqual(tokens.accountId, previous.accountId)
          assert.strictEqual(tokens.email, "dev@example.com")
        })
      )

      it.effect("takes each token that is present: a new refresh token without an id token", () =>
        Effect.gen(function* () {
          const emulator = yield* Emulator.Emulator
          const previous = yield* signIn()
          const next = yield* emulator.issueTokens()
          const tokens = yield* fromTokenResponse(
            { access_token: next.access_token, refresh_token: next.refresh_token },
            previous
          )
          assert.strictEqual(value(tokens.refreshToken), next.refresh_token)
          assert.strictEqual(value(tokens.idToken!), value(previous.idToken!))
        })
      )

      it.effect("without a previous sign-in (code exchange) a missing refresh_token or id_token is named", () =>
        Effect.gen(function* () {
          const emulator = yield* Emulator.Emulator
          const next = yield* emulator.issueTokens()
          const noRefresh = yield* Effect.flip(
            fromTokenResponse({ access_token: next.access_token, id_token: next.id_token })
          )
          assert.instanceOf(noRefresh, InvalidTokenResponse)
          assert.strictEqual(noRefresh.field, "refresh_token")
          assert.strictEqual(noRefresh.problem, "is missing")
          const noId = yield* Effect.flip(
            fromTokenResponse({ access_token: next.access_token, refresh_token: next.refresh_token })
          )
          assert.strictEqual(noId.field, "id_token")
          assert.include(noId.message, "id_token is missing")
        })
      )
    })
  }
)

layer(oauthLayer({ redirectUri: "http://localhost:1455/auth/callback" }), { excludeTestServices: true })(
  "revoke",
  (it) => {
    it.effect(
      "revokes the refresh token with {token, token_type_hint, client_id}; refreshing it afterwards is invalidated",
      () =>
        Effect.gen(function* () {
          const oauth = yield* OAuthClient
          const emulator = yield* Emulator.Emulator
          const tokens = yield* signIn()
          const before = (yield* emulator.counters).revokes
          const outcome = yield* oauth.revoke(tokens)

          assert.deepStrictEqual(outcome, { revoked: true, detail: "revoked" })
          assert.strictEqual((yield* emulator.counters).revokes, before + 1)
          const request = yield* requestOf("revoke")
          assert.strictEqual(request.method, "POST")
          assert.strictEqual(request.path, "/oauth/revoke")
          assert.deepStrictEqual(request.body, {
            token: value(tokens.refreshToken),
            token_type_hint: "refresh_token",
            client_id: CODEX_CLIENT_ID
          })
          assert.match(request.headers["content-type"] ?? "", /^application\/json\b/)
          assert.strictEqual(request.headers["originator"], "codex_cli_rs")

          const error = yield* rejection(oauth.refresh(tokens, "scheduled"))
          assert.strictEqual(error.reason, "invalidated")
          assert.strictEqual(error.status, 401)
        })
    )

    it.effect("with only an access token it sends token_type_hint access_token and no client_id", () =>
      Effect.gen(function* () {
        const oauth = yield* OAuthClient
        const emulator = yield* Emulator.Emulator
        const tokens: TokenSet = yield* signIn()
        const before = (yield* emulator.counters).revokes
        const outcome = yield* oauth.revoke({ accessToken: tokens.accessToken })

        assert.isTrue(outcome.revoked)
        assert.strictEqual((yield* emulator.counters).revokes, before + 1)
        const request = yield* requestOf("revoke")
        assert.deepStrictEqual(request.body, { token: value(tokens.accessToken), token_type_hint: "access_token" })
        // The refresh token was not revoked.
        yield* oauth.refresh(tokens, "scheduled")
      })
    )

    it.effect("against an unreachable issuer it reports {revoked: false, detail} and does not fail", () =>
      Effect.gen(function* () {
        const tokens = yield* signIn()
        const outcome = yield* withUnreachableIssuer((oauth) => oauth.revoke(tokens))
        assert.isFalse(outcome.revoked)
        assert.isString(outcome.detail)
        assert.include(outcome.detail, "/oauth/revoke")
        assert.notInclude(outcome.detail, value(tokens.refreshToken))
      })
    )
  }
)

/** An issuer stand-in that answers every refresh with one fixed status, headers and body. */
const answering = (status: number, body: string, headers: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<Server>((resolve) => {
          const server = createServer((request, response) => {
            request.resume()
            response.writeHead(status, { "content-type": "application/json", ...headers }).end(body)
          })
          server.listen(0, "127.0.0.1", () => resolve(server))
        })
    ),
    (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))

describe("refresh answers the emulator does not give", () => {
  const refreshAgainst = (status: number, body: string, headers: Record<string, string> = {}) =>
    Effect.gen(function* () {
      const issuer = yield* answering(status, body, headers)
      const tokens = yield* Effect.provide(signIn(), oauthLayer({ redirectUri: "http://localhost:1455/auth/callback" }))
      return yield* OAuthClient.use((oauth) => Effect.flip(oauth.refresh(tokens, "scheduled"))).pipe(
        Effect.provide(OAuthClient.layerWith({ issuer }))
      )
    }).pipe(Effect.scoped)

  vitest.live("a 401 without an error code is RefreshRejected unauthorized", () =>
    Effect.gen(function* () {
      const error = yield* refreshAgainst(401, "{}")
      assert.instanceOf(error, RefreshRejected)
      assert.strictEqual(error instanceof RefreshRejected && error.reason, "unauthorized")
    })
  )

  vitest.live("a 400 invalid_grant is RefreshRejected invalidated: refreshing again cannot help", () =>
    Effect.gen(function* () {
      const error = yield* refreshAgainst(
        400,
        JSON.stringify({ error: "invalid_grant", error_description: "bad token" })
      )
      assert.strictEqual(error instanceof RefreshRejected && error.reason, "invalidated")
    })
  )

  vitest.live("a 429 is a retryable OAuthHttpError carrying Retry-After", () =>
    Effect.gen(function* () {
      const error = yield* refreshAgainst(429, JSON.stringify({ error: { message: "slow down" } }), {
        "retry-after": "7"
      })
      assert.instanceOf(error, OAuthHttpError)
      if (!(error instanceof OAuthHttpError)) return
      assert.isTrue(error.retryable)
      assert.strictEqual(error.retryAfter, 7)
      assert.include(error.message, "wait 7 s")
    })
  )

  vitest.live("a 400 invalid_request is an OAuthHttpError that is not retryable", () =>
    Effect.gen(function* () {
      const error = yield* refreshAgainst(
        400,
        JSON.stringify({ error: "invalid_request", error_description: "client_id missing" })
      )
      assert.instanceOf(error, OAuthHttpError)
      assert.isFalse(error instanceof OAuthHttpError && error.retryable)
      assert.include(error.message, "client_id missing")
    })
  )

  vitest.live("an error body whose fields have odd types still yields its refresh_token_* code", () =>
    Effect.gen(function* () {
      const error = yield* refreshAgainst(
        401,
        JSON.stringify({ error: { code: "refresh_token_reused", message: null }, detail: { nested: true } })
      )
      assert.strictEqual(error instanceof RefreshRejected && error.reason, "reused")
    })
  )
})

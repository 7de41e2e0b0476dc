import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { DateTime, Deferred, Effect, Option, Redacted } from "effect"
import { OAuthClient } from "../src/OAuthClient.ts"
import { claims, followRedirects, freePort, layer as oauthLayer, untilCounted } from "./helpers.ts"

const port = await freePort()
const redirectUri = `http://localhost:${port}/auth/callback`

/** The callback URL the issuer would redirect to, for a given authorize URL and parameters. */
const callbackUrl = (authorizeUrl: string, params: Record<string, string>) => {
  const url = new URL(new URL(authorizeUrl).searchParams.get("redirect_uri")!)
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value)
  return url.toString()
}
const stateOf = (authorizeUrl: string) => new URL(authorizeUrl).searchParams.get("state")!
const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, { redirect: "manual" })
    return { status: response.status, body: await response.text(), location: response.headers.get("location") }
  })

layer(oauthLayer({ redirectUri }), { excludeTestServices: true })("browser sign-in", (it) => {
  const reset = Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    yield* emulator.reset
  })

  it.effect("the authorize URL carries every parameter the Codex CLI sends", () =>
    Effect.gen(function* () {
      const client = yield* OAuthClient
      const emulator = yield* Emulator.Emulator
      const authorization = yield* client.authorize()
      const url = new URL(authorization.url)
      assert.strictEqual(`${url.origin}${url.pathname}`, `${emulator.urls.issuer}/oauth/authorize`)
      const params = Object.fromEntries(url.searchParams)
      assert.deepStrictEqual(Object.keys(params).toSorted(), [
        "client_id",
        "code_challenge",
        "code_challenge_method",
        "codex_cli_simplified_flow",
        "id_token_add_organizations",
        "originator",
        "redirect_uri",
        "response_type",
        "scope",
        "state"
      ])
      assert.strictEqual(params.response_type, "code")
      assert.strictEqual(params.client_id, "app_EMoamEEZ73f0CkXaXp7hrann")
      assert.strictEqual(params.redirect_uri, redirectUri)
      assert.include(params.scope!.split(" "), "offline_access")
      assert.strictEqual(params.code_challenge_method, "S256")
      assert.strictEqual(params.id_token_add_organizations, "true")
      assert.strictEqual(params.codex_cli_simplified_flow, "true")
      assert.strictEqual(params.originator, "codex_cli_rs")
      const digest = yield* Effect.promise(() =>
        crypto.subtle.digest("SHA-256", new TextEncoder().encode(Redacted.value(authorization.verifier)))
      )
      assert.strictEqual(params.code_challenge, Buffer.from(digest).toString("base64url"))
      assert.strictEqual(params.state, authorization.state)
      assert.notStrictEqual((yield* client.authorize()).state, authorization.state)
    })
  )

  it.effect("a headless browser following the auto-approve redirect yields a complete TokenSet", () =>
    Effect.gen(function* () {
      yield* reset
      const client = yield* OAuthClient
      const emulator = yield* Emulator.Emulator
      const shown: Array<string> = []
      const tokens = yield* client.loginWithBrowser({
        openBrowser: followRedirects,
        onUrl: (url) => Effect.sync(() => void shown.push(url))
      })
      assert.lengthOf(shown, 1)
      const [account] = yield* emulator.accounts
      assert.strictEqual(tokens.accountId, account!.id)
      assert.strictEqual(tokens.planType, "plus")
      assert.strictEqual(tokens.email, account!.email)
      assert.strictEqual(tokens.userId, account!.userId)
      assert.include(tokens.scopes, "offline_access")
      assert.isTrue(tokens.idToken !== undefined)
      const exp = claims(Redacted.value(tokens.accessToken)).exp as number
      assert.strictEqual(DateTime.toEpochMillis(tokens.expiresAt), exp * 1000)
      assert.isTrue(Math.abs(DateTime.toEpochMillis(tokens.lastRefresh) - Date.now()) < 60_000)
      const exchange = Option.getOrThrow(yield* emulator.lastRequest("token"))
      assert.include(exchange.headers["content-type"]!, "application/x-www-form-urlencoded")
      assert.strictEqual((exchange.body as Record<string, string>).grant_type, "authorization_code")
      assert.strictEqual((exchange.body as Record<string, string>).redirect_uri, redirectUri)
      assert.strictEqual((yield* emulator.counters).grants.authorization_code, 1)
    })
  )

  it.effect("a callback with a foreign state gets 400 State mismatch and the login keeps waiting", () =>
    Effect.gen(function* () {
      const client = yield* OAuthClient
      const answers: Array<{ status: number; body: string }> = []
      const tokens = yield* client.loginWithBrowser({
        onUrl: () => Effect.void,
        openBrowser: (url) =>
          Effect.gen(function* () {
            answers.push(yield* get(callbackUrl(url, { state: "forged", code: "stolen" })))
            answers.push(yield* get(callbackUrl(url, { code: "no-state" })))
            yield* followRedirects(url)
          })
      })
      assert.deepStrictEqual(
        answers.map(({ status, body }) => ({ status, body })),
        [
          { status: 400, body: "State mismatch" },
          { status: 400, body: "State mismatch" }
        ]
      )
      assert.isString(tokens.accountId)
    })
  )

  it.effect("access_denied ends the login with OAuthCallbackError denied and an escaped error page", () =>
    Effect.gen(function* () {
      const client = yield* OAuthClient
      const page = yield* Deferred.make<string>()
      const error = yield* Effect.flip(
        client.loginWithBrowser({
          onUrl: () => Effect.void,
          openBrowser: (url) =>
            get(
              callbackUrl(url, {
                state: stateOf(url),
                error: "access_denied",
                error_description: "<script>alert(1)</script>"
              })
            ).pipe(
              Effect.flatMap((answer) => Deferred.succeed(page, answer.body)),
              Effect.asVoid
            )
        })
      )
      assert.strictEqual(error._tag, "OAuthCallbackError")
      assert.strictEqual(error._tag === "OAuthCallbackError" && error.reason, "denied")
      // The error page still reaches the browser although the login has ended.
      const body = yield* Deferred.await(page)
      assert.include(body, "Sign-in failed")
      assert.notInclude(body, "<script>")
      assert.include(body, "&lt;script&gt;")
    })
  )

  it.effect("a workspace without Codex gets the missing-entitlement hint", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      const [account] = yield* emulator.accounts
      yield* emulator.updateAccount(account!.id, { entitled: false })
      const client = yield* OAuthClient
      const error = yield* Effect.flip(
        client.loginWithBrowser({ onUrl: () => Effect.void, openBrowser: followRedirects })
      )
      assert.strictEqual(error._tag, "OAuthCallbackError")
      assert.strictEqual(error._tag === "OAuthCallbackError" && error.reason, "missing_entitlement")
      assert.include(error.message, "no access to Codex")
      yield* emulator.reset
    })
  )

  it.effect("a callback without a code ends the login with missing_code", () =>
    Effect.gen(function* () {
      const client = yield* OAuthClient
      const error = yield* Effect.flip(
        client.loginWithBrowser({
          onUrl: () => Effect.void,
          openBrowser: (url) => Effect.asVoid(get(callbackUrl(url, { state: stateOf(url) })))
        })
      )
      assert.strictEqual(error._tag === "OAuthCallbackError" && error.reason, "missing_code")
    })
  )

  it.effect("the callback is single use: a replay gets 400 and the login is not disturbed", () =>
    Effect.gen(function* () {
      const client = yield* OAuthClient
      const seen = yield* Deferred.make<{ first: number; success: string; replay: number; path: string }>()
      yield* client.loginWithBrowser({
        onUrl: () => Effect.void,
        openBrowser: (url) =>
          Effect.gen(function* () {
            const approved = yield* get(url)
            const first = yield* get(approved.location!)
            const replay = yield* get(approved.location!)
            const success = yield* get(first.location!)
            yield* Deferred.succeed(seen, {
              first: first.status,
              path: new URL(first.location!).pathname,
              replay: replay.status,
              success: success.body
            })
          })
      })
      const { first, path, replay, success } = yield* Deferred.await(seen)
      assert.strictEqual(first, 302)
      assert.strictEqual(path, "/success")
      assert.strictEqual(replay, 400)
      assert.include(success, "Signed in")
    })
  )

  it.effect("a browser that disconnects during the code exchange does not lose the sign-in", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      // The issuer holds the exchange's answer back for far longer than the browser stays: the
      // browser leaves as soon as the exchange has reached the issuer (see below).
      yield* emulator.injectFault({ kind: "slow_first_byte", route: "token", delayMs: 1500 })
      const client = yield* OAuthClient
      const browser = yield* Deferred.make<string>()
      const tokens = yield* client.loginWithBrowser({
        onUrl: () => Effect.void,
        openBrowser: (url) =>
          Effect.gen(function* () {
            const approved = yield* get(url)
            // The browser goes away while the issuer is still answering the exchange: as soon as the
            // emulator has counted the token request, not after a fixed time (a busy machine can
            // take longer than any fixed time to deliver the callback at all). Losing the race
            // interrupts the fetch, which aborts it.
            const outcome = yield* Effect.promise((signal) =>
              fetch(approved.location!, { redirect: "manual", signal }).then(
                (response) => `answered ${response.status}`,
                (error: unknown) => `failed: ${String(error)}`
              )
            ).pipe(Effect.raceFirst(Effect.as(untilCounted(emulator, "token", 1), "disconnected")))
            yield* Deferred.succeed(browser, outcome)
          })
      })
      assert.isString(tokens.accountId)
      assert.strictEqual((yield* emulator.counters).grants.authorization_code, 1)
      // The browser really was gone before the callback server could answer it.
      assert.strictEqual(yield* Deferred.await(browser), "disconnected")
    })
  )

  it.effect("the time limit covers waiting for the callback, not a slow code exchange", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      yield* emulator.reset
      // The exchange alone outlasts the limit, so a limit that also covered the exchange would end
      // this login. The limit itself must leave a busy machine time to deliver the callback (two
      // loopback requests), hence seconds rather than the few milliseconds that takes when idle.
      yield* emulator.injectFault({ kind: "slow_first_byte", route: "token", delayMs: 2500 })
      const client = yield* OAuthClient
      const tokens = yield* client.loginWithBrowser({
        onUrl: () => Effect.void,
        openBrowser: followRedirects,
        timeout: "2 seconds"
      })
      assert.isString(tokens.accountId)
    })
  )

  it.effect("a login nobody completes fails with OAuthTimeout after the configured time", () =>
    Effect.gen(function* () {
      const client = yield* OAuthClient
      const error = yield* Effect.flip(
        client.loginWithBrowser({ onUrl: () => Effect.void, openBrowser: () => Effect.void, timeout: "300 millis" })
      )
      assert.strictEqual(error._tag, "OAuthTimeout")
      assert.include(error.message, "nexus login")
      // The callback port is released: the next login can bind it.
      const tokens = yield* client.loginWithBrowser({ onUrl: () => Effect.void, openBrowser: followRedirects })
      assert.isString(tokens.accountId)
    })
  )

  it.effect("a code the issuer refuses fails with OAuthHttpError carrying the issuer's message", () =>
    Effect.gen(function* () {
      const client = yield* OAuthClient
      const error = yield* Effect.flip(
        client.loginWithBrowser({
          onUrl: () => Effect.void,
          openBrowser: (url) => Effect.asVoid(get(callbackUrl(url, { state: stateOf(url), code: "ac_not_issued" })))
        })
      )
      assert.strictEqual(error._tag, "OAuthHttpError")
      assert.strictEqual(error._tag === "OAuthHttpError" && error.status, 400)
      assert.include(error.message, "The authorization code is invalid.")
    })
  )
})

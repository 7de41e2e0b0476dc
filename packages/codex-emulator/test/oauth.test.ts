// The emulated auth service (protocol §1–§3, §5) over real loopback HTTP: discovery, authorize,
// the token endpoint's three grants, revocation, refresh faults and the device-code flow.
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { createPublicKey, verify } from "node:crypto"
import { AccountNotFound, DeviceCodeNotFound, Emulator } from "../src/Emulator.ts"
import {
  AccessTokenClaims,
  accountsCheck,
  assertJson,
  AUTH_CLAIMS,
  authorization,
  authorizeCode,
  CLIENT_ID,
  CODEX_SCOPE,
  DEFAULT_ACCOUNT_ID,
  decodeBody,
  errors,
  exchangeCode,
  freshEmulator,
  get,
  IdTokenClaims,
  jwtClaims,
  LOOPBACK_REDIRECT,
  postForm,
  postJson,
  PROFILE_CLAIMS,
  refreshForm,
  refreshJson,
  type Reply,
  s256,
  send,
  signIn,
  TokenBody
} from "./oauthHelpers.ts"

/** The OAuth error parameters of a redirect back to the client. */
const redirectParams = (reply: Reply) => {
  assert.strictEqual(reply.status, 302, reply.text)
  return Object.fromEntries(reply.location!.searchParams)
}

/** The id of the pending request on the interactive approval page. */
const requestIdOf = (page: string) => {
  const match = /name="request_id" value="([^"]+)"/.exec(page)
  assert.isNotNull(match, page)
  return match![1]!
}

const DeviceCode = Schema.Struct({ device_auth_id: Schema.String, user_code: Schema.String, interval: Schema.String })
const DeviceGrant = Schema.Struct({
  authorization_code: Schema.String,
  code_challenge: Schema.String,
  code_verifier: Schema.String
})

layer(Emulator.layer(), { excludeTestServices: true })("auth service", (it) => {
  describe("discovery", () => {
    it.effect("/.well-known/openid-configuration names the issuer and its endpoints", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const reply = yield* get(`${urls.issuer}/.well-known/openid-configuration`)
        assertJson(reply, 200, {
          issuer: urls.issuer,
          authorization_endpoint: `${urls.issuer}/oauth/authorize`,
          token_endpoint: `${urls.issuer}/oauth/token`,
          revocation_endpoint: `${urls.issuer}/oauth/revoke`,
          jwks_uri: `${urls.issuer}/.well-known/jwks.json`,
          id_token_signing_alg_values_supported: ["RS256"],
          device_authorization_endpoint: `${urls.issuer}/api/accounts/deviceauth/usercode`,
          response_types_supported: ["code"],
          grant_types_supported: [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange"
          ],
          code_challenge_methods_supported: ["S256"],
          token_endpoint_auth_methods_supported: ["none"],
          scopes_supported: ["openid", "profile", "email", "offline_access"]
        })
      })
    )

    it.effect("tokens are RS256 JWTs whose signature the published JWKS verifies", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* emulator.issueTokens()
        const reply = yield* get(`${emulator.urls.issuer}/.well-known/jwks.json`)
        const { keys } = reply.body as { keys: Array<Record<string, string> & { kid: string }> }
        assert.lengthOf(keys, 1)
        for (const token of [tokens.id_token, tokens.access_token]) {
          const [head, payload, signature] = token.split(".")
          const header: unknown = JSON.parse(Buffer.from(head!, "base64url").toString("utf8"))
          assert.deepStrictEqual(header, { alg: "RS256", typ: "JWT", kid: keys[0]!.kid })
          const key = createPublicKey({ key: keys[0]!, format: "jwk" })
          assert.isTrue(verify("sha256", Buffer.from(`${head}.${payload}`), key, Buffer.from(signature!, "base64url")))
          assert.isFalse(
            verify("sha256", Buffer.from(`${head}.${payload}x`), key, Buffer.from(signature!, "base64url"))
          )
        }
      })
    )
  })

  describe("/oauth/authorize", () => {
    it.effect("auto-approval redirects to the redirect URI with a code and the state", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const auth = authorization(urls.issuer)
        const reply = yield* get(auth.url)
        const params = redirectParams(reply)
        assert.strictEqual(`${reply.location!.origin}${reply.location!.pathname}`, LOOPBACK_REDIRECT)
        assert.deepStrictEqual(Object.keys(params).toSorted(), ["code", "state"])
        assert.strictEqual(params.state, auth.state)
        assert.match(params.code!, /^ac_[\w-]+$/)
      })
    )

    it.effect.each([
      "http://localhost:1455/auth/callback",
      "http://127.0.0.1:1455/auth/callback",
      "http://localhost:1457/auth/callback",
      "http://127.0.0.1:1457/auth/callback"
    ])("accepts the Codex CLI's loopback redirect URI %s and the code exchange with it", (redirectUri) =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const grant = yield* authorizeCode(urls.issuer, { redirect_uri: redirectUri })
        assert.strictEqual(grant.redirectUri, redirectUri)
        const tokens = yield* decodeBody(TokenBody, yield* exchangeCode(urls.issuer, grant))
        assert.match(tokens.refresh_token, /^rt_/)
      })
    )

    it.effect("an unknown client_id answers 400 invalid_client without redirecting", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const reply = yield* get(authorization(urls.issuer, { client_id: "app_unknown" }).url)
        assertJson(reply, 400, { error: "invalid_client", error_description: 'Unknown client_id "app_unknown".' })
        assert.isUndefined(reply.location)
        const missing = yield* get(authorization(urls.issuer, { client_id: undefined }).url)
        assertJson(missing, 400, { error: "invalid_client", error_description: 'Unknown client_id "".' })
      })
    )

    it.effect("an unregistered redirect_uri answers 400 invalid_request without redirecting", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const redirectUri = "http://localhost:9999/auth/callback"
        const reply = yield* get(authorization(urls.issuer, { redirect_uri: redirectUri }).url)
        assertJson(reply, 400, {
          error: "invalid_request",
          error_description: `redirect_uri "${redirectUri}" is not registered for this client.`
        })
        assert.isUndefined(reply.location)
      })
    )

    it.effect.each([
      {
        title: "a missing code_challenge",
        params: { code_challenge: undefined },
        error: "invalid_request",
        description: "code_challenge is required (PKCE)."
      },
      {
        title: "code_challenge_method plain",
        params: { code_challenge_method: "plain" },
        error: "invalid_request",
        description: "code_challenge_method must be S256."
      },
      {
        title: "response_type token",
        params: { response_type: "token" },
        error: "unsupported_response_type",
        description: "response_type must be code."
      },
      {
        title: "a scope without openid",
        params: { scope: "profile email offline_access" },
        error: "invalid_scope",
        description: "scope must include openid."
      }
    ])("$title redirects back with error=$error and the state", ({ params, error, description }) =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const auth = authorization(urls.issuer, params)
        const reply = yield* get(auth.url)
        assert.deepStrictEqual(redirectParams(reply), { error, error_description: description, state: auth.state })
        assert.strictEqual(`${reply.location!.origin}${reply.location!.pathname}`, LOOPBACK_REDIRECT)
      })
    )

    it.effect(
      "settings.approval interactive shows an HTML page with Approve and Deny; Approve redirects with a code",
      () =>
        Effect.gen(function* () {
          const emulator = yield* freshEmulator
          yield* emulator.updateSettings({ approval: "interactive" })
          const auth = authorization(emulator.urls.issuer)
          const page = yield* get(auth.url)
          assert.strictEqual(page.status, 200)
          assert.strictEqual(page.headers.get("content-type"), "text/html; charset=utf-8")
          assert.include(page.text, '<form method="post" action="/oauth/authorize/decision">')
          assert.include(
            page.text,
            '<button type="submit" name="decision" value="approve" id="approve">Approve</button>'
          )
          assert.include(page.text, '<button type="submit" name="decision" value="deny" id="deny">Deny</button>')
          assert.include(page.text, `<code>${CLIENT_ID}</code>`)

          const decision = yield* postForm(`${emulator.urls.issuer}/oauth/authorize/decision`, {
            request_id: requestIdOf(page.text),
            account: DEFAULT_ACCOUNT_ID,
            decision: "approve"
          })
          const params = redirectParams(decision)
          assert.strictEqual(params.state, auth.state)
          const tokens = yield* decodeBody(
            TokenBody,
            yield* exchangeCode(emulator.urls.issuer, { ...auth, code: params.code! })
          )
          const claims = yield* jwtClaims(IdTokenClaims, tokens.id_token)
          assert.strictEqual(claims[AUTH_CLAIMS].chatgpt_account_id, DEFAULT_ACCOUNT_ID)
        })
    )

    it.effect(
      "emulator_approval=interactive asks per request; Approve signs in as the account chosen on the page",
      () =>
        Effect.gen(function* () {
          const emulator = yield* freshEmulator
          const other = yield* emulator.addAccount({ email: "second@example.com", plan: "pro" })
          const auth = authorization(emulator.urls.issuer, { emulator_approval: "interactive" })
          const page = yield* get(auth.url)
          assert.strictEqual(page.status, 200)
          assert.include(page.text, `<option value="${other.id}">second@example.com (pro)</option>`)
          const decision = yield* postForm(`${emulator.urls.issuer}/oauth/authorize/decision`, {
            request_id: requestIdOf(page.text),
            account: other.id,
            decision: "approve"
          })
          const code = redirectParams(decision).code!
          const tokens = yield* decodeBody(TokenBody, yield* exchangeCode(emulator.urls.issuer, { ...auth, code }))
          const claims = yield* jwtClaims(AccessTokenClaims, tokens.access_token)
          assert.strictEqual(claims[AUTH_CLAIMS].chatgpt_account_id, other.id)
          assert.strictEqual(claims[AUTH_CLAIMS].chatgpt_plan_type, "pro")
        })
    )

    it.effect("Deny on the approval page redirects with error=access_denied and the state", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const auth = authorization(urls.issuer, { emulator_approval: "interactive" })
        const page = yield* get(auth.url)
        const decision = yield* postForm(`${urls.issuer}/oauth/authorize/decision`, {
          request_id: requestIdOf(page.text),
          decision: "deny"
        })
        assert.deepStrictEqual(redirectParams(decision), {
          error: "access_denied",
          error_description: "The user denied the request.",
          state: auth.state
        })
      })
    )

    it.effect("a decision on an unknown or already decided request answers a 400 page", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const unknown = yield* postForm(`${urls.issuer}/oauth/authorize/decision`, {
          request_id: "no-such-request",
          decision: "approve"
        })
        assert.strictEqual(unknown.status, 400)
        assert.strictEqual(unknown.headers.get("content-type"), "text/html; charset=utf-8")
        assert.include(
          unknown.text,
          '<h1>Request expired</h1><p id="message">This sign-in request is no longer pending. Start the sign-in again.</p>'
        )
        assert.isUndefined(unknown.location)

        const page = yield* get(authorization(urls.issuer, { emulator_approval: "interactive" }).url)
        const form = { request_id: requestIdOf(page.text), decision: "approve" }
        assert.strictEqual((yield* postForm(`${urls.issuer}/oauth/authorize/decision`, form)).status, 302)
        const again = yield* postForm(`${urls.issuer}/oauth/authorize/decision`, form)
        assert.strictEqual(again.status, 400)
        assert.include(again.text, "Request expired")
      })
    )

    it.effect("an account without Codex entitlement gets access_denied naming missing_codex_entitlement", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const unentitled = yield* emulator.addAccount({ email: "noaccess@example.com", entitled: false })
        const auth = authorization(emulator.urls.issuer, { emulator_account: unentitled.id })
        const params = redirectParams(yield* get(auth.url))
        assert.strictEqual(params.error, "access_denied")
        assert.include(params.error_description, "missing_codex_entitlement")
        assert.strictEqual(params.state, auth.state)
        assert.isUndefined(params.code)

        // The same through the interactive page.
        const page = yield* get(authorization(emulator.urls.issuer, { emulator_approval: "interactive" }).url)
        const decision = yield* postForm(`${emulator.urls.issuer}/oauth/authorize/decision`, {
          request_id: requestIdOf(page.text),
          account: unentitled.id,
          decision: "approve"
        })
        assert.deepStrictEqual(redirectParams(decision).error_description, params.error_description)
      })
    )

    it.effect("an emulator_account the emulator does not have is access_denied", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const auth = authorization(urls.issuer, { emulator_account: "no-such-account" })
        assert.deepStrictEqual(redirectParams(yield* get(auth.url)), {
          error: "access_denied",
          error_description: "Unknown account.",
          state: auth.state
        })
      })
    )

    it.effect("the approval page HTML-escapes the echoed scope and account emails", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        yield* emulator.addAccount({ email: `"><img src=x onerror=alert(1)>@example.com` })
        const scope = `openid <script>alert("x")</script>`
        const page = yield* get(authorization(emulator.urls.issuer, { emulator_approval: "interactive", scope }).url)
        assert.strictEqual(page.status, 200)
        assert.include(page.text, "<code>openid &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</code>")
        assert.include(page.text, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;@example.com")
        assert.notInclude(page.text, "<script>")
        assert.notInclude(page.text, "<img")
      })
    )
  })

  describe("/oauth/token authorization_code", () => {
    it.effect("a form-encoded exchange returns id, access and refresh tokens with the ChatGPT claims", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        yield* emulator.updateSettings({ accessTokenTtlSeconds: 900 })
        const grant = yield* authorizeCode(emulator.urls.issuer)
        const reply = yield* exchangeCode(emulator.urls.issuer, grant)
        assert.strictEqual(reply.headers.get("cache-control"), "no-store")
        const tokens = yield* decodeBody(TokenBody, reply)
        assert.strictEqual(tokens.token_type, "Bearer")
        assert.strictEqual(tokens.expires_in, 900)
        assert.strictEqual(tokens.scope, CODEX_SCOPE)
        assert.notStrictEqual(tokens.refresh_token, tokens.access_token)

        const auth = {
          chatgpt_account_id: DEFAULT_ACCOUNT_ID,
          chatgpt_plan_type: "plus",
          chatgpt_user_id: "user-emulator-default"
        }
        const id = yield* jwtClaims(IdTokenClaims, tokens.id_token)
        assert.strictEqual(id.email, "dev@example.com")
        assert.deepStrictEqual(id[AUTH_CLAIMS], auth)
        const access = yield* jwtClaims(AccessTokenClaims, tokens.access_token)
        assert.deepStrictEqual(access[AUTH_CLAIMS], auth)
        assert.strictEqual(access[PROFILE_CLAIMS].email, "dev@example.com")
        assert.strictEqual(access.exp, access.iat + 900)
        assert.strictEqual(id.exp, id.iat + 900)

        const check = yield* accountsCheck(emulator.urls.chatgptBaseUrl, tokens.access_token)
        assert.strictEqual(check.status, 200, check.text)
      })
    )

    it.effect("a wrong or missing code_verifier fails PKCE verification with invalid_grant", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const pkceFailure = {
          error: "invalid_grant",
          error_description: "PKCE verification failed: code_verifier does not match code_challenge."
        }
        const grant = yield* authorizeCode(urls.issuer)
        assertJson(yield* exchangeCode(urls.issuer, { ...grant, verifier: "x".repeat(86) }), 400, pkceFailure)
        const other = yield* authorizeCode(urls.issuer)
        const withoutVerifier = yield* postForm(`${urls.issuer}/oauth/token`, {
          grant_type: "authorization_code",
          code: other.code,
          redirect_uri: other.redirectUri,
          client_id: CLIENT_ID
        })
        assertJson(withoutVerifier, 400, pkceFailure)
      })
    )

    it.effect("a code can be exchanged once; a second exchange is invalid_grant", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const grant = yield* authorizeCode(urls.issuer)
        assert.strictEqual((yield* exchangeCode(urls.issuer, grant)).status, 200)
        assertJson(yield* exchangeCode(urls.issuer, grant), 400, {
          error: "invalid_grant",
          error_description: "The authorization code has already been used."
        })
      })
    )

    it.effect("a code older than authorizationCodeTtlSeconds is invalid_grant", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        yield* emulator.updateSettings({ authorizationCodeTtlSeconds: 30 })
        const grant = yield* authorizeCode(emulator.urls.issuer)
        yield* emulator.advanceClock("31 seconds")
        assertJson(yield* exchangeCode(emulator.urls.issuer, grant), 400, {
          error: "invalid_grant",
          error_description: "The authorization code has expired."
        })
      })
    )

    it.effect("an unknown code is invalid_grant", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const reply = yield* exchangeCode(urls.issuer, {
          code: "ac_unknown",
          verifier: "v",
          redirectUri: LOOPBACK_REDIRECT
        })
        assertJson(reply, 400, { error: "invalid_grant", error_description: "The authorization code is invalid." })
      })
    )

    it.effect("a redirect_uri other than the authorize one is invalid_grant", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const grant = yield* authorizeCode(urls.issuer, { redirect_uri: "http://localhost:1455/auth/callback" })
        const reply = yield* exchangeCode(urls.issuer, { ...grant, redirectUri: "http://127.0.0.1:1455/auth/callback" })
        assertJson(reply, 400, {
          error: "invalid_grant",
          error_description: "redirect_uri does not match the one used to authorize."
        })
      })
    )

    it.effect("a client_id other than the authorize one is invalid_client", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const grant = yield* authorizeCode(urls.issuer)
        const reply = yield* exchangeCode(urls.issuer, grant, { client_id: "app_someone_else" })
        assertJson(reply, 400, {
          error: "invalid_client",
          error_description: "client_id does not match the authorization code."
        })
      })
    )

    it.effect("an unsupported or missing grant_type is unsupported_grant_type", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const password = yield* postForm(`${urls.issuer}/oauth/token`, { grant_type: "password", client_id: CLIENT_ID })
        assertJson(password, 400, {
          error: "unsupported_grant_type",
          error_description: 'grant_type "password" is not supported.'
        })
        const missing = yield* postForm(`${urls.issuer}/oauth/token`, { client_id: CLIENT_ID })
        assertJson(missing, 400, {
          error: "unsupported_grant_type",
          error_description: 'grant_type "" is not supported.'
        })
      })
    )

    it.effect("a JSON body that does not parse is invalid_request", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const reply = yield* send(`${urls.issuer}/oauth/token`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"grant_type":'
        })
        assertJson(reply, 400, {
          error: "invalid_request",
          error_description: "We could not parse the JSON body of your request."
        })
      })
    )
  })

  describe("/oauth/token refresh_token", () => {
    it.effect("a JSON refresh rotates the refresh token; the old one is then refused as refresh_token_reused", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const first = yield* signIn(urls.issuer)
        const second = yield* decodeBody(TokenBody, yield* refreshJson(urls.issuer, first.refresh_token))
        assert.notStrictEqual(second.refresh_token, first.refresh_token)
        assert.notStrictEqual(second.access_token, first.access_token)
        assert.strictEqual((yield* accountsCheck(urls.chatgptBaseUrl, second.access_token)).status, 200)
        assertJson(yield* refreshJson(urls.issuer, first.refresh_token), 401, errors.refreshReused)
      })
    )

    it.effect("a form-encoded refresh rotates the same way", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const first = yield* signIn(urls.issuer)
        const second = yield* decodeBody(TokenBody, yield* refreshForm(urls.issuer, first.refresh_token))
        assert.notStrictEqual(second.refresh_token, first.refresh_token)
        assertJson(yield* refreshForm(urls.issuer, first.refresh_token), 401, errors.refreshReused)
        const third = yield* decodeBody(TokenBody, yield* refreshForm(urls.issuer, second.refresh_token))
        const claims = yield* jwtClaims(AccessTokenClaims, third.access_token)
        assert.strictEqual(claims[AUTH_CLAIMS].chatgpt_account_id, DEFAULT_ACCOUNT_ID)
      })
    )

    it.effect("after a reuse attempt the rotated token still works when revokeFamilyOnReuse is off", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        assert.isFalse((yield* emulator.settings).revokeFamilyOnReuse)
        const first = yield* signIn(emulator.urls.issuer)
        const second = yield* decodeBody(TokenBody, yield* refreshJson(emulator.urls.issuer, first.refresh_token))
        assertJson(yield* refreshJson(emulator.urls.issuer, first.refresh_token), 401, errors.refreshReused)
        assert.strictEqual((yield* refreshJson(emulator.urls.issuer, second.refresh_token)).status, 200)
      })
    )

    it.effect("with revokeFamilyOnReuse a reuse attempt invalidates the rotated token too", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        yield* emulator.updateSettings({ revokeFamilyOnReuse: true })
        const first = yield* signIn(emulator.urls.issuer)
        const second = yield* decodeBody(TokenBody, yield* refreshJson(emulator.urls.issuer, first.refresh_token))
        assertJson(yield* refreshJson(emulator.urls.issuer, first.refresh_token), 401, errors.refreshReused)
        assertJson(yield* refreshJson(emulator.urls.issuer, second.refresh_token), 401, errors.refreshInvalidated)
      })
    )

    it.effect("a refresh token older than refreshTokenTtlSeconds is refresh_token_expired", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        yield* emulator.updateSettings({ refreshTokenTtlSeconds: 600 })
        const tokens = yield* signIn(emulator.urls.issuer)
        yield* emulator.advanceClock("599 seconds")
        const fresh = yield* decodeBody(TokenBody, yield* refreshJson(emulator.urls.issuer, tokens.refresh_token))
        yield* emulator.advanceClock("601 seconds")
        assertJson(yield* refreshJson(emulator.urls.issuer, fresh.refresh_token), 401, errors.refreshExpired)
      })
    )

    it.effect("revokeTokens(account) makes its refresh tokens refresh_token_invalidated", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        yield* emulator.revokeTokens(DEFAULT_ACCOUNT_ID)
        assertJson(yield* refreshJson(emulator.urls.issuer, tokens.refresh_token), 401, errors.refreshInvalidated)
        assertJson(yield* accountsCheck(emulator.urls.chatgptBaseUrl, tokens.access_token), 401, errors.tokenRevoked)
        // Tokens issued afterwards work, even within the same second.
        const again = yield* signIn(emulator.urls.issuer)
        assert.strictEqual((yield* accountsCheck(emulator.urls.chatgptBaseUrl, again.access_token)).status, 200)
        assert.strictEqual((yield* refreshJson(emulator.urls.issuer, again.refresh_token)).status, 200)
      })
    )

    it.effect("an unknown refresh token is refresh_token_invalidated", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        assertJson(yield* refreshJson(urls.issuer, "rt_never_issued"), 401, errors.refreshInvalidated)
        assertJson(
          yield* postJson(`${urls.issuer}/oauth/token`, { client_id: CLIENT_ID, grant_type: "refresh_token" }),
          401,
          errors.refreshInvalidated
        )
      })
    )

    it.effect("an unknown client_id is 401 invalid_client", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const tokens = yield* signIn(urls.issuer)
        assertJson(yield* refreshJson(urls.issuer, tokens.refresh_token, "app_unknown"), 401, {
          error: "invalid_client",
          error_description: "Unknown client_id."
        })
        // The token was not spent.
        assert.strictEqual((yield* refreshJson(urls.issuer, tokens.refresh_token)).status, 200)
      })
    )

    it.effect("counters.refreshes counts successes and rejections by reason", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)
        yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)
        yield* refreshJson(emulator.urls.issuer, "rt_unknown")
        yield* refreshJson(emulator.urls.issuer, "rt_unknown", "app_unknown")
        const counters = yield* emulator.counters
        assert.deepStrictEqual(counters.refreshes, {
          succeeded: 1,
          rejected: 3,
          byReason: { reused: 1, invalidated: 1, invalid_client: 1 },
          byRefreshReason: { unauthorized_recovery: 4 }
        })
        assert.deepStrictEqual(counters.grants, { authorization_code: 1, refresh_token: 1, token_exchange: 0 })
      })
    )

    it.effect("counters.refreshes.byRefreshReason counts the refresh_reason each refresh sent, none without one", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const { issuer } = emulator.urls
        const refreshWith = (refreshToken: string, reason: string) =>
          Effect.flatMap(
            postJson(`${issuer}/oauth/token`, {
              client_id: CLIENT_ID,
              grant_type: "refresh_token",
              refresh_token: refreshToken,
              refresh_reason: reason
            }),
            (reply) => decodeBody(TokenBody, reply)
          )
        const first = yield* signIn(issuer)
        const second = yield* refreshWith(first.refresh_token, "proactive_expiry")
        const third = yield* refreshWith(second.refresh_token, "scheduled")
        assert.strictEqual((yield* refreshJson(issuer, third.refresh_token)).status, 200)
        assertJson(yield* refreshForm(issuer, "rt_never_issued"), 401, errors.refreshInvalidated)
        const { refreshes } = yield* emulator.counters
        assert.deepStrictEqual(refreshes.byRefreshReason, {
          proactive_expiry: 1,
          scheduled: 1,
          unauthorized_recovery: 1,
          none: 1
        })
        assert.deepStrictEqual(refreshes.byReason, { invalidated: 1 })
      })
    )

    it.effect("a refused refresh of a known token is counted for that token's account", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        assert.strictEqual((yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)).status, 200)
        assertJson(yield* refreshJson(emulator.urls.issuer, tokens.refresh_token), 401, errors.refreshReused)
        assertJson(yield* refreshJson(emulator.urls.issuer, "rt_never_issued"), 401, errors.refreshInvalidated)
        assert.deepStrictEqual((yield* emulator.counters).requests.token, {
          total: 4,
          byAccount: { [DEFAULT_ACCOUNT_ID]: 3 }
        })
      })
    )

    it.effect("two concurrent refreshes of one refresh token: exactly one 200 and one 401 refresh_token_reused", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const tokens = yield* signIn(urls.issuer)
        const replies = yield* Effect.all(
          [refreshJson(urls.issuer, tokens.refresh_token), refreshJson(urls.issuer, tokens.refresh_token)],
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(replies.map((reply) => reply.status).toSorted(), [200, 401])
        assertJson(
          replies.find((reply) => reply.status === 401)!,
          401,
          errors.refreshReused
        )
        yield* decodeBody(
          TokenBody,
          replies.find((reply) => reply.status === 200)!
        )
      })
    )
  })

  describe("/oauth/token token exchange", () => {
    const exchange = (issuer: string, subjectToken: string) =>
      postForm(`${issuer}/oauth/token`, {
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        client_id: CLIENT_ID,
        requested_token: "openai-api-key",
        subject_token: subjectToken,
        subject_token_type: "urn:ietf:params:oauth:token-type:id_token"
      })

    it.effect("an id token is exchanged for an API key starting with sk-", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        const reply = yield* exchange(emulator.urls.issuer, tokens.id_token)
        const body = yield* decodeBody(
          Schema.Struct({ access_token: Schema.String, issued_token_type: Schema.String, token_type: Schema.String }),
          reply
        )
        assert.match(body.access_token, /^sk-/)
        assert.strictEqual(body.issued_token_type, "urn:ietf:params:oauth:token-type:access_token")
        assert.strictEqual(body.token_type, "Bearer")
        assert.strictEqual((yield* emulator.counters).grants.token_exchange, 1)
      })
    )

    it.effect("a subject token that is not an id token of this issuer is invalid_grant", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const tokens = yield* signIn(urls.issuer)
        const invalid = { error: "invalid_grant", error_description: "subject_token is not a valid id_token." }
        assertJson(yield* exchange(urls.issuer, "not-a-jwt"), 400, invalid)
        const [header, payload] = tokens.id_token.split(".")
        assertJson(yield* exchange(urls.issuer, `${header}.${payload}.forged`), 400, invalid)
      })
    )

    it.effect("requested_token other than openai-api-key is invalid_request", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const reply = yield* postForm(`${urls.issuer}/oauth/token`, {
          grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
          client_id: CLIENT_ID,
          requested_token: "something-else",
          subject_token: "x",
          subject_token_type: "urn:ietf:params:oauth:token-type:id_token"
        })
        assertJson(reply, 400, {
          error: "invalid_request",
          error_description: "requested_token must be openai-api-key."
        })
      })
    )
  })

  describe("/oauth/revoke", () => {
    it.effect("revoking a refresh token (JSON, as codex logout sends it) answers {} and invalidates it", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        const reply = yield* postJson(`${emulator.urls.issuer}/oauth/revoke`, {
          token: tokens.refresh_token,
          token_type_hint: "refresh_token",
          client_id: CLIENT_ID
        })
        assertJson(reply, 200, {})
        assertJson(yield* refreshJson(emulator.urls.issuer, tokens.refresh_token), 401, errors.refreshInvalidated)
        assert.strictEqual((yield* emulator.counters).revokes, 1)
      })
    )

    it.effect("revoking an access token makes the backend answer 401 token_revoked", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        assert.strictEqual((yield* accountsCheck(emulator.urls.chatgptBaseUrl, tokens.access_token)).status, 200)
        const reply = yield* postJson(`${emulator.urls.issuer}/oauth/revoke`, {
          token: tokens.access_token,
          token_type_hint: "access_token"
        })
        assertJson(reply, 200, {})
        assertJson(yield* accountsCheck(emulator.urls.chatgptBaseUrl, tokens.access_token), 401, errors.tokenRevoked)
        assert.strictEqual((yield* emulator.counters).revokes, 1)
      })
    )

    it.effect("revoking an unknown token answers {} (RFC 7009)", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        assertJson(yield* postJson(`${urls.issuer}/oauth/revoke`, { token: "rt_never_issued" }), 200, {})
      })
    )

    it.effect("a revoke without a token is 400 invalid_request", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const reply = yield* postJson(`${emulator.urls.issuer}/oauth/revoke`, { token_type_hint: "refresh_token" })
        assertJson(reply, 400, { error: "invalid_request", error_description: "token is required." })
        assert.strictEqual((yield* emulator.counters).revokes, 0)
      })
    )
  })

  describe("refresh faults", () => {
    it.effect.each([
      { kind: "refresh_reused", body: errors.refreshReused, reason: "reused" },
      { kind: "refresh_expired", body: errors.refreshExpired, reason: "expired" },
      { kind: "refresh_invalidated", body: errors.refreshInvalidated, reason: "invalidated" }
    ] as const)(
      "a $kind fault answers exactly `times` refreshes with 401, then refreshes work",
      ({ kind, body, reason }) =>
        Effect.gen(function* () {
          const emulator = yield* freshEmulator
          const tokens = yield* signIn(emulator.urls.issuer)
          yield* emulator.injectFault({ kind, times: 2 })
          assertJson(yield* refreshJson(emulator.urls.issuer, tokens.refresh_token), 401, body)
          assertJson(yield* refreshForm(emulator.urls.issuer, tokens.refresh_token), 401, body)
          assert.strictEqual((yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)).status, 200)
          const counters = yield* emulator.counters
          assert.strictEqual(counters.faultsInjected, 2)
          assert.deepStrictEqual(counters.refreshes, {
            succeeded: 1,
            rejected: 2,
            byReason: { [reason]: 2 },
            byRefreshReason: { unauthorized_recovery: 2, none: 1 }
          })
        })
    )

    it.effect("a refresh_server_error fault answers with its status once, then refreshes work", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        yield* emulator.injectFault({ kind: "refresh_server_error", status: 503 })
        assertJson(yield* refreshJson(emulator.urls.issuer, tokens.refresh_token), 503, {
          error: { message: "Internal server error", type: "server_error" }
        })
        assert.strictEqual((yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)).status, 200)
        assert.deepStrictEqual((yield* emulator.counters).refreshes.byReason, { server_error: 1 })
      })
    )

    it.effect("a refresh_server_error fault without a status answers 500", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        yield* emulator.injectFault({ kind: "refresh_server_error" })
        assert.strictEqual((yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)).status, 500)
      })
    )

    it.effect("a fault scoped to another account does not fire", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const other = yield* emulator.addAccount({ email: "other@example.com" })
        yield* emulator.injectFault({ kind: "refresh_reused", account: other.id })
        const mine = yield* signIn(emulator.urls.issuer)
        assert.strictEqual((yield* refreshJson(emulator.urls.issuer, mine.refresh_token)).status, 200)
        assert.strictEqual((yield* emulator.counters).faultsInjected, 0)
        // It fires for the account it names.
        const theirs = yield* emulator.issueTokens(other.id)
        assertJson(yield* refreshJson(emulator.urls.issuer, theirs.refresh_token), 401, errors.refreshReused)
      })
    )

    it.effect("a fault with probability 1 fires on every refresh until clearFaults", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        yield* emulator.injectFault({ kind: "refresh_expired", probability: 1 })
        for (let i = 0; i < 4; i++) {
          assertJson(yield* refreshJson(emulator.urls.issuer, tokens.refresh_token), 401, errors.refreshExpired)
        }
        yield* emulator.clearFaults
        assert.strictEqual((yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)).status, 200)
        assert.strictEqual((yield* emulator.counters).faultsInjected, 4)
      })
    )

    it.effect.each([
      { shape: "object", body: errors.refreshReused },
      {
        shape: "string",
        body: {
          error: "refresh_token_reused",
          error_description: errors.refreshReused.error.message
        }
      },
      { shape: "top_level", body: { code: "refresh_token_reused", message: errors.refreshReused.error.message } }
    ] as const)("a refresh_reused fault with shape $shape answers with that body (protocol §3)", ({ shape, body }) =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        yield* emulator.injectFault({ kind: "refresh_reused", shape })
        assertJson(yield* refreshJson(emulator.urls.issuer, tokens.refresh_token), 401, body)
      })
    )

    it.effect("a reply fault on the token endpoint answers in place of the refresh, which stays unspent", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        yield* emulator.injectFault({ kind: "overloaded", route: "token", account: DEFAULT_ACCOUNT_ID })
        assertJson(yield* refreshJson(emulator.urls.issuer, tokens.refresh_token), 503, {
          error: {
            type: "server_error",
            code: "server_is_overloaded",
            message: "Our servers are currently overloaded. Please try again later."
          }
        })
        yield* decodeBody(TokenBody, yield* refreshJson(emulator.urls.issuer, tokens.refresh_token))
        assert.strictEqual((yield* emulator.counters).faultsInjected, 1)
      })
    )
  })

  describe("faults on the other auth routes", () => {
    const serverError = {
      error: { type: "server_error", message: "An error occurred while processing your request.", code: null }
    }
    const requestUserCode = (issuer: string) =>
      Effect.flatMap(postJson(`${issuer}/api/accounts/deviceauth/usercode`, { client_id: CLIENT_ID }), (reply) =>
        decodeBody(DeviceCode, reply)
      )
    const requests = {
      authorize: { status: 302, send: (issuer: string) => get(authorization(issuer).url) },
      token: {
        status: 200,
        send: (issuer: string) => Effect.flatMap(authorizeCode(issuer), (grant) => exchangeCode(issuer, grant))
      },
      revoke: { status: 200, send: (issuer: string) => postJson(`${issuer}/oauth/revoke`, { token: "rt_any" }) },
      usercode: {
        status: 200,
        send: (issuer: string) => postJson(`${issuer}/api/accounts/deviceauth/usercode`, { client_id: CLIENT_ID })
      },
      device_token: {
        status: 403,
        send: (issuer: string) =>
          Effect.flatMap(requestUserCode(issuer), (device) =>
            postJson(`${issuer}/api/accounts/deviceauth/token`, device)
          )
      }
    } as const

    it.effect.each(Object.keys(requests) as Array<keyof typeof requests>)(
      "a server_error fault on %s answers 500 once, then the route answers as before",
      (route) =>
        Effect.gen(function* () {
          const emulator = yield* freshEmulator
          const { status, send: request } = requests[route]
          yield* emulator.injectFault({ kind: "server_error", route })
          assertJson(yield* request(emulator.urls.issuer), 500, serverError)
          const after = yield* request(emulator.urls.issuer)
          assert.strictEqual(after.status, status, after.text)
          assert.strictEqual((yield* emulator.counters).faultsInjected, 1)
        })
    )

    it.effect("the authorization_code grant meets a fault without spending its code", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const grant = yield* authorizeCode(emulator.urls.issuer)
        yield* emulator.injectFault({ kind: "bad_gateway", route: "token" })
        const refused = yield* exchangeCode(emulator.urls.issuer, grant)
        assert.strictEqual(refused.status, 502, refused.text)
        yield* decodeBody(TokenBody, yield* exchangeCode(emulator.urls.issuer, grant))
      })
    )
  })

  describe("device code", () => {
    const requestUserCode = (issuer: string) =>
      Effect.flatMap(postJson(`${issuer}/api/accounts/deviceauth/usercode`, { client_id: CLIENT_ID }), (reply) =>
        decodeBody(DeviceCode, reply)
      )
    const poll = (issuer: string, device: typeof DeviceCode.Type) =>
      postJson(`${issuer}/api/accounts/deviceauth/token`, {
        device_auth_id: device.device_auth_id,
        user_code: device.user_code
      })
    const pending = { error: "authorization_pending", error_description: "The user has not approved the code yet." }

    it.effect("the user-code request answers a device_auth_id, an XXXX-XXXX code and the interval as a string", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const device = yield* requestUserCode(emulator.urls.issuer)
        assert.match(device.device_auth_id, /^deviceauth_/)
        assert.match(device.user_code, /^[A-Z0-9]{4}-[A-Z0-9]{4}$/)
        assert.strictEqual(device.interval, "5")
        yield* emulator.updateSettings({ deviceIntervalSeconds: 2 })
        assert.strictEqual((yield* requestUserCode(emulator.urls.issuer)).interval, "2")
      })
    )

    it.effect("an unknown client_id is 400 invalid_client", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const reply = yield* postJson(`${urls.issuer}/api/accounts/deviceauth/usercode`, { client_id: "app_unknown" })
        assertJson(reply, 400, { error: "invalid_client", error_description: "Unknown client_id." })
      })
    )

    it.effect("with the deviceCodeEnabled setting off the user-code request answers 404", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        yield* emulator.updateSettings({ deviceCodeEnabled: false })
        const reply = yield* postJson(`${emulator.urls.issuer}/api/accounts/deviceauth/usercode`, {
          client_id: CLIENT_ID
        })
        assertJson(reply, 404, { error: "not_found", error_description: "Not Found" })
      })
    )

    it.effect("approved on the /codex/device page, the poll hands out a code and verifier that sign in", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const { issuer } = emulator.urls
        const device = yield* requestUserCode(issuer)
        assertJson(yield* poll(issuer, device), 403, pending)

        const page = yield* get(`${issuer}/codex/device?user_code=${device.user_code}`)
        assert.strictEqual(page.status, 200)
        assert.include(page.text, `value="${device.user_code}"`)
        assert.include(page.text, 'id="approve">Approve</button>')
        assert.include(page.text, 'id="deny">Deny</button>')

        const approved = yield* postForm(`${issuer}/codex/device`, {
          user_code: device.user_code,
          decision: "approve"
        })
        assert.strictEqual(approved.status, 200, approved.text)
        assert.include(approved.text, "<h1>Device signed in</h1>")

        const grant = yield* decodeBody(DeviceGrant, yield* poll(issuer, device))
        assert.strictEqual(grant.code_challenge, s256(grant.code_verifier))
        const tokens = yield* decodeBody(
          TokenBody,
          yield* exchangeCode(issuer, {
            code: grant.authorization_code,
            verifier: grant.code_verifier,
            redirectUri: `${issuer}/deviceauth/callback`
          })
        )
        const claims = yield* jwtClaims(IdTokenClaims, tokens.id_token)
        assert.strictEqual(claims[AUTH_CLAIMS].chatgpt_account_id, DEFAULT_ACCOUNT_ID)

        // The grant is handed out once.
        assertJson(yield* poll(issuer, device), 400, {
          error: "invalid_request",
          error_description: "Unknown device_auth_id or user_code."
        })
      })
    )

    it.effect("the /codex/device page accepts the code in lower case without the dash, for the chosen account", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const other = yield* emulator.addAccount({ email: "team@example.com", plan: "team" })
        const device = yield* requestUserCode(emulator.urls.issuer)
        const approved = yield* postForm(`${emulator.urls.issuer}/codex/device`, {
          user_code: device.user_code.replace("-", "").toLowerCase(),
          account: other.id,
          decision: "approve"
        })
        assert.strictEqual(approved.status, 200, approved.text)
        const grant = yield* decodeBody(DeviceGrant, yield* poll(emulator.urls.issuer, device))
        const tokens = yield* decodeBody(
          TokenBody,
          yield* exchangeCode(emulator.urls.issuer, {
            code: grant.authorization_code,
            verifier: grant.code_verifier,
            redirectUri: `${emulator.urls.issuer}/deviceauth/callback`
          })
        )
        const claims = yield* jwtClaims(AccessTokenClaims, tokens.access_token)
        assert.strictEqual(claims[AUTH_CLAIMS].chatgpt_account_id, other.id)
        assert.strictEqual(claims[AUTH_CLAIMS].chatgpt_plan_type, "team")
      })
    )

    it.effect("an unknown code on the /codex/device page answers 400 with a notice", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const reply = yield* postForm(`${urls.issuer}/codex/device`, { user_code: "ZZZZ-ZZZZ", decision: "approve" })
        assert.strictEqual(reply.status, 400)
        assert.include(reply.text, '<p role="status" id="notice">That code is not valid or has expired.</p>')
      })
    )

    it.effect("the approveDevice admin shortcut approves a code for the given account", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const other = yield* emulator.addAccount({ email: "shortcut@example.com" })
        const device = yield* requestUserCode(emulator.urls.issuer)
        yield* emulator.approveDevice(device.user_code, { account: other.id })
        const grant = yield* decodeBody(DeviceGrant, yield* poll(emulator.urls.issuer, device))
        assert.strictEqual(grant.code_challenge, s256(grant.code_verifier))
        const tokens = yield* decodeBody(
          TokenBody,
          yield* exchangeCode(emulator.urls.issuer, {
            code: grant.authorization_code,
            verifier: grant.code_verifier,
            redirectUri: `${emulator.urls.issuer}/deviceauth/callback`
          })
        )
        const claims = yield* jwtClaims(IdTokenClaims, tokens.id_token)
        assert.strictEqual(claims.email, "shortcut@example.com")
      })
    )

    it.effect("a denied code makes the poll answer 400 access_denied", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const denied = { error: "access_denied", error_description: "The user denied the request." }
        const onPage = yield* requestUserCode(emulator.urls.issuer)
        const reply = yield* postForm(`${emulator.urls.issuer}/codex/device`, {
          user_code: onPage.user_code,
          decision: "deny"
        })
        assert.strictEqual(reply.status, 200)
        assert.include(reply.text, "<h1>Sign-in denied</h1>")
        assertJson(yield* poll(emulator.urls.issuer, onPage), 400, denied)

        const byShortcut = yield* requestUserCode(emulator.urls.issuer)
        yield* emulator.approveDevice(byShortcut.user_code, { deny: true })
        assertJson(yield* poll(emulator.urls.issuer, byShortcut), 400, denied)
      })
    )

    it.effect("a code older than deviceCodeTtlSeconds makes the poll answer 400 expired_token", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const device = yield* requestUserCode(emulator.urls.issuer)
        yield* emulator.advanceClock("901 seconds")
        assertJson(yield* poll(emulator.urls.issuer, device), 400, {
          error: "expired_token",
          error_description: "The device code has expired. Start the sign-in again."
        })
        const error = yield* Effect.flip(emulator.approveDevice(device.user_code))
        assert.instanceOf(error, DeviceCodeNotFound)
        assert.strictEqual(error.reason, "expired")
      })
    )

    it.effect("approveDevice on an unknown code fails with DeviceCodeNotFound", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const error = yield* Effect.flip(emulator.approveDevice("ABCD-EFGH"))
        assert.instanceOf(error, DeviceCodeNotFound)
        assert.strictEqual(error.userCode, "ABCD-EFGH")
        assert.strictEqual(error.reason, "unknown")
        assert.strictEqual(
          error.message,
          "Device code ABCD-EFGH is unknown: request a new one from /api/accounts/deviceauth/usercode."
        )
      })
    )

    it.effect("a code is decided once: a second approve or deny is DeviceCodeNotFound and mints no second code", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const { issuer } = emulator.urls
        const approved = yield* requestUserCode(issuer)
        yield* emulator.approveDevice(approved.user_code)
        for (const options of [{}, { deny: true }]) {
          const again = yield* Effect.flip(emulator.approveDevice(approved.user_code, options))
          assert.instanceOf(again, DeviceCodeNotFound)
          assert.strictEqual(again.reason, "unknown")
        }
        const onPage = yield* postForm(`${issuer}/codex/device`, { user_code: approved.user_code, decision: "approve" })
        assert.strictEqual(onPage.status, 400)
        assert.include(onPage.text, "That code is not valid or has expired.")
        yield* decodeBody(DeviceGrant, yield* poll(issuer, approved))

        const denied = yield* requestUserCode(issuer)
        yield* emulator.approveDevice(denied.user_code, { deny: true })
        assert.instanceOf(yield* Effect.flip(emulator.approveDevice(denied.user_code)), DeviceCodeNotFound)
        assertJson(yield* poll(issuer, denied), 400, {
          error: "access_denied",
          error_description: "The user denied the request."
        })
      })
    )

    it.effect("approving for an account without Codex entitlement denies the code: missing_codex_entitlement", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const unentitled = yield* emulator.addAccount({ email: "noaccess@example.com", entitled: false })
        const device = yield* requestUserCode(emulator.urls.issuer)
        yield* emulator.approveDevice(device.user_code, { account: unentitled.id })
        assertJson(yield* poll(emulator.urls.issuer, device), 400, {
          error: "access_denied",
          error_description: "missing_codex_entitlement: this workspace has no access to Codex."
        })
      })
    )

    it.effect("approving for an account the emulator does not have is AccountNotFound; the code stays pending", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const device = yield* requestUserCode(emulator.urls.issuer)
        const error = yield* Effect.flip(emulator.approveDevice(device.user_code, { account: "nope" }))
        assert.instanceOf(error, AccountNotFound)
        assert.strictEqual(error.account, "nope")
        const page = yield* postForm(`${emulator.urls.issuer}/codex/device`, {
          user_code: device.user_code,
          account: "nope",
          decision: "approve"
        })
        assert.strictEqual(page.status, 400)
        assert.include(page.text, '<p role="status" id="notice">No account nope.</p>')
        assertJson(yield* poll(emulator.urls.issuer, device), 403, pending)
        yield* emulator.approveDevice(device.user_code)
        yield* decodeBody(DeviceGrant, yield* poll(emulator.urls.issuer, device))
      })
    )

    it.effect("the authorization code of an approved device code lives authorizationCodeTtlSeconds", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        yield* emulator.updateSettings({ authorizationCodeTtlSeconds: 30 })
        const device = yield* requestUserCode(emulator.urls.issuer)
        yield* emulator.approveDevice(device.user_code)
        const grant = yield* decodeBody(DeviceGrant, yield* poll(emulator.urls.issuer, device))
        yield* emulator.advanceClock("31 seconds")
        const exchange = yield* exchangeCode(emulator.urls.issuer, {
          code: grant.authorization_code,
          verifier: grant.code_verifier,
          redirectUri: `${emulator.urls.issuer}/deviceauth/callback`
        })
        assertJson(exchange, 400, { error: "invalid_grant", error_description: "The authorization code has expired." })
      })
    )

    it.effect("faults on device_token answer the poll: rate_limit with Retry-After, slow_first_byte later", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const device = yield* requestUserCode(emulator.urls.issuer)
        yield* emulator.injectFault({ kind: "rate_limit", route: "device_token", retryAfterSeconds: 3 })
        const limited = yield* poll(emulator.urls.issuer, device)
        assertJson(limited, 429, {
          error: {
            type: "rate_limit_exceeded",
            code: "rate_limit_exceeded",
            message: "Rate limit reached. Please try again in 3s."
          }
        })
        assert.strictEqual(limited.headers.get("retry-after"), "3")
        yield* emulator.injectFault({ kind: "slow_first_byte", route: "device_token", delayMs: 200 })
        const started = performance.now()
        assertJson(yield* poll(emulator.urls.issuer, device), 403, pending)
        assert.isAtLeast(performance.now() - started, 190)
        assert.strictEqual((yield* emulator.counters).faultsInjected, 2)
      })
    )
  })
})

// The admin API under adminUrl over real loopback HTTP, checked against the in-process operations of
// the Emulator service that it mirrors.
import { assert, describe, layer } from "@effect/vitest"
import { Cause, DateTime, Duration, Effect, Exit, Layer, Option, Schema } from "effect"
import { Account } from "../src/Domain.ts"
import { AccountExists, AccountNotFound, Emulator, InvalidFault } from "../src/Emulator.ts"
import {
  AccessTokenClaims,
  accountsCheck,
  assertJson,
  AUTH_CLAIMS,
  CLIENT_ID,
  DEFAULT_ACCOUNT_ID,
  decodeBody,
  errors,
  exchangeCode,
  freshEmulator,
  get,
  IdTokenClaims,
  jwtClaims,
  postJson,
  refreshJson,
  s256,
  send,
  sendJson,
  signIn,
  TokenBody
} from "./oauthHelpers.ts"

const State = Schema.Struct({
  issuer: Schema.String,
  now: Schema.Finite,
  settings: Schema.Unknown,
  accounts: Schema.Array(Account),
  replies: Schema.Array(Schema.Unknown)
})

const DeviceCode = Schema.Struct({ device_auth_id: Schema.String, user_code: Schema.String })
const DeviceGrant = Schema.Struct({
  authorization_code: Schema.String,
  code_challenge: Schema.String,
  code_verifier: Schema.String
})

const requestDeviceCode = (issuer: string) =>
  Effect.flatMap(postJson(`${issuer}/api/accounts/deviceauth/usercode`, { client_id: CLIENT_ID }), (reply) =>
    decodeBody(DeviceCode, reply)
  )

const pollDevice = (issuer: string, device: typeof DeviceCode.Type) =>
  postJson(`${issuer}/api/accounts/deviceauth/token`, device)

/** Asserts a 400 from the admin API's body decoding and returns its message. */
const invalidAdminRequest = (reply: { readonly status: number; readonly text: string; readonly body: unknown }) => {
  assert.strictEqual(reply.status, 400, reply.text)
  const { detail } = reply.body as { readonly detail: string }
  assert.match(detail, /^Invalid admin request: /)
  return detail
}

layer(Emulator.layer(), { excludeTestServices: true })("admin API", (it) => {
  describe("state and accounts", () => {
    it.effect("GET /state shows the issuer, the emulator clock, the settings, the accounts and the replies", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const before = Date.now()
        const state = yield* decodeBody(State, yield* get(`${emulator.urls.adminUrl}/state`))
        assert.strictEqual(state.issuer, emulator.urls.issuer)
        assert.isAtLeast(state.now, before)
        assert.isAtMost(state.now, Date.now())
        assert.deepStrictEqual(state.settings, yield* emulator.settings)
        assert.deepStrictEqual(state.accounts, yield* emulator.accounts)
        assert.deepStrictEqual(
          state.accounts.map((account) => account.id),
          [DEFAULT_ACCOUNT_ID]
        )
        assert.deepStrictEqual(state.replies, [])
      })
    )

    it.effect("POST /accounts adds an account (201) that can then sign in with emulator_account=<id>", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const reply = yield* postJson(`${emulator.urls.adminUrl}/accounts`, {
          id: "acct-admin",
          email: "admin-added@example.com",
          plan: "pro"
        })
        const account = yield* decodeBody(Account, reply, 201)
        assert.deepStrictEqual(account, {
          id: "acct-admin",
          email: "admin-added@example.com",
          plan: "pro",
          userId: account.userId,
          entitled: true
        })
        assert.match(account.userId, /^user-/)
        assert.deepStrictEqual(
          (yield* emulator.accounts).find((a) => a.id === "acct-admin"),
          account
        )
        const tokens = yield* signIn(emulator.urls.issuer, { emulator_account: "acct-admin" })
        const claims = yield* jwtClaims(IdTokenClaims, tokens.id_token)
        assert.strictEqual(claims.email, "admin-added@example.com")
        assert.deepStrictEqual(claims[AUTH_CLAIMS], {
          chatgpt_account_id: "acct-admin",
          chatgpt_plan_type: "pro",
          chatgpt_user_id: account.userId
        })
      })
    )

    it.effect("POST /accounts with an invalid body answers 400 naming the problem", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const noEmail = invalidAdminRequest(yield* postJson(`${urls.adminUrl}/accounts`, { plan: "pro" }))
        assert.strictEqual(noEmail, 'Invalid admin request: Missing key\n  at ["email"]')
        const badPlan = invalidAdminRequest(
          yield* postJson(`${urls.adminUrl}/accounts`, { email: "x@example.com", plan: "platinum" })
        )
        assert.include(badPlan, '"free" | "go" | "plus" | "pro"')
        assert.include(badPlan, 'at ["plan"]')
        const negativeBudget = invalidAdminRequest(
          yield* postJson(`${urls.adminUrl}/accounts`, {
            email: "x@example.com",
            budget: { primary: -1, secondary: 10 }
          })
        )
        assert.strictEqual(
          negativeBudget,
          'Invalid admin request: Expected a value greater than or equal to 0\n  at ["budget"]["primary"]'
        )
      })
    )

    it.effect("POST /accounts with the id of an existing account answers 409 and replaces nothing", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const before = yield* emulator.accounts
        const reply = yield* postJson(`${emulator.urls.adminUrl}/accounts`, {
          id: DEFAULT_ACCOUNT_ID,
          email: "impostor@example.com",
          plan: "free"
        })
        assertJson(reply, 409, {
          detail: `Account "${DEFAULT_ACCOUNT_ID}" already exists; change it with PATCH /__admin/accounts/${DEFAULT_ACCOUNT_ID}.`
        })
        assert.deepStrictEqual(yield* emulator.accounts, before)
        const error = yield* Effect.flip(emulator.addAccount({ id: DEFAULT_ACCOUNT_ID, email: "impostor@example.com" }))
        assert.instanceOf(error, AccountExists)
        assert.strictEqual(
          error.message,
          `The emulator already has an account "${DEFAULT_ACCOUNT_ID}": change it with Emulator.updateAccount.`
        )
        assert.deepStrictEqual(yield* emulator.accounts, before)
      })
    )

    it.effect("usage(account) and now answer in process what GET /accounts/:id/usage and GET /state answer", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        yield* emulator.advanceClock("2 hours")
        const usage = yield* emulator.usage(DEFAULT_ACCOUNT_ID)
        // A window not started yet resets a window's length from now: the two answers, read a moment
        // apart, may straddle a second.
        const reply = yield* get(`${emulator.urls.adminUrl}/accounts/${DEFAULT_ACCOUNT_ID}/usage`)
        const served = reply.body as typeof usage
        for (const window of ["primary", "secondary"] as const) {
          assert.isAtMost(Math.abs(served[window].reset_at - usage[window].reset_at), 1, window)
        }
        assertJson(reply, 200, {
          ...usage,
          primary: { ...usage.primary, reset_at: served.primary.reset_at },
          secondary: { ...usage.secondary, reset_at: served.secondary.reset_at }
        })
        assert.strictEqual(usage.plan_type, "plus")
        assert.deepStrictEqual(
          [usage.primary.used, usage.primary.budget, usage.secondary.used, usage.secondary.budget],
          [0, 100, 0, 1_000]
        )
        const now = DateTime.toEpochMillis(yield* emulator.now)
        const state = yield* decodeBody(State, yield* get(`${emulator.urls.adminUrl}/state`))
        assert.isAtLeast(now - Date.now(), 7_200_000 - 1_000)
        assert.isAtLeast(state.now, now)
        assert.isBelow(state.now - now, 1_000)
        const error = yield* Effect.flip(emulator.usage("nope"))
        assert.instanceOf(error, AccountNotFound)
      })
    )

    it.effect("PATCH /accounts/:id changes an account; the next tokens carry the new plan", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const reply = yield* sendJson("PATCH", `${emulator.urls.adminUrl}/accounts/${DEFAULT_ACCOUNT_ID}`, {
          plan: "team",
          email: "renamed@example.com"
        })
        const account = yield* decodeBody(Account, reply)
        assert.strictEqual(account.plan, "team")
        assert.strictEqual(account.email, "renamed@example.com")
        assert.deepStrictEqual(yield* emulator.accounts, [account])
        const tokens = yield* signIn(emulator.urls.issuer)
        const claims = yield* jwtClaims(AccessTokenClaims, tokens.access_token)
        assert.strictEqual(claims[AUTH_CLAIMS].chatgpt_plan_type, "team")
        assert.strictEqual(claims["https://api.openai.com/profile"].email, "renamed@example.com")
      })
    )

    it.effect("every route under /accounts/:id answers 404 for an unknown id, saying to add the account first", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const notFound = { detail: 'No account "nope"; add it first with POST /__admin/accounts.' }
        const base = `${urls.adminUrl}/accounts/nope`
        assertJson(yield* sendJson("PATCH", base, { plan: "pro" }), 404, notFound)
        assertJson(yield* postJson(`${base}/tokens`, {}), 404, notFound)
        assertJson(yield* postJson(`${base}/expire-tokens`, {}), 404, notFound)
        assertJson(yield* postJson(`${base}/revoke-tokens`, {}), 404, notFound)
        assertJson(yield* get(`${base}/usage`), 404, notFound)
      })
    )

    it.effect("in process, updateAccount on an unknown id fails with AccountNotFound saying what to do", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const error = yield* Effect.flip(emulator.updateAccount("nope", { plan: "pro" }))
        assert.strictEqual(error._tag, "AccountNotFound")
        assert.strictEqual(error.account, "nope")
        assert.strictEqual(error.message, 'The emulator has no account "nope": add it with Emulator.addAccount first.')
        for (const operation of [
          emulator.expireTokens("nope"),
          emulator.revokeTokens("nope"),
          emulator.issueTokens("nope")
        ]) {
          assert.strictEqual((yield* Effect.flip(operation))._tag, "AccountNotFound")
        }
      })
    )
  })

  describe("tokens", () => {
    it.effect("POST /accounts/:id/tokens signs an account in without a browser", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const reply = yield* postJson(`${emulator.urls.adminUrl}/accounts/${DEFAULT_ACCOUNT_ID}/tokens`, {})
        const tokens = yield* decodeBody(TokenBody, reply)
        const claims = yield* jwtClaims(AccessTokenClaims, tokens.access_token)
        assert.strictEqual(claims[AUTH_CLAIMS].chatgpt_account_id, DEFAULT_ACCOUNT_ID)
        assert.strictEqual((yield* accountsCheck(emulator.urls.chatgptBaseUrl, tokens.access_token)).status, 200)
        assert.strictEqual((yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)).status, 200)
      })
    )

    it.effect("POST /accounts/:id/expire-tokens: the backend answers 401 token_expired while refresh still works", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        const reply = yield* postJson(`${emulator.urls.adminUrl}/accounts/${DEFAULT_ACCOUNT_ID}/expire-tokens`, {})
        assertJson(reply, 200, { ok: true })
        assertJson(yield* accountsCheck(emulator.urls.chatgptBaseUrl, tokens.access_token), 401, errors.tokenExpired)
        // The unauthorized-recovery refresh of protocol §3 gets a token that works at once.
        const fresh = yield* decodeBody(TokenBody, yield* refreshJson(emulator.urls.issuer, tokens.refresh_token))
        assert.strictEqual((yield* accountsCheck(emulator.urls.chatgptBaseUrl, fresh.access_token)).status, 200)
      })
    )

    it.effect(
      "POST /accounts/:id/revoke-tokens: access tokens answer token_revoked, refresh tokens are invalidated",
      () =>
        Effect.gen(function* () {
          const emulator = yield* freshEmulator
          const tokens = yield* signIn(emulator.urls.issuer)
          const reply = yield* postJson(`${emulator.urls.adminUrl}/accounts/${DEFAULT_ACCOUNT_ID}/revoke-tokens`, {})
          assertJson(reply, 200, { ok: true })
          assertJson(yield* accountsCheck(emulator.urls.chatgptBaseUrl, tokens.access_token), 401, errors.tokenRevoked)
          assertJson(yield* refreshJson(emulator.urls.issuer, tokens.refresh_token), 401, errors.refreshInvalidated)
        })
    )
  })

  describe("settings, clock, faults, replies, device", () => {
    it.effect("POST /settings changes the settings the next sign-in uses and answers all settings", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const reply = yield* postJson(`${emulator.urls.adminUrl}/settings`, {
          accessTokenTtlSeconds: 420,
          revokeFamilyOnReuse: true
        })
        assertJson(reply, 200, yield* emulator.settings)
        const settings = yield* emulator.settings
        assert.strictEqual(settings.accessTokenTtlSeconds, 420)
        assert.isTrue(settings.revokeFamilyOnReuse)
        assert.strictEqual(settings.approval, "auto")
        const tokens = yield* signIn(emulator.urls.issuer)
        assert.strictEqual(tokens.expires_in, 420)
      })
    )

    it.effect("a token lifetime inside the 300 s refresh window is refused, unless allowShortTokenLifetime", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const before = yield* emulator.settings
        for (const ttl of [120, 300]) {
          const detail = invalidAdminRequest(
            yield* postJson(`${emulator.urls.adminUrl}/settings`, { accessTokenTtlSeconds: ttl })
          )
          assert.include(detail, `an access-token lifetime of ${ttl} s is inside the clients' 300 s refresh window`)
          assert.include(detail, "refresh in a loop")
        }
        const refused = yield* Effect.flip(emulator.updateSettings({ accessTokenTtlSeconds: 60 }))
        assert.strictEqual(refused._tag, "InvalidSettings")
        assert.include(refused.message, "allowShortTokenLifetime")
        assert.deepStrictEqual(yield* emulator.settings, before, "a refused change changes nothing")
        // The opt-in that tests of the refresh window itself use.
        const allowed = yield* emulator.updateSettings({ accessTokenTtlSeconds: 60, allowShortTokenLifetime: true })
        assert.strictEqual(allowed.accessTokenTtlSeconds, 60)
        assert.strictEqual((yield* signIn(emulator.urls.issuer)).expires_in, 60)
        // Taking the opt-in back while the lifetime is still short is refused too.
        const back = yield* Effect.flip(emulator.updateSettings({ allowShortTokenLifetime: false }))
        assert.strictEqual(back._tag, "InvalidSettings")
      })
    )

    it.effect("Emulator.layer refuses a short token lifetime in its options before listening", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          Layer.build(Emulator.layer({ settings: { accessTokenTtlSeconds: 200 } })).pipe(Effect.scoped)
        )
        assert.strictEqual(error._tag, "InvalidSettings")
      })
    )

    it.effect("POST /settings with an invalid value answers 400 naming the setting", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const before = yield* emulator.settings
        const detail = invalidAdminRequest(
          yield* postJson(`${emulator.urls.adminUrl}/settings`, { approval: "sometimes" })
        )
        assert.strictEqual(detail, 'Invalid admin request: Expected "auto" | "interactive"\n  at ["approval"]')
        assert.deepStrictEqual(yield* emulator.settings, before)
      })
    )

    it.effect("POST /clock/advance moves the emulator clock; access tokens then expire", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        const before = (yield* decodeBody(State, yield* get(`${emulator.urls.adminUrl}/state`))).now
        const advanced = yield* decodeBody(
          Schema.Struct({ now: Schema.Finite }),
          yield* postJson(`${emulator.urls.adminUrl}/clock/advance`, { seconds: 3_600, ms: 500 })
        )
        assert.isAtLeast(advanced.now - before, 3_600_500)
        assert.isBelow(advanced.now - before, 3_600_500 + 5_000)
        assertJson(yield* accountsCheck(emulator.urls.chatgptBaseUrl, tokens.access_token), 401, errors.tokenExpired)
        const badSeconds = invalidAdminRequest(
          yield* postJson(`${emulator.urls.adminUrl}/clock/advance`, { seconds: "an hour" })
        )
        assert.include(badSeconds, 'at ["seconds"]')
        const backwards = invalidAdminRequest(yield* postJson(`${emulator.urls.adminUrl}/clock/advance`, { ms: -1 }))
        assert.strictEqual(backwards, 'Invalid admin request: Expected a value greater than or equal to 0\n  at ["ms"]')
        // In process the clock only moves forward too: going back is a bug in the test, a defect.
        const exit = yield* Effect.exit(emulator.advanceClock(Duration.millis(-1)))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      })
    )

    it.effect("POST /faults injects a fault (201, echoing the rule) and DELETE /faults clears it", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        const rule = { kind: "refresh_reused", times: 5 }
        assertJson(yield* postJson(`${emulator.urls.adminUrl}/faults`, rule), 201, rule)
        assertJson(yield* refreshJson(emulator.urls.issuer, tokens.refresh_token), 401, errors.refreshReused)
        assertJson(yield* send(`${emulator.urls.adminUrl}/faults`, { method: "DELETE" }), 200, { ok: true })
        assert.strictEqual((yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)).status, 200)
        assert.strictEqual((yield* emulator.counters).faultsInjected, 1)
      })
    )

    it.effect("POST /faults with an invalid body answers 400 naming the problem and injects nothing", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const unknownKind = invalidAdminRequest(
          yield* postJson(`${emulator.urls.adminUrl}/faults`, { kind: "explode" })
        )
        assert.include(unknownKind, '"refresh_reused" | "refresh_expired"')
        assert.include(unknownKind, 'at ["kind"]')
        const badTimes = invalidAdminRequest(
          yield* postJson(`${emulator.urls.adminUrl}/faults`, { kind: "refresh_reused", times: "twice" })
        )
        assert.strictEqual(badTimes, 'Invalid admin request: Expected number | undefined\n  at ["times"]')
        const badRoute = invalidAdminRequest(
          yield* postJson(`${emulator.urls.adminUrl}/faults`, { kind: "server_error", route: "nowhere" })
        )
        assert.include(badRoute, 'at ["route"]')
        const notJson = yield* send(`${emulator.urls.adminUrl}/faults`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{kind:"
        })
        assertJson(notJson, 400, { detail: "Invalid admin request: We could not parse the JSON body of your request." })
        const tokens = yield* signIn(emulator.urls.issuer)
        assert.strictEqual((yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)).status, 200)
      })
    )

    it.effect("POST /faults refuses a kind the route cannot apply, listing what it accepts; so does injectFault", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const accepts = "unauthorized, usage_limit, rate_limit, server_error, bad_gateway, overloaded, slow_first_byte"
        assertJson(yield* postJson(`${emulator.urls.adminUrl}/faults`, { kind: "stream_cut", route: "models" }), 400, {
          detail: `Invalid admin request: route models cannot apply stream_cut; it accepts ${accepts}`
        })
        assertJson(yield* postJson(`${emulator.urls.adminUrl}/faults`, { kind: "unauthorized", route: "token" }), 400, {
          detail:
            "Invalid admin request: route token cannot apply unauthorized; it accepts rate_limit, server_error, bad_gateway, overloaded, slow_first_byte, refresh_reused, refresh_expired, refresh_invalidated, refresh_server_error"
        })
        // A refresh kind goes to the token route unless told otherwise.
        assert.strictEqual(
          (yield* postJson(`${emulator.urls.adminUrl}/faults`, { kind: "refresh_reused", route: "responses" })).status,
          400
        )
        const error = yield* Effect.flip(emulator.injectFault({ kind: "idle", route: "usage" }))
        assert.instanceOf(error, InvalidFault)
        assert.strictEqual(
          error.message,
          `The emulator cannot inject this idle fault: route usage cannot apply idle; it accepts ${accepts}`
        )
        // Nothing was injected: a refresh and a model call go through.
        const tokens = yield* signIn(emulator.urls.issuer)
        assert.strictEqual((yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)).status, 200)
        assert.strictEqual((yield* emulator.counters).faultsInjected, 0)
      })
    )

    it.effect.each([
      { field: "times", rule: { kind: "server_error", times: 0 }, expected: "greater than or equal to 1" },
      { field: "probability", rule: { kind: "server_error", probability: 1.5 }, expected: "between 0 and 1" },
      { field: "probability", rule: { kind: "server_error", probability: -0.1 }, expected: "between 0 and 1" },
      { field: "delayMs", rule: { kind: "slow_first_byte", delayMs: -5 }, expected: "greater than or equal to 0" },
      { field: "afterEvents", rule: { kind: "stream_cut", afterEvents: -1 }, expected: "greater than or equal to 0" },
      {
        field: "retryAfterSeconds",
        rule: { kind: "rate_limit", retryAfterSeconds: -1 },
        expected: "greater than or equal to 0"
      }
    ] as const)("POST /faults refuses $field out of range, and so does injectFault", ({ field, rule, expected }) =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const detail = invalidAdminRequest(yield* postJson(`${emulator.urls.adminUrl}/faults`, rule))
        assert.strictEqual(detail, `Invalid admin request: Expected a value ${expected}\n  at ["${field}"]`)
        const error = yield* Effect.flip(emulator.injectFault(rule))
        assert.instanceOf(error, InvalidFault)
        assert.include(error.message, `at ["${field}"]`)
      })
    )

    it.effect("PUT /replies replaces the scripted replies, as GET /state then shows", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const replies = [
          { match: "hello", text: "Hi from the emulator." },
          { match: "list files", toolCall: { name: "shell", arguments: '{"command":["ls"]}' } }
        ]
        assertJson(yield* sendJson("PUT", `${urls.adminUrl}/replies`, replies), 200, replies)
        assert.deepStrictEqual((yield* decodeBody(State, yield* get(`${urls.adminUrl}/state`))).replies, replies)
        assertJson(yield* sendJson("PUT", `${urls.adminUrl}/replies`, []), 200, [])
        const noMatch = invalidAdminRequest(yield* sendJson("PUT", `${urls.adminUrl}/replies`, [{ text: "no match" }]))
        assert.include(noMatch, 'at [0]["match"]')
      })
    )

    it.effect("POST /device/approve approves or denies a pending user code; an unknown code is 404", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const approved = yield* requestDeviceCode(urls.issuer)
        assertJson(yield* postJson(`${urls.adminUrl}/device/approve`, { user_code: approved.user_code }), 200, {
          ok: true
        })
        const grant = yield* decodeBody(DeviceGrant, yield* pollDevice(urls.issuer, approved))
        assert.match(grant.authorization_code, /^ac_[\w-]+$/)
        assert.strictEqual(grant.code_challenge, s256(grant.code_verifier))
        const tokens = yield* decodeBody(
          TokenBody,
          yield* exchangeCode(urls.issuer, {
            code: grant.authorization_code,
            verifier: grant.code_verifier,
            redirectUri: `${urls.issuer}/deviceauth/callback`
          })
        )
        const claims = yield* jwtClaims(AccessTokenClaims, tokens.access_token)
        assert.strictEqual(claims[AUTH_CLAIMS].chatgpt_account_id, DEFAULT_ACCOUNT_ID)

        const denied = yield* requestDeviceCode(urls.issuer)
        yield* postJson(`${urls.adminUrl}/device/approve`, { user_code: denied.user_code, deny: true })
        assertJson(yield* pollDevice(urls.issuer, denied), 400, {
          error: "access_denied",
          error_description: "The user denied the request."
        })

        assertJson(yield* postJson(`${urls.adminUrl}/device/approve`, { user_code: "ABCD-EFGH" }), 404, {
          detail: 'Device code "ABCD-EFGH" is unknown.'
        })
        assert.include(invalidAdminRequest(yield* postJson(`${urls.adminUrl}/device/approve`, {})), 'at ["user_code"]')
      })
    )

    it.effect("POST /device/approve for an unknown account answers 404 naming it; a decided code is unknown", () =>
      Effect.gen(function* () {
        const { urls } = yield* freshEmulator
        const device = yield* requestDeviceCode(urls.issuer)
        assertJson(
          yield* postJson(`${urls.adminUrl}/device/approve`, { user_code: device.user_code, account: "nope" }),
          404,
          {
            detail: 'No account "nope"; add it first with POST /__admin/accounts.'
          }
        )
        assertJson(yield* postJson(`${urls.adminUrl}/device/approve`, { user_code: device.user_code }), 200, {
          ok: true
        })
        assertJson(
          yield* postJson(`${urls.adminUrl}/device/approve`, { user_code: device.user_code, deny: true }),
          404,
          {
            detail: `Device code "${device.user_code}" is unknown.`
          }
        )
      })
    )
  })

  describe("counters, recorded requests, reset", () => {
    it.effect("GET /counters counts requests per route and per account, grants, refreshes and revokes", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const tokens = yield* signIn(emulator.urls.issuer)
        const fresh = yield* decodeBody(TokenBody, yield* refreshJson(emulator.urls.issuer, tokens.refresh_token))
        yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)
        yield* accountsCheck(emulator.urls.chatgptBaseUrl, fresh.access_token)
        yield* accountsCheck(emulator.urls.chatgptBaseUrl, "not-a-token")
        yield* postJson(`${emulator.urls.issuer}/oauth/revoke`, { token: fresh.refresh_token })

        const reply = yield* get(`${emulator.urls.adminUrl}/counters`)
        assertJson(reply, 200, {
          requests: {
            authorize: { total: 1, byAccount: {} },
            token: { total: 3, byAccount: { [DEFAULT_ACCOUNT_ID]: 3 } },
            accounts_check: { total: 2, byAccount: { [DEFAULT_ACCOUNT_ID]: 1 } },
            revoke: { total: 1, byAccount: {} }
          },
          grants: { authorization_code: 1, refresh_token: 1, token_exchange: 0 },
          refreshes: {
            succeeded: 1,
            rejected: 1,
            byReason: { reused: 1 },
            byRefreshReason: { unauthorized_recovery: 2 }
          },
          revokes: 1,
          faultsInjected: 0,
          streams: { completed: 0, aborted: 0 }
        })
        assert.deepStrictEqual(reply.body, yield* emulator.counters)
      })
    )

    it.effect("GET /requests/:route returns the last request of that route, with its body and headers", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        yield* signIn(emulator.urls.issuer)
        const reply = yield* get(`${emulator.urls.adminUrl}/requests/token`)
        const last = yield* decodeBody(
          Schema.Struct({
            method: Schema.String,
            path: Schema.String,
            query: Schema.Record(Schema.String, Schema.String),
            headers: Schema.Record(Schema.String, Schema.String),
            body: Schema.Record(Schema.String, Schema.String)
          }),
          reply
        )
        assert.strictEqual(last.method, "POST")
        assert.strictEqual(last.path, "/oauth/token")
        assert.deepStrictEqual(last.query, {})
        assert.strictEqual(last.headers["content-type"], "application/x-www-form-urlencoded")
        assert.deepStrictEqual(Object.keys(last.body).toSorted(), [
          "client_id",
          "code",
          "code_verifier",
          "grant_type",
          "redirect_uri"
        ])
        assert.strictEqual(last.body.grant_type, "authorization_code")
        assert.strictEqual(last.body.client_id, CLIENT_ID)
        assert.deepStrictEqual(reply.body, Option.getOrUndefined(yield* emulator.lastRequest("token")))

        const authorize = yield* get(`${emulator.urls.adminUrl}/requests/authorize`)
        assert.strictEqual(authorize.status, 200)
        assert.strictEqual((authorize.body as { query: Record<string, string> }).query.client_id, CLIENT_ID)
      })
    )

    it.effect("GET /requests/:route answers 404 before the first request and 400 for an unknown route name", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        assertJson(yield* get(`${emulator.urls.adminUrl}/requests/revoke`), 404, {
          detail: "No revoke request has been received yet."
        })
        assert.isTrue(Option.isNone(yield* emulator.lastRequest("revoke")))
        const detail = invalidAdminRequest(yield* get(`${emulator.urls.adminUrl}/requests/nowhere`))
        assert.strictEqual(
          detail,
          'Invalid admin request: Expected "authorize" | "token" | "revoke" | "usercode" | "device_token" | "accounts_check" | "usage" | "models" | "responses" | "responses_websocket"'
        )
      })
    )

    it.effect("POST /reset puts counters back to zero, accounts, settings and clock back to the defaults", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const defaults = { accounts: yield* emulator.accounts, settings: yield* emulator.settings }
        yield* postJson(`${emulator.urls.adminUrl}/accounts`, { id: "temporary", email: "temp@example.com" })
        yield* postJson(`${emulator.urls.adminUrl}/settings`, { approval: "interactive" })
        yield* postJson(`${emulator.urls.adminUrl}/clock/advance`, { seconds: 86_400 })
        yield* postJson(`${emulator.urls.adminUrl}/faults`, { kind: "refresh_expired", probability: 1 })
        yield* postJson(`${emulator.urls.issuer}/oauth/revoke`, { token: "anything" })

        assertJson(yield* postJson(`${emulator.urls.adminUrl}/reset`, {}), 200, { ok: true })

        assertJson(yield* get(`${emulator.urls.adminUrl}/counters`), 200, {
          requests: {},
          grants: { authorization_code: 0, refresh_token: 0, token_exchange: 0 },
          refreshes: { succeeded: 0, rejected: 0, byReason: {}, byRefreshReason: {} },
          revokes: 0,
          faultsInjected: 0,
          streams: { completed: 0, aborted: 0 }
        })
        const state = yield* decodeBody(State, yield* get(`${emulator.urls.adminUrl}/state`))
        assert.deepStrictEqual(state.accounts, defaults.accounts)
        assert.deepStrictEqual(state.settings, defaults.settings)
        assert.isBelow(Math.abs(state.now - Date.now()), 5_000)
        // The fault is gone too: sign-in auto-approves again and a refresh succeeds.
        const tokens = yield* signIn(emulator.urls.issuer)
        assert.strictEqual((yield* refreshJson(emulator.urls.issuer, tokens.refresh_token)).status, 200)
      })
    )

    it.effect("tokens minted before a reset are rejected after it: the signing key is new", () =>
      Effect.gen(function* () {
        const emulator = yield* freshEmulator
        const before = yield* signIn(emulator.urls.issuer)
        assert.strictEqual((yield* accountsCheck(emulator.urls.chatgptBaseUrl, before.access_token)).status, 200)
        yield* emulator.reset
        assertJson(yield* accountsCheck(emulator.urls.chatgptBaseUrl, before.access_token), 401, {
          error: {
            code: "invalid_token",
            message: "Could not parse your authentication token. Please try signing in again.",
            type: "invalid_request_error",
            param: null
          }
        })
        assertJson(yield* refreshJson(emulator.urls.issuer, before.refresh_token), 401, errors.refreshInvalidated)
        const exchange = yield* postJson(`${emulator.urls.issuer}/oauth/token`, {
          grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
          client_id: CLIENT_ID,
          requested_token: "openai-api-key",
          subject_token: before.id_token,
          subject_token_type: "urn:ietf:params:oauth:token-type:id_token"
        })
        assertJson(exchange, 400, {
          error: "invalid_grant",
          error_description: "subject_token is not a valid id_token."
        })
        const after = yield* signIn(emulator.urls.issuer)
        assert.strictEqual((yield* accountsCheck(emulator.urls.chatgptBaseUrl, after.access_token)).status, 200)
      })
    )
  })
})

// Emulator.layer itself: the options it is built from survive a reset, and it listens on loopback
// only (its admin API mints tokens and returns recorded secrets).
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { Emulator, NonLoopbackHost } from "../src/Emulator.ts"
import { AccessTokenClaims, AUTH_CLAIMS, get, jwtClaims, signIn } from "./oauthHelpers.ts"

describe("Emulator.layer with accounts given without ids", () => {
  it.effect("they get random ids (and user ids) once: reset keeps them, and the first is the login account", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator
      const accounts = yield* emulator.accounts
      assert.deepStrictEqual(
        accounts.map((account) => account.email),
        ["first@example.com", "second@example.com"]
      )
      assert.notStrictEqual(accounts[0]!.id, accounts[1]!.id)
      assert.strictEqual((yield* emulator.settings).loginAccount, accounts[0]!.id)
      yield* emulator.reset
      assert.deepStrictEqual(yield* emulator.accounts, accounts)
      assert.strictEqual((yield* emulator.settings).loginAccount, accounts[0]!.id)
      const tokens = yield* signIn(emulator.urls.issuer, { emulator_account: accounts[1]!.id })
      const claims = yield* jwtClaims(AccessTokenClaims, tokens.access_token)
      assert.strictEqual(claims[AUTH_CLAIMS].chatgpt_account_id, accounts[1]!.id)
    }).pipe(
      Effect.provide(
        Emulator.layer({ accounts: [{ email: "first@example.com" }, { email: "second@example.com", plan: "pro" }] })
      )
    )
  )
})

describe("Emulator.layer on a host", () => {
  it.effect.each(["0.0.0.0", "192.168.1.10", "::", "example.com"])(
    "refuses to listen on the non-loopback host %s",
    (host) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(Emulator.layer({ host }))))
        assert.instanceOf(error, NonLoopbackHost)
        assert.strictEqual(
          error.message,
          `The emulator listens on loopback only (127.0.0.0/8, ::1 or localhost), not ${host}: its admin API mints tokens and returns recorded secrets.`
        )
      })
  )

  it.effect.each(["127.0.0.2", "localhost", "::1"])("listens on the loopback host %s", (host) =>
    Effect.scoped(
      Effect.gen(function* () {
        const context = yield* Layer.build(Emulator.layer({ host }))
        const { urls } = Context.get(context, Emulator)
        assert.strictEqual((yield* get(`${urls.adminUrl}/state`)).status, 200)
      })
    )
  )
})

import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { Duration, Effect, Option } from "effect"
import type { DeviceCodePrompt } from "../src/OAuthClient.ts"
import { OAuthClient } from "../src/OAuthClient.ts"
import { freePort, layer as oauthLayer } from "./helpers.ts"

const redirectUri = `http://localhost:${await freePort()}/auth/callback`

layer(
  oauthLayer({
    redirectUri,
    emulator: { settings: { deviceIntervalSeconds: 0.05 } },
    client: { minimumPollInterval: Duration.millis(10) }
  }),
  { excludeTestServices: true }
)("device-code sign-in", (it) => {
  const fresh = Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    yield* emulator.reset
    yield* emulator.updateSettings({ deviceIntervalSeconds: 0.05 })
    return emulator
  })

  /** Decides the code shown to the user after the client has polled a few times. */
  const decideLater =
    (emulator: Emulator.Emulator["Service"], prompts: Array<DeviceCodePrompt>, deny = false) =>
    (prompt: DeviceCodePrompt) =>
      Effect.gen(function* () {
        prompts.push(prompt)
        yield* Effect.forkDetach(
          Effect.sleep("250 millis").pipe(
            Effect.andThen(Effect.ignore(emulator.approveDevice(prompt.userCode, { deny })))
          )
        )
      })

  it.effect("pending, then approved: the client polls at the server's interval and signs in", () =>
    Effect.gen(function* () {
      const emulator = yield* fresh
      const client = yield* OAuthClient
      const prompts: Array<DeviceCodePrompt> = []
      const tokens = yield* client.loginWithDeviceCode({ onCode: decideLater(emulator, prompts) })
      const [account] = yield* emulator.accounts
      assert.strictEqual(tokens.accountId, account!.id)
      assert.lengthOf(prompts, 1)
      assert.strictEqual(prompts[0]!.verificationUrl, `${emulator.urls.issuer}/codex/device`)
      assert.match(prompts[0]!.userCode, /^[A-Z0-9]{4}-[A-Z0-9]{4}$/)
      const counters = yield* emulator.counters
      // 250 ms of pending answers at a 50 ms interval: several polls, not a busy loop.
      assert.isAtLeast(counters.requests.device_token!.total, 3)
      assert.isAtMost(counters.requests.device_token!.total, 12)
      const exchange = Option.getOrThrow(yield* emulator.lastRequest("token"))
      assert.strictEqual(
        (exchange.body as Record<string, string>).redirect_uri,
        `${emulator.urls.issuer}/deviceauth/callback`
      )
      const usercode = Option.getOrThrow(yield* emulator.lastRequest("usercode"))
      assert.deepStrictEqual(usercode.body, { client_id: "app_EMoamEEZ73f0CkXaXp7hrann" })
    })
  )

  it.effect("a denied code fails with DeviceCodeError denied", () =>
    Effect.gen(function* () {
      const emulator = yield* fresh
      const client = yield* OAuthClient
      const error = yield* Effect.flip(client.loginWithDeviceCode({ onCode: decideLater(emulator, [], true) }))
      assert.strictEqual(error._tag, "DeviceCodeError")
      assert.strictEqual(error._tag === "DeviceCodeError" && error.reason, "denied")
      assert.include(error.message, "nexus login --device")
    })
  )

  it.effect("a code that expires unapproved fails with DeviceCodeError expired", () =>
    Effect.gen(function* () {
      const emulator = yield* fresh
      const client = yield* OAuthClient
      const error = yield* Effect.flip(
        client.loginWithDeviceCode({ onCode: () => Effect.asVoid(emulator.advanceClock("16 minutes")) })
      )
      assert.strictEqual(error._tag === "DeviceCodeError" && error.reason, "expired")
    })
  )

  it.effect("a workspace without device code gets the not-enabled hint on the first call", () =>
    Effect.gen(function* () {
      const emulator = yield* fresh
      yield* emulator.updateSettings({ deviceCodeEnabled: false })
      const client = yield* OAuthClient
      const error = yield* Effect.flip(client.loginWithDeviceCode({ onCode: () => Effect.void }))
      assert.strictEqual(error._tag === "DeviceCodeError" && error.reason, "not_enabled")
      assert.include(error.message, "Device code sign-in is not enabled for this account or workspace")
    })
  )

  it.effect("nobody approving within the limit fails with OAuthTimeout", () =>
    Effect.gen(function* () {
      yield* fresh
      const client = yield* OAuthClient
      const error = yield* Effect.flip(client.loginWithDeviceCode({ onCode: () => Effect.void, timeout: "300 millis" }))
      assert.strictEqual(error._tag, "OAuthTimeout")
      assert.strictEqual(error._tag === "OAuthTimeout" && error.flow, "device")
    })
  )
})

layer(oauthLayer({ redirectUri, emulator: { settings: { deviceIntervalSeconds: 0 } } }), { excludeTestServices: true })(
  "device-code polling floor",
  (it) => {
    it.effect("an interval of 0 s is polled at the 1 s floor, not in a busy loop", () =>
      Effect.gen(function* () {
        const emulator = yield* Emulator.Emulator
        const client = yield* OAuthClient
        yield* client.loginWithDeviceCode({
          onCode: (prompt) =>
            Effect.asVoid(
              Effect.forkDetach(
                Effect.sleep("1500 millis").pipe(Effect.andThen(emulator.approveDevice(prompt.userCode)))
              )
            )
        })
        // Polls at 0 s, 1 s and 2 s (approved at 1.5 s): three, where a busy loop would make hundreds.
        assert.strictEqual((yield* emulator.counters).requests.device_token!.total, 3)
      })
    )
  }
)

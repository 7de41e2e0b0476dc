import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { Duration, Effect, Option, type Scope } from "effect"
import type { DeviceCodePrompt } from "../src/OAuthClient.ts"
import { OAuthClient } from "../src/OAuthClient.ts"
import { freePort, layer as oauthLayer, type SentRequest, untilCounted } from "./helpers.ts"

const redirectUri = `http://localhost:${await freePort()}/auth/callback`

/** Every request the clients of this file send, with when it went out. */
const sent: Array<SentRequest> = []

/** When the client sent each device-code poll since the log was last cleared (ms). */
const pollTimes = () => sent.filter((request) => request.url.endsWith("/deviceauth/token")).map((request) => request.at)

/** The pauses between consecutive polls (ms). */
const gapsBetween = (times: ReadonlyArray<number>) => times.slice(1).map((at, i) => at - times[i]!)

/**
 * How much earlier than its duration a timer may fire as `performance.now()` sees it: Node's timers
 * count whole milliseconds. A pause shorter than the interval by more than this was not a pause.
 */
const TIMER_SLACK_MS = 2

/**
 * Approves (or denies) the code shown to the user once the emulator has counted `polls` polls: the
 * client has then met pending answers, however slowly the machine runs. The decision runs in the
 * test's scope, so that it ends with the test if the polls never come.
 */
const decideAfter =
  (
    emulator: Emulator.Emulator["Service"],
    scope: Scope.Scope,
    options: { readonly polls: number; readonly prompts?: Array<DeviceCodePrompt>; readonly deny?: boolean }
  ) =>
  (prompt: DeviceCodePrompt) =>
    Effect.gen(function* () {
      options.prompts?.push(prompt)
      yield* Effect.forkIn(
        untilCounted(emulator, "device_token", options.polls).pipe(
          Effect.andThen(Effect.ignore(emulator.approveDevice(prompt.userCode, { deny: options.deny })))
        ),
        scope
      )
    })

layer(
  oauthLayer({
    redirectUri,
    emulator: { settings: { deviceIntervalSeconds: 0.05 } },
    client: { minimumPollInterval: Duration.millis(10) },
    sent
  }),
  { excludeTestServices: true }
)("device-code sign-in", (it) => {
  const fresh = Effect.gen(function* () {
    const emulator = yield* Emulator.Emulator
    yield* emulator.reset
    yield* emulator.updateSettings({ deviceIntervalSeconds: 0.05 })
    sent.length = 0
    return emulator
  })

  it.effect("pending, then approved: the client polls at the server's interval and signs in", () =>
    Effect.gen(function* () {
      const emulator = yield* fresh
      const client = yield* OAuthClient
      const prompts: Array<DeviceCodePrompt> = []
      const tokens = yield* client.loginWithDeviceCode({
        onCode: decideAfter(emulator, yield* Effect.scope, { polls: 3, prompts })
      })
      const [account] = yield* emulator.accounts
      assert.strictEqual(tokens.accountId, account!.id)
      assert.lengthOf(prompts, 1)
      assert.strictEqual(prompts[0]!.verificationUrl, `${emulator.urls.issuer}/codex/device`)
      assert.match(prompts[0]!.userCode, /^[A-Z0-9]{4}-[A-Z0-9]{4}$/)
      // Approved once three polls were counted: the third or the fourth poll took the approval.
      const polls = pollTimes()
      assert.strictEqual((yield* emulator.counters).requests.device_token!.total, polls.length)
      assert.oneOf(polls.length, [3, 4])
      // Each poll waits the server's 50 ms after the one before, never less: a busy loop, or the
      // client's 10 ms floor instead of the server's interval, would poll sooner. (A slow machine
      // only makes the pauses longer.)
      for (const gap of gapsBetween(polls)) assert.isAtLeast(gap, 50 - TIMER_SLACK_MS, `polls ${polls.join(", ")}`)
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
      const error = yield* Effect.flip(
        client.loginWithDeviceCode({ onCode: decideAfter(emulator, yield* Effect.scope, { polls: 2, deny: true }) })
      )
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

layer(oauthLayer({ redirectUri, emulator: { settings: { deviceIntervalSeconds: 0 } }, sent }), {
  excludeTestServices: true
})("device-code polling floor", (it) => {
  it.effect("an interval of 0 s is polled at the 1 s floor, not in a busy loop", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      const client = yield* OAuthClient
      sent.length = 0
      yield* client.loginWithDeviceCode({ onCode: decideAfter(emulator, yield* Effect.scope, { polls: 2 }) })
      // Approved once two polls were counted: the second or the third poll took the approval.
      const polls = pollTimes()
      assert.strictEqual((yield* emulator.counters).requests.device_token!.total, polls.length)
      assert.oneOf(polls.length, [2, 3])
      // A second at least between polls, where a busy loop would poll again within milliseconds.
      for (const gap of gapsBetween(polls)) assert.isAtLeast(gap, 1000 - TIMER_SLACK_MS, `polls ${polls.join(", ")}`)
    })
  )
})

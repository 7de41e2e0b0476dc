// Emulator.layer(options) provides Emulator and needs nothing: it listens on 127.0.0.1 (a free port)
// for the life of the layer, and fails with NonLoopbackHost or InvalidSettings when it refuses them.
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { Effect } from "effect"

const EmulatorLive = Emulator.Emulator.layer({ accounts: [{ id: "acme-pro", email: "dev@acme.test", plan: "pro" }] })

layer(EmulatorLive)("my client", (it) => {
  it.effect("is told when the usage limit is reached", () =>
    Effect.gen(function* () {
      const emulator = yield* Emulator.Emulator
      const tokens = yield* emulator.issueTokens("acme-pro") // a sign-in without a browser
      yield* emulator.injectFault({ kind: "usage_limit", route: "models", account: "acme-pro", times: 1 })
      const response = yield* Effect.promise(() =>
        fetch(`${emulator.urls.codexBaseUrl}/models?client_version=0.169.0`, {
          headers: { authorization: `Bearer ${tokens.access_token}`, "chatgpt-account-id": "acme-pro" }
        })
      )
      assert.strictEqual(response.status, 429)
      assert.strictEqual((yield* emulator.counters).faultsInjected, 1)
    })
  )
})

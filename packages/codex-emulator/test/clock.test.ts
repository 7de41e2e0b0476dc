import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Emulator } from "../src/Emulator.ts"
import { assertCompleted, freshSession, postResponses, turn } from "./backendHelpers.ts"

// No excludeTestServices here: the test runs on a TestClock, the emulator must not.
layer(Emulator.layer())("an emulator inside a test that runs on a TestClock", (it) => {
  it.effect("still waits in real time: slow_first_byte and idle with a delay complete", () =>
    Effect.gen(function* () {
      const session = yield* freshSession
      yield* session.emulator.injectFault({ kind: "slow_first_byte", delayMs: 150 })
      const slow = yield* postResponses(session, turn("hi"))
      assertCompleted(slow)
      assert.isAtLeast(slow.headersMs, 140)
      yield* session.emulator.injectFault({ kind: "idle", afterEvents: 2, delayMs: 150 })
      const started = performance.now()
      assertCompleted(yield* postResponses(session, turn("hi again")))
      assert.isAtLeast(performance.now() - started, 140)
    })
  )
})

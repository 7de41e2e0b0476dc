// The routed effect/ai LanguageModel against the emulator (two accounts) and a real database.
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@nexus/codex-emulator"
import { Effect, Stream } from "effect"
import { LanguageModel, type Response } from "effect/ai"
import { AccountPool } from "../src/AccountPool.ts"
import * as RoutedLanguageModel from "../src/RoutedLanguageModel.ts"
import { Router } from "../src/Router.ts"
import { freshPool, Infrastructure, routerStack, signIn } from "./helpers.ts"

const simple: RoutedLanguageModel.Config = { taskType: "chat", complexity: "simple" }

/** Signs in accounts `a` and `b` (ids in that order: ties in headroom go to `a`), and nobody else. */
const twoAccounts = Effect.gen(function* () {
  yield* freshPool
  const run = Math.random().toString(36).slice(2, 8)
  const a = yield* signIn(`a-${run}`, "plus")
  const b = yield* signIn(`b-${run}`, "pro")
  yield* (yield* AccountPool).refresh
  return { a, b }
})

/** The response metadata of a response's parts, and the route it carries. */
const metadataOf = (parts: ReadonlyArray<Response.AnyPart>) => {
  const part = parts.find((p): p is Response.ResponseMetadataPart => p.type === "response-metadata")
  const codex = part?.metadata.codex as
    | { account: string; attempts: number; skipped: ReadonlyArray<{ reason: string; account?: string }> }
    | undefined
  return { modelId: part?.modelId, id: part?.id, codex }
}

const routed =
  (config: RoutedLanguageModel.Config = simple) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.provide(effect, RoutedLanguageModel.layer(config))

layer(Infrastructure, { excludeTestServices: true, timeout: 120_000 })("RoutedLanguageModel", (outer) => {
  outer.layer(routerStack(), { timeout: 120_000 })("against the emulator", (it) => {
    it.effect("generateText and streamText are routed, and report the model that served them", () =>
      Effect.gen(function* () {
        const { a } = yield* twoAccounts
        const planned = (yield* (yield* Router).plan({ taskType: "chat", complexity: "simple" })).attempts[0]
        const generated = yield* LanguageModel.generateText({ prompt: "route me" }).pipe(routed())
        assert.strictEqual(generated.text, "route me")
        assert.strictEqual(generated.finishReason, "stop")
        const meta = metadataOf(generated.content)
        assert.strictEqual(meta.modelId, planned.model)
        assert.isTrue(meta.id?.startsWith("resp_"))
        assert.strictEqual(meta.codex?.account, a.label)
        assert.strictEqual(meta.codex?.attempts, 1)

        const parts = yield* Stream.runCollect(LanguageModel.streamText({ prompt: "stream me too" })).pipe(routed())
        assert.strictEqual(parts[0]?.type, "response-metadata")
        assert.strictEqual(metadataOf(parts).modelId, planned.model)
        const deltas = parts.flatMap((part) => (part.type === "text-delta" ? [part.delta] : []))
        assert.isAtLeast(deltas.length, 2)
        assert.strictEqual(deltas.join(""), "stream me too")
        assert.strictEqual(parts.at(-1)?.type, "finish")
      })
    )

    it.effect("a usage limit on the first account moves the call to the other, as the metadata says", () =>
      Effect.gen(function* () {
        const { a, b } = yield* twoAccounts
        const emulator = yield* Emulator.Emulator
        yield* emulator.injectFault({ kind: "usage_limit", account: a.id, times: 1 })
        const response = yield* LanguageModel.generateText({ prompt: "move me" }).pipe(routed())
        assert.strictEqual(response.text, "move me")
        const { codex } = metadataOf(response.content)
        assert.strictEqual(codex?.account, b.label)
        assert.strictEqual(codex?.attempts, 2)
        assert.deepStrictEqual(
          codex?.skipped.filter((skip) => skip.account === a.label).map((skip) => skip.reason),
          ["usage_limit"]
        )
      })
    )

    it.effect("every account at its usage limit is a QuotaExhaustedError with the earliest reset", () =>
      Effect.gen(function* () {
        const { a, b } = yield* twoAccounts
        const emulator = yield* Emulator.Emulator
        for (const account of [a, b]) yield* emulator.injectFault({ kind: "usage_limit", account: account.id })
        const error = yield* Effect.flip(
          Stream.runCollect(LanguageModel.streamText({ prompt: "nobody left" })).pipe(routed())
        )
        assert.strictEqual(error.module, "RoutedLanguageModel")
        assert.strictEqual(error.method, "streamText")
        assert.strictEqual(error.reason._tag, "QuotaExhaustedError")
        if (error.reason._tag !== "QuotaExhaustedError") return
        assert.isAbove(error.reason.resetAt?.epochMilliseconds ?? 0, Date.now())
        assert.include((error.reason.metadata.codex as { message: string }).message, "usage_limit")
      })
    )

    it.effect("withConfigOverride pins one call to another account", () =>
      Effect.gen(function* () {
        const { b } = yield* twoAccounts
        const response = yield* LanguageModel.generateText({ prompt: "pinned" }).pipe(
          RoutedLanguageModel.withConfigOverride({ account: b.label }),
          routed()
        )
        assert.strictEqual(metadataOf(response.content).codex?.account, b.label)
      })
    )
  })
})
